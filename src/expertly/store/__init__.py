"""Stores keep chunks, their vectors and a full-text index. Backends are looked up by name.

What a store offers is split into small protocols, so that each consumer states what it
needs and a test can hand it a fake of just that:

==================  ==========================================  ==========================
protocol            methods                                     used by
==================  ==========================================  ==========================
``Store``           upsert, delete, search, documents, vectors  ingest, the Retriever
``DocumentHashes``  hashes                                      ingest, answer cache, evals
``MetaStore``       get_meta, set_meta                          ingest, BEIR evaluation
``StoreStats``      stats                                       ``status``, evaluations
``DocumentReader``  get_document, document_text, chunks         training data, span checks
``StoreBackend``    all of the above, and close                 the Workspace
==================  ==========================================  ==========================

A backend registered by name (``expertly.store.registry``) is a ``StoreBackend``: the
Workspace hands it to every face, so it must do all of it. The shared contract suite
(``tests/contracts/store_contract.py``) checks every method above on every backend.
Consumers that take a bare ``Store`` check the smaller protocols with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from expertly.types import Chunk, Document, DocumentInfo, Hit, Query

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "STATS_KEYS",
    "DocumentHashes",
    "DocumentReader",
    "MetaStore",
    "Store",
    "StoreBackend",
    "StoreStats",
]

STATS_KEYS = ("documents", "chunks", "embedder", "dim")
"""Keys every ``StoreStats.stats()`` result holds; a backend may add its own."""


@runtime_checkable
class Store(Protocol):
    """An index of chunks. One document's chunks are written atomically by ``upsert``."""

    def upsert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace everything stored for ``doc.id`` with these chunks, in one transaction.

        Raises ``ValueError`` (writing nothing) for vectors that are not a finite
        ``(len(chunks), dim)`` array or chunks that belong to another document.
        """
        ...

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its chunks; False if it was not there."""
        ...

    def search(self, query: Query, k: int) -> list[Hit]:
        """Dense (query.vector) and/or BM25 (query.text) search with filters applied inside."""
        ...

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document, without text."""
        ...

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk id → its stored vector (float32, as upserted); unknown ids are left out.

        Pseudo-relevance feedback reads the best hits' vectors here instead of embedding
        their text again.
        """
        ...


@runtime_checkable
class DocumentHashes(Protocol):
    """A store that lists its documents' content hashes cheaply (no chunk counts)."""

    def hashes(self) -> dict[str, str]:
        """doc_id → content_hash of every stored document (drives incremental ingest)."""
        ...


@runtime_checkable
class MetaStore(Protocol):
    """A store that keeps small key → value notes beside the index, in the same place
    (so they are copied, backed up and deleted with it)."""

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``. Keys that describe the index itself (its embedder,
        dimension, schema) are refused with ``ValueError``."""
        ...


@runtime_checkable
class StoreStats(Protocol):
    """A store that reports its size."""

    def stats(self) -> dict[str, int | str]:
        """At least ``STATS_KEYS``: document and chunk counts, the embedder's name and the
        vector size; a backend adds what describes it (bytes on disk, schema version)."""
        ...


@runtime_checkable
class DocumentReader(Protocol):
    """A store that gives back what was upserted, one document at a time."""

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        """What is stored about ``doc_id`` (no text), or None."""
        ...

    def document_text(self, doc_id: str) -> str | None:
        """The stored ``Document.text`` of ``doc_id`` (chunk spans index into it), or None."""
        ...

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The stored chunks of ``doc_id`` in index order ([] if unknown)."""
        ...


@runtime_checkable
class StoreBackend(Store, DocumentHashes, MetaStore, StoreStats, DocumentReader, Protocol):
    """Everything the Workspace hands out as ``ws.store``: what a registered backend is."""

    def close(self) -> None:
        """Release the connection (idempotent); using the handle afterwards raises
        ``StoreError``."""
        ...
