"""Incremental, resumable ingest: files → documents → chunks → vectors → store.

* **Incremental** by content hash: a file whose bytes did not change costs one hash and
  nothing else; a changed file is re-chunked and re-indexed; ``sync`` removes documents whose
  files are gone; ``reindex`` redoes everything.
* **Atomic per document**: each document's chunks and vectors are written in one store
  transaction, so a crash (even ``kill -9``) leaves every document either fully old or fully
  new; re-running the same command finishes the job.
* **Fault-tolerant**: a file that cannot be loaded is reported with its reason and the rest
  of the batch is ingested, whatever the exception (an unexpected one is reported with its
  type and message, and its traceback is logged at debug level, so a bug stays visible).
  Only a failure to write the index, which would fail every file, aborts the run.
* **Inside the folder**: only regular files are read, and symbolic links leading out of
  the ingested folder are skipped unless ``follow_links`` (see ``discovery``).
* **Fast**: chunks of several documents are embedded in one batch (the model is the cost).

This module depends on the store and embedder protocols only (type-level imports).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from expertly.config import ChunkingSettings, IngestSettings
from expertly.errors import ExpertlyError, LoadError, StoreError
from expertly.ingest.chunking import Chunker
from expertly.ingest.discovery import discover
from expertly.ingest.formats import describe_exception
from expertly.ingest.loaders import parse_bytes, read_file
from expertly.ingest.names import safe_name
from expertly.ingest.report import FileResult, IngestReport, Status
from expertly.store import DocumentHashes, MetaStore
from expertly.types import Chunk, Document

if TYPE_CHECKING:
    from expertly.embed import Embedder
    from expertly.store import Store

logger = logging.getLogger(__name__)

CHUNKING_META_KEY = "chunking"
EMBED_PREFIX_CHARS = 120


@runtime_checkable
class MissCounting(Protocol):
    """An embedder that counts the passages it actually sent to a model (the embedding
    cache's wrapper): ingest reports that count as "embedded", so unchanged chunks are seen
    to cost nothing. Other embedders are taken to embed every text they are given."""

    misses: int


@dataclass(frozen=True)
class _Item:
    """A document ready to embed and write, with what its result will report."""

    doc: Document
    chunks: list[Chunk]
    status: Status
    encoding: str = ""


def _under(source: str, paths: Sequence[str]) -> bool:
    """Whether ``source`` is one of ``paths`` or lies in one of those folders."""
    return any(source == p or source.startswith(p.rstrip(os.sep) + os.sep) for p in paths)


def _texts(items: Sequence[_Item]) -> list[str]:
    """The texts to embed for the chunks of ``items``, in order."""
    return [embed_text(c, item.doc.title) for item in items for c in item.chunks]


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
        follow_links: bool | None = None,
    ) -> IngestReport:
        """Index every matching file under ``roots``; see the module docstring.

        ``follow_links`` (default: ``ingest.follow_links``) reads symbolic links that lead
        outside the folder being ingested instead of skipping them.
        """
        started = time.perf_counter()
        report = IngestReport()
        notify = progress or (lambda _r: None)
        follow = self.settings.follow_links if follow_links is None else follow_links
        files: list[tuple[Path, str]] = []
        for root in roots:
            if not root.exists():
                raise LoadError(safe_name(str(root)), "no such file or folder")
            found = discover(
                root.resolve(), self.settings.include, self.settings.exclude, follow_links=follow
            )
            files.extend(found.files)
            for skip in found.skipped:
                status: Status = "failed" if skip.failed else "skipped"
                report.results.append(
                    FileResult(skip.doc_id, skip.path, status, reason=skip.reason)
                )
                notify(report.results[-1])
        if on_total:
            on_total(len(files) + len(report.results))

        stored_chunking = self._get_meta(CHUNKING_META_KEY)
        if stored_chunking is not None and stored_chunking != self.chunking_signature:
            reindex = True  # chunk settings changed: every document must be re-chunked
        known = self._hashes()

        def to_write() -> Iterator[_Item]:
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
            present = {safe_name(str(p)) for p, _ in files}
            prefixes = [safe_name(str(r.resolve())) for r in roots]
            # a folder that could not be listed may still hold its files: keep their documents
            unlisted = [r.path for r in report.results if r.status == "failed"]
            for info in list(self.store.documents()):
                under = _under(info.source, prefixes) and not _under(info.source, unlisted)
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
        items = (_Item(doc, self.chunker.chunk(doc), status) for doc in docs)
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

        self._write((_Item(d, self.chunker.chunk(d), status(d)) for d in todo), report, advance)
        self._set_meta(CHUNKING_META_KEY, self.chunking_signature)
        report.seconds = time.perf_counter() - started
        return report

    def _write(
        self,
        items: Iterable[_Item],
        report: IngestReport,
        notify: Callable[[FileResult], None],
    ) -> None:
        """Embed chunks of several documents per call (``ingest.embed_batch``), then write
        each document in its own transaction."""
        pending: list[_Item] = []
        pending_chunks = 0
        for item in items:
            pending.append(item)
            pending_chunks += len(item.chunks)
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
    ) -> tuple[FileResult, _Item | None]:
        """Read, parse and chunk one file; every failure becomes a "failed" result."""
        source = safe_name(str(path))
        try:
            # One read serves the change check and the parse.
            data = read_file(path, int(self.settings.max_file_mb * 2**20))
            if not reindex and known.get(doc_id) == hashlib.sha256(data).hexdigest():
                return FileResult(doc_id, source, "unchanged"), None
            loaded = parse_bytes(
                data,
                path,
                doc_id=doc_id,
                max_chars=self.settings.max_text_chars,
                metadata=metadata,
            )
            chunks = self.chunker.chunk(loaded.document)
        except LoadError as exc:
            return FileResult(doc_id, source, "failed", reason=exc.reason), None
        except Exception as exc:  # a parser's or our own bug: report it for this file only
            logger.debug("ingesting %s failed", source, exc_info=True)
            reason = f"unexpected error ({describe_exception(exc)}); please report it"
            return FileResult(doc_id, source, "failed", reason=reason), None
        status: Status = "updated" if doc_id in known else "added"
        result = FileResult(doc_id, source, status, len(chunks), encoding=loaded.encoding)
        return result, _Item(loaded.document, chunks, status, loaded.encoding)

    def _flush(
        self,
        pending: list[_Item],
        report: IngestReport,
        notify: Callable[[FileResult], None],
    ) -> None:
        if not pending:
            return
        parts: list[tuple[_Item, np.ndarray]] = []
        try:
            vectors = self._embed(_texts(pending), report)
        except ExpertlyError:
            raise  # a missing model or a bad setting: every file would fail alike
        except Exception as exc:
            parts = self._embed_one_by_one(pending, report, notify, exc)
        else:
            offset = 0
            for item in pending:
                parts.append((item, vectors[offset : offset + len(item.chunks)]))
                offset += len(item.chunks)
        for item, part in parts:
            doc, chunks = item.doc, item.chunks
            self._upsert(doc, chunks, part)
            report.chunks_written += len(chunks)
            result = FileResult(
                doc.id, doc.source, item.status, len(chunks), encoding=item.encoding
            )
            report.results.append(result)
            notify(result)

    def _embed(self, texts: list[str], report: IngestReport) -> np.ndarray:
        """Vectors of ``texts``; counts what the model really embedded into ``report``."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        before = self.embedder.misses if isinstance(self.embedder, MissCounting) else None
        vectors = self.embedder.embed(texts, kind="passage")
        if before is not None and isinstance(self.embedder, MissCounting):
            report.chunks_embedded += self.embedder.misses - before
        else:
            report.chunks_embedded += len(texts)
        return vectors

    def _embed_one_by_one(
        self,
        pending: list[_Item],
        report: IngestReport,
        notify: Callable[[FileResult], None],
        batch_error: Exception,
    ) -> list[tuple[_Item, np.ndarray]]:
        """After a batch failed to embed, embed each document alone: the one whose text
        the embedder cannot take is reported as failed and the others are written. When
        several documents all fail, the embedder itself is broken: the batch's error is
        raised (a lone document cannot tell the two apart and is reported as failed)."""
        logger.debug("embedding a batch failed; retrying document by document", exc_info=True)
        parts: list[tuple[_Item, np.ndarray]] = []
        failed: list[FileResult] = []
        for item in pending:
            try:
                parts.append((item, self._embed(_texts([item]), report)))
            except Exception as exc:  # reported for this file, traceback at debug level
                logger.debug("embedding %s failed", item.doc.source, exc_info=True)
                reason = f"cannot embed its text ({describe_exception(exc)}); please report it"
                failed.append(FileResult(item.doc.id, item.doc.source, "failed", reason=reason))
        if not parts and len(pending) > 1:
            raise batch_error
        for result in failed:
            report.results.append(result)
            notify(result)
        return parts

    def _upsert(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Write one document; a failure here (disk full, index locked or damaged) would
        fail every file, so it aborts the run with a clear error instead of a per-file one."""
        try:
            self.store.upsert(doc, chunks, vectors)
        except ExpertlyError:
            raise
        except Exception as exc:
            raise StoreError(
                f"Writing {doc.id} to the index failed ({describe_exception(exc)}). Documents "
                "written before it are complete: check the disk space and permissions of the "
                "workspace, then run the same command again to finish."
            ) from exc

    def _hashes(self) -> dict[str, str]:
        if isinstance(self.store, DocumentHashes):
            return self.store.hashes()
        return {d.id: d.content_hash for d in self.store.documents()}

    def record_chunking(self) -> None:
        """Note the current chunking settings beside the index, after every stored document
        was chunked with them again (so the next ``ingest`` does not re-index them all)."""
        self._set_meta(CHUNKING_META_KEY, self.chunking_signature)

    def _get_meta(self, key: str) -> str | None:
        """A note kept beside the index; None from a store that keeps none (then a change
        of the chunking settings is not noticed: ingest with ``reindex=True``)."""
        return self.store.get_meta(key) if isinstance(self.store, MetaStore) else None

    def _set_meta(self, key: str, value: str) -> None:
        if isinstance(self.store, MetaStore):
            self.store.set_meta(key, value)
