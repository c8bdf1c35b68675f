"""Incremental, resumable ingest: files → documents → chunks → vectors → store.

* **Incremental** by content hash: a file whose bytes did not change costs one hash and
  nothing else; a changed file is re-chunked and re-indexed; ``sync`` removes documents whose
  files are gone; ``reindex`` redoes everything.
* **Atomic per document**: each document's chunks and vectors are written in one store
  transaction, so a crash (even ``kill -9``) leaves every document either fully old or fully
  new; re-running the same command finishes the job.
* **Fault-tolerant**: a file that cannot be loaded is reported with its reason and skipped;
  the rest of the batch is ingested.
* **Fast**: chunks of several documents are embedded in one batch (the model is the cost).

This module depends on the store and embedder protocols only (type-level imports).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from expertly.config import ChunkingSettings, IngestSettings
from expertly.errors import LoadError
from expertly.ingest.chunking import Chunker
from expertly.ingest.loaders import load_bytes, read_file
from expertly.types import Chunk, Document

if TYPE_CHECKING:
    from expertly.embed import Embedder
    from expertly.store import Store

Status = Literal["added", "updated", "unchanged", "failed", "removed"]
CHUNKING_META_KEY = "chunking"
EMBED_PREFIX_CHARS = 120


@dataclass(frozen=True)
class FileResult:
    """What happened to one file (or removed document)."""

    doc_id: str
    path: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """Summary of one ingest run; ``to_dict`` is the ``--json`` output."""

    results: list[FileResult] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_written: int = 0
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        counts = {s: self.count(s) for s in ("added", "updated", "unchanged", "removed", "failed")}
        return {
            **counts,
            "chunks_written": self.chunks_written,
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
            "failures": [{"path": r.path, "reason": r.reason} for r in self.failed],
            "files": [asdict(r) for r in self.results],
        }


def _matches(rel: str, patterns: Iterable[str]) -> bool:
    # "**/x" must also match "x" at the top level.
    return any(
        fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(rel, p[3:]))
        for p in patterns
    )


def discover(root: Path, include: Sequence[str], exclude: Sequence[str]) -> list[tuple[Path, str]]:
    """(path, doc_id) of every file under ``root`` matching the globs, sorted; doc ids are
    paths relative to ``root`` with forward slashes (a single file's id is its name)."""
    if root.is_file():
        return [(root, root.name)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if _matches(rel, include) and not _matches(rel, exclude):
                found.append((path, rel))
    return found


def embed_text(chunk: Chunk, title: str) -> str:
    """The text that is embedded for a chunk: title and heading path give it context.

    The prefix is capped at ``EMBED_PREFIX_CHARS`` so that it cannot push the chunk's own
    text past the embedder's input limit (chunks are sized for the text alone).
    """
    head = [title] if title else []
    head += [h for h in chunk.heading_path if h != title]
    prefix = " > ".join(head)[:EMBED_PREFIX_CHARS]
    return f"{prefix}\n{chunk.text}" if prefix else chunk.text


class Ingestor:
    """Indexes files into a store. One instance per run; not thread-safe."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        chunker: Chunker,
        settings: IngestSettings,
        chunking: ChunkingSettings,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.settings = settings
        self.chunking_signature = json.dumps(asdict(chunking), sort_keys=True)

    def ingest(
        self,
        roots: Sequence[Path],
        *,
        sync: bool = False,
        reindex: bool = False,
        metadata: Mapping[str, Any] | None = None,
        progress: Callable[[FileResult], None] | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Index every matching file under ``roots``; see the module docstring."""
        started = time.perf_counter()
        report = IngestReport()
        notify = progress or (lambda _r: None)
        files: list[tuple[Path, str]] = []
        for root in roots:
            if not root.exists():
                raise LoadError(str(root), "no such file or folder")
            files.extend(discover(root.resolve(), self.settings.include, self.settings.exclude))
        if on_total:
            on_total(len(files))

        stored_chunking = self._get_meta(CHUNKING_META_KEY)
        if stored_chunking is not None and stored_chunking != self.chunking_signature:
            reindex = True  # chunk settings changed: every document must be re-chunked
        known = self._hashes()

        def to_write() -> Iterator[tuple[Document, list[Chunk], Status]]:
            for path, doc_id in files:
                result, item = self._prepare(path, doc_id, known, reindex, metadata)
                if item is None:  # unchanged or failed: reported now, nothing to write
                    report.results.append(result)
                    notify(result)
                else:
                    yield item

        self._write(to_write(), report, notify)
        self._set_meta(CHUNKING_META_KEY, self.chunking_signature)

        if sync:
            present = {str(p) for p, _ in files}
            prefixes = [str(r.resolve()) for r in roots]
            for info in list(self.store.documents()):
                under = any(
                    info.source == p or info.source.startswith(p.rstrip(os.sep) + os.sep)
                    for p in prefixes
                )
                if under and info.source not in present:
                    self.store.delete(info.id)
                    result = FileResult(info.id, info.source, "removed", info.chunks)
                    report.results.append(result)
                    notify(result)
        report.seconds = time.perf_counter() - started
        return report

    def index_documents(
        self,
        docs: Iterable[Document],
        *,
        status: Status = "added",
        progress: Callable[[FileResult], None] | None = None,
    ) -> IngestReport:
        """Chunk, embed (in cross-document batches) and write in-memory documents, one
        transaction each; for sources that are not files (datasets, APIs, evaluation corpora).
        No hashing or skipping here: callers decide what needs indexing."""
        report = IngestReport()
        items = ((doc, self.chunker.chunk(doc), status) for doc in docs)
        self._write(items, report, progress or (lambda _r: None))
        return report

    def sync_documents(
        self,
        docs: Sequence[Document],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Make the store hold exactly ``docs``: in-memory documents such as an evaluation
        corpus, indexed as ``ingest`` indexes files.

        Documents whose ``content_hash`` is already stored are skipped, the others are
        chunked, embedded in batches and written one per transaction (an interrupted run is
        finished by the next); stored documents absent from ``docs`` are removed, and
        changed chunking settings re-index everything. ``progress`` gets (documents done,
        documents to index) after each one.
        """
        started = time.perf_counter()
        report = IngestReport()
        stored = self._hashes()
        same_chunking = self._get_meta(CHUNKING_META_KEY) in (None, self.chunking_signature)
        known = stored if same_chunking else {}
        wanted = {d.id for d in docs}
        for doc_id in [d for d in stored if d not in wanted]:
            self.store.delete(doc_id)
            report.results.append(FileResult(doc_id, "", "removed"))
        todo = [d for d in docs if known.get(d.id) != d.content_hash]
        done = 0
        if progress is not None and todo:
            progress(0, len(todo))

        def advance(_result: FileResult) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, len(todo))

        def status(doc: Document) -> Status:
            return "updated" if doc.id in stored else "added"

        self._write(((d, self.chunker.chunk(d), status(d)) for d in todo), report, advance)
        self._set_meta(CHUNKING_META_KEY, self.chunking_signature)
        report.seconds = time.perf_counter() - started
        return report

    def _write(
        self,
        items: Iterable[tuple[Document, list[Chunk], Status]],
        report: IngestReport,
        notify: Callable[[FileResult], None],
    ) -> None:
        """Embed chunks of several documents per call (``ingest.embed_batch``), then write
        each document in its own transaction."""
        pending: list[tuple[Document, list[Chunk], Status]] = []
        pending_chunks = 0
        for item in items:
            pending.append(item)
            pending_chunks += len(item[1])
            if pending_chunks >= self.settings.embed_batch:
                self._flush(pending, report, notify)
                pending, pending_chunks = [], 0
        self._flush(pending, report, notify)

    def _prepare(
        self,
        path: Path,
        doc_id: str,
        known: dict[str, str],
        reindex: bool,
        metadata: Mapping[str, Any] | None,
    ) -> tuple[FileResult, tuple[Document, list[Chunk], Status] | None]:
        source = str(path)
        try:
            # One read serves the change check and the parse.
            data = read_file(path, int(self.settings.max_file_mb * 2**20))
            if not reindex and known.get(doc_id) == hashlib.sha256(data).hexdigest():
                return FileResult(doc_id, source, "unchanged"), None
            doc = load_bytes(
                data,
                path,
                doc_id=doc_id,
                max_chars=self.settings.max_text_chars,
                metadata=metadata,
            )
        except LoadError as exc:
            return FileResult(doc_id, source, "failed", reason=exc.reason), None
        chunks = self.chunker.chunk(doc)
        status: Status = "updated" if doc_id in known else "added"
        return FileResult(doc_id, source, status, len(chunks)), (doc, chunks, status)

    def _flush(
        self,
        pending: list[tuple[Document, list[Chunk], Status]],
        report: IngestReport,
        notify: Callable[[FileResult], None],
    ) -> None:
        if not pending:
            return
        texts = [embed_text(c, d.title) for d, chunks, _ in pending for c in chunks]
        misses_before = getattr(self.embedder, "misses", None)
        vectors = (
            self.embedder.embed(texts, kind="passage")
            if texts
            else np.zeros((0, self.embedder.dim), dtype=np.float32)
        )
        misses_after = getattr(self.embedder, "misses", None)
        if misses_before is not None and misses_after is not None:
            report.chunks_embedded += misses_after - misses_before
        else:
            report.chunks_embedded += len(texts)
        offset = 0
        for doc, chunks, status in pending:
            part = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            self.store.upsert(doc, chunks, part)
            report.chunks_written += len(chunks)
            result = FileResult(doc.id, doc.source, status, len(chunks))
            report.results.append(result)
            notify(result)

    def _hashes(self) -> dict[str, str]:
        hashes = getattr(self.store, "hashes", None)
        if callable(hashes):
            return dict(hashes())
        return {d.id: d.content_hash for d in self.store.documents()}

    def _get_meta(self, key: str) -> str | None:
        getter = getattr(self.store, "get_meta", None)
        return getter(key) if callable(getter) else None

    def _set_meta(self, key: str, value: str) -> None:
        setter = getattr(self.store, "set_meta", None)
        if callable(setter):
            setter(key, value)
