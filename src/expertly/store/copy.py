"""Copying an index from one store to another without embedding anything again.

``expertly migrate --to postgresql://...`` moves a workspace's SQLite index to PostgreSQL
this way; the copy only uses the store protocols, so it works between any two backends.
Each document is read back whole (its text, metadata with the access-control fields,
content hash, chunks with their spans, and the stored vectors) and written with the
target's ``upsert``, one transaction per document, so an interrupted copy leaves whole
documents and can be run again (documents already copied with the same content hash are
skipped). The target must be built for the same embedder (name and dimension). The copy
is then checked: the same document ids and content hashes, the same chunk count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from expertly.errors import StoreError
from expertly.store import StoreBackend
from expertly.types import Document

__all__ = ["CopyReport", "copy_index"]


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_index`` did: documents and chunks written, skipped, found in the end."""

    copied: int
    skipped: int
    chunks: int
    documents_total: int
    chunks_total: int
    seconds: float


def copy_index(
    source: StoreBackend,
    target: StoreBackend,
    *,
    meta_keys: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> CopyReport:
    """Copy every document of ``source`` into ``target``, then check the copy.

    Args:
        source: the index to read (it is not changed).
        target: the index to write; documents it holds that ``source`` lacks are refused
            (the copy would not be one), those with the same content hash are skipped.
        meta_keys: notes of ``source``'s meta table to copy too (ingest's chunking record).
        progress: called with (documents done, documents in all) after each document.

    Raises ``StoreError`` when the two were built with different embedders, the target
    holds other documents, or the check after the copy finds a difference.
    """
    started = time.perf_counter()
    wanted, have = source.stats(), target.stats()
    if (wanted["embedder"], wanted["dim"]) != (have["embedder"], have["dim"]):
        raise StoreError(
            f"The source index was built with '{wanted['embedder']}' (dim {wanted['dim']}), "
            f"the target with '{have['embedder']}' (dim {have['dim']}): copy into a new, "
            "empty target."
        )
    source_hashes, target_hashes = source.hashes(), target.hashes()
    foreign = sorted(set(target_hashes) - set(source_hashes))
    if foreign:
        raise StoreError(
            f"The target already holds {len(foreign)} document(s) the source does not "
            f"(e.g. {foreign[0]!r}): copy into an empty target (another store.schema)."
        )
    copied = skipped = chunks_written = 0
    infos = list(source.documents())
    for done, info in enumerate(infos, start=1):
        if target_hashes.get(info.id) == info.content_hash:
            skipped += 1
        else:
            text = source.document_text(info.id)
            if text is None:  # removed from the source meanwhile
                continue
            chunks = source.chunks(info.id)
            found = source.vectors([c.id for c in chunks])
            missing = [c.id for c in chunks if c.id not in found]
            if missing:
                raise StoreError(
                    f"The source index has no vector for chunk {missing[0]!r}; it is "
                    "damaged: rebuild it with `expertly ingest DIR --rebuild`."
                )
            vectors = np.stack([found[c.id] for c in chunks]) if chunks else None
            doc = Document(
                id=info.id, text=text, source=info.source, title=info.title,
                format=info.format, content_hash=info.content_hash, metadata=info.metadata,
            )  # fmt: skip
            dim = int(wanted["dim"])
            target.upsert(
                doc, chunks, np.zeros((0, dim), np.float32) if vectors is None else vectors
            )
            copied += 1
            chunks_written += len(chunks)
        if progress is not None:
            progress(done, len(infos))
    for key in meta_keys:
        value = source.get_meta(key)
        if value is not None:
            target.set_meta(key, value)
    _check(source, target)
    final = target.stats()
    return CopyReport(
        copied=copied,
        skipped=skipped,
        chunks=chunks_written,
        documents_total=int(final["documents"]),
        chunks_total=int(final["chunks"]),
        seconds=time.perf_counter() - started,
    )


def _check(source: StoreBackend, target: StoreBackend) -> None:
    """The same documents with the same hashes and as many chunks; else StoreError."""
    wanted, got = source.hashes(), target.hashes()
    if wanted != got:
        differ = sorted(set(wanted) ^ set(got) | {d for d in wanted if got.get(d) != wanted[d]})
        raise StoreError(
            f"The copy differs from the source in {len(differ)} document(s) (e.g. "
            f"{differ[0]!r}); the source changed during the copy? Run it again."
        )
    counts = (int(source.stats()["chunks"]), int(target.stats()["chunks"]))
    if counts[0] != counts[1]:
        raise StoreError(
            f"The copy holds {counts[1]} chunks, the source {counts[0]}; run it again."
        )
