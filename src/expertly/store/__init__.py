"""Stores keep chunks, their vectors and a full-text index. Backends are looked up by name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from expertly.types import Chunk, Document, DocumentInfo, Hit, Query

if TYPE_CHECKING:
    import numpy as np


@runtime_checkable
class Store(Protocol):
    """An index of chunks. One document's chunks are written atomically by ``upsert``."""

    def upsert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace everything stored for ``doc.id`` with these chunks, in one transaction."""
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
        """chunk id → its stored vector; ids not in the index are left out."""
        ...
