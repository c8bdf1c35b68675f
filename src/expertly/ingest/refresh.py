"""Re-index stored documents: chunk and embed them again with the current settings and code.

What one stored document is rebuilt from, in order:

1. **Its source file**, when the recorded source still names a readable regular file (not
   a symbolic link: one made since the ingest could lead anywhere): parsed again
   by today's loaders, so the structure (headings, pages, paragraphs) is exact and a file
   edited since the last ingest is picked up (its result then says ``updated``).
2. **The text the store keeps** otherwise (an upload folder that was cleaned, a file moved,
   a document indexed from memory): the stored text, with each old chunk's span, heading
   path and page kept as a segment, so headings and page numbers survive. Paragraph breaks
   inside an old chunk are not known any more, so chunk boundaries can differ slightly
   from a fresh ingest of the file.

The document keeps its id and its metadata (``tenant``, ``groups`` and the rest) either
way, and is written in one transaction, as ``ingest`` writes it. This is what a user needs
after changing the ``[chunking]`` settings or upgrading expertly's loaders, or to repair
one document. A different embedder is not such a case: vectors of two models cannot share
an index, which refuses to open (``expertly ingest DIR --rebuild`` re-embeds everything).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from expertly.errors import ExpertlyError, LoadError
from expertly.ingest.formats import describe_exception
from expertly.ingest.loaders import parse_bytes, read_file
from expertly.ingest.names import raw_name
from expertly.ingest.pipeline import Ingestor
from expertly.store import DocumentReader
from expertly.types import Document, DocumentInfo, Segment

logger = logging.getLogger(__name__)

Outcome = Literal["reindexed", "updated", "missing", "failed"]
Origin = Literal["source", "stored text", ""]


@dataclass(frozen=True)
class Reindexed:
    """What re-indexing did to one document.

    ``status``: ``reindexed`` (same content, chunked and embedded again), ``updated`` (its
    source file changed since it was indexed: the new content is indexed), ``missing``
    (not stored, e.g. deleted meanwhile) or ``failed`` (``reason`` says why; the old
    chunks are kept). ``origin`` says what it was rebuilt from.
    """

    doc_id: str
    status: Outcome
    origin: Origin = ""
    chunks: int = 0
    reason: str = ""


def reindex_documents(
    ingestor: Ingestor,
    doc_ids: Sequence[str],
    *,
    progress: Callable[[Reindexed], None] | None = None,
) -> list[Reindexed]:
    """Re-index ``doc_ids`` one document at a time (see the module docstring).

    A document that cannot be rebuilt is reported as failed and the others go on; a
    failure to write the index (disk full, index damaged) raises, as it would fail them all.
    """
    store = ingestor.store
    if not isinstance(store, DocumentReader):
        raise ExpertlyError(
            f"The store {type(store).__name__} cannot give back stored documents, so they "
            "cannot be re-indexed in place: run `expertly ingest DIR --rebuild` instead."
        )
    results: list[Reindexed] = []
    for doc_id in doc_ids:
        result = _reindex_one(ingestor, store, doc_id)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _reindex_one(ingestor: Ingestor, store: DocumentReader, doc_id: str) -> Reindexed:
    info = store.get_document(doc_id)
    if info is None:
        return Reindexed(doc_id, "missing", reason="no such document (deleted meanwhile?)")
    doc, origin, note = _from_source(ingestor, info)
    if doc is None:
        doc, origin = _from_stored(store, info), "stored text"
    if doc is None:  # deleted between the two reads
        return Reindexed(doc_id, "missing", reason="no such document (deleted meanwhile?)")
    status: Outcome = "updated" if doc.content_hash != info.content_hash else "reindexed"
    report = ingestor.index_documents([doc], status="updated")
    written = next((r for r in report.results if r.doc_id == doc_id), None)
    if written is None or written.status == "failed":
        reason = written.reason if written is not None else "nothing was written"
        return Reindexed(doc_id, "failed", origin, reason=reason)
    return Reindexed(doc_id, status, origin, written.chunks, note)


def _from_source(ingestor: Ingestor, info: DocumentInfo) -> tuple[Document | None, Origin, str]:
    """The document parsed again from its source file, or None (and why, if the file
    exists but cannot be loaded) when there is no readable source."""
    if not info.source:
        return None, "", ""
    path = Path(os.fsdecode(raw_name(info.source)))
    if not path.is_absolute() or not path.is_file():
        return None, "", ""
    if path.is_symlink():  # made a link since it was ingested: it may lead anywhere
        return None, "", "its source is now a symbolic link, not read: rebuilt from stored text"
    settings = ingestor.settings
    try:
        data = read_file(path, int(settings.max_file_mb * 2**20))
        loaded = parse_bytes(
            data, path, doc_id=info.id, max_chars=settings.max_text_chars, metadata=info.metadata
        )
    except LoadError as exc:
        return None, "", f"its source cannot be loaded ({exc.reason}): rebuilt from stored text"
    except Exception as exc:  # a loader's bug: this document falls back, the log has it
        logger.debug("re-reading %s failed", info.source, exc_info=True)
        reason = describe_exception(exc)
        return None, "", f"its source cannot be loaded ({reason}): rebuilt from stored text"
    return loaded.document, "source", ""


def _from_stored(store: DocumentReader, info: DocumentInfo) -> Document | None:
    """The document from the stored text, its old chunks' spans kept as segments."""
    text = store.document_text(info.id)
    if text is None:
        return None
    segments = tuple(
        Segment(c.start, c.end, "paragraph", tuple(c.heading_path), c.page)
        for c in store.chunks(info.id)
    )
    return Document(
        id=info.id,
        text=text,
        source=info.source,
        title=info.title,
        format=info.format,
        content_hash=info.content_hash,
        segments=segments,
        metadata=dict(info.metadata),
    )
