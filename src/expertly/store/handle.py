"""The rules both store backends (``sqlite``, ``postgres``) apply to their handles alike.

A handle takes a vector size, is asked for ``k`` hits, may be opened read-only, refuses
to change the meta keys that describe the index and reports ``stats`` that ``expertly
status`` prints for either backend. These rules live here once, so the two backends
refuse the same arguments with the same words and report the same layout. (The checks
of documents, chunks and vectors they share are ``sqlite.rows``'.)
"""

from __future__ import annotations

from collections.abc import Container

from expertly.errors import StoreError


def check_dim(dim: int) -> int:
    """``dim`` as an int; ``ValueError`` unless it is positive."""
    if dim <= 0:
        raise ValueError(f"dim must be > 0, got {dim}")
    return int(dim)


def check_k(k: int) -> None:
    """``ValueError`` unless a search asks for at least one hit."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def check_meta_key(key: str, reserved: Container[str]) -> None:
    """``ValueError`` for a meta key that describes the index (``reserved``): its
    embedder, dimension and schema version change only with the index itself."""
    if key in reserved:
        raise ValueError(f"meta key {key!r} describes the index and cannot be changed")


def read_only_error(where: str) -> StoreError:
    """The error of a write on a handle opened read-only; ``where`` names the index."""
    return StoreError(f"{where} was opened read-only; it cannot be changed.")


def access(read_only: bool) -> str:
    """How a handle is open, for its ``repr``."""
    return "read-only" if read_only else "read-write"


def index_stats(
    documents: int, chunks: int, size: int, *, embedder: str, dim: int, schema_version: int
) -> dict[str, int | str]:
    """``StoreStats.stats()``'s answer: ``STATS_KEYS`` with the bytes the index takes
    and its schema version, in the order ``expertly status`` prints them."""
    return {
        "documents": documents,
        "chunks": chunks,
        "bytes": size,
        "embedder": embedder,
        "dim": dim,
        "schema_version": schema_version,
    }
