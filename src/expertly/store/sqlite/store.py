"""The embedded default store: one SQLite file with sqlite-vec (vectors) and FTS5 (BM25).

* Writes: ``upsert``/``delete`` replace every row of one document (document, groups,
  chunks, FTS rows, vectors) in one ``BEGIN IMMEDIATE`` transaction, so a reader in any
  process sees a document either entirely or not at all, also after ``kill -9``.
* Reads: ``search`` runs in one read transaction (WAL snapshot), so the dense list, the
  sparse list and the chunk rows all come from the same state of the index.
* Filters are applied *inside* both searches: the allowed chunk rowids are a subquery on
  the ordinary tables (``sqlite.query.chunk_filter``), given to vec0's KNN as a
  ``rowid IN (...)`` constraint (sqlite-vec skips other rows before ranking, so the KNN
  stays exact and returns k hits whenever k allowed chunks exist) and to the FTS5 query as
  the same constraint. vec0 metadata/partition columns cannot express "tenant = x OR no
  tenant", many-to-many groups or arbitrary metadata, hence the rowid set. Measured at
  100k x 384-d: a filtered KNN costs about what an unfiltered one does, whatever the
  selectivity, while a ``vec_distance_cosine`` scan over rowids was slower beyond ~100 rows.
* sqlite-vec caps a KNN at ``k <= 4096``; larger dense requests are clamped to that.
* Dense search is exact by default: sqlite-vec's KNN scan, or, for a handle that searches
  repeatedly (``StoreSettings.vector_cache``), one numpy matrix product over an in-memory
  copy of the vectors that each search first brings up to date with the file
  (``sqlite.vectors``). ``search_many`` scores a batch of query vectors in one product.
  For large indexes, ``StoreSettings.vector_index = hnsw`` searches that copy approximately
  instead, through an HNSW graph saved beside the file (``sqlite.hnsw``); its recall is
  measured against exact.
* BM25 likewise: FTS5's ``bm25()`` in SQL, or (``StoreSettings.sparse_cache``) numpy over
  an in-memory copy of the postings with FTS5's own tokens and formula
  (``sqlite.sparse``): the same scores and ranking.

A handle is safe to share between threads (an internal lock serialises its use); separate
processes each open their own handle.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import apsw
import numpy as np

from expertly.config import StoreSettings
from expertly.errors import StoreError
from expertly.store.handle import (
    access,
    check_dim,
    check_k,
    check_meta_key,
    index_stats,
    read_only_error,
)
from expertly.store.sqlite.copies import MemoryCopies
from expertly.store.sqlite.files import size_on_disk
from expertly.store.sqlite.rows import (
    CHUNK_COLUMNS,
    DOC_COLUMNS,
    ChunkRowCache,
    acl_fields,
    check_chunks,
    check_vectors,
    chunk_from_row,
    doc_info,
)
from expertly.store.sqlite.schema import (
    RESERVED_META,
    SCHEMA_VERSION,
    connect,
    ensure_schema,
)
from expertly.store.sqlite.search import Batch, search_batch
from expertly.store.sqlite.txn import Transaction
from expertly.store.sqlite.writes import delete_rows, insert_document
from expertly.types import Chunk, Document, DocumentInfo, Hit, Query


class SQLiteStore:
    """An index in one SQLite file; satisfies ``expertly.store.Store``.

    Args:
        path: the index file; a missing parent directory is created.
        dim: vector size of the embedder; must match the one the index was built with.
        embedder: name of the embedding model; must match too (mixing models is silent
            garbage, so a mismatch raises ``StoreError`` with the fix).
        read_only: open for searching only (e.g. a search server beside an ingest);
            it still sees every transaction the writer commits.
        settings: ``vector_cache``, ``sparse_cache`` and their ``*_min_chunks``,
            ``vector_index`` and its ``hnsw_*`` (the rest is the workspace's business); the
            defaults when None.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        dim: int,
        embedder: str,
        read_only: bool = False,
        settings: StoreSettings | None = None,
    ) -> None:
        self.dim = check_dim(dim)
        self.path = Path(path)
        self.embedder = embedder
        self.read_only = read_only
        self._lock = threading.RLock()
        self.settings = settings or StoreSettings()
        conn = connect(self.path, read_only=read_only)
        try:
            meta = ensure_schema(
                conn, self.path, dim=self.dim, embedder=embedder, read_only=read_only
            )
        except BaseException:
            conn.close()
            raise
        self._conn: apsw.Connection | None = conn
        # A read-only handle on a version-1 file has no chunk_vectors table: sqlite-vec only.
        self._cache_possible = int(meta["schema_version"]) >= 2
        self._copies = MemoryCopies(
            self.dim, self.settings, path=self.path, vectors_possible=self._cache_possible
        )
        self._vectors, self._sparse = self._copies.vectors, self._copies.sparse
        self._chunk_rows = ChunkRowCache(self.settings.chunk_cache)

    # ----------------------------------------------------------------- Store protocol

    def upsert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace everything stored for ``doc.id`` with ``doc``, ``chunks`` and ``vectors``.

        Raises ``ValueError`` (and writes nothing) when the vectors are not a finite
        ``(len(chunks), dim)`` array, a chunk belongs to another document, chunk ids or
        indexes repeat, or the metadata is not JSON with a str ``tenant`` and a list of str
        ``groups``.
        """
        matrix = check_vectors(vectors, len(chunks), self.dim)
        check_chunks(doc, chunks)
        acl = acl_fields(doc)
        with self._write() as conn:
            delete_rows(conn, doc.id)
            insert_document(conn, doc, chunks, matrix, acl)

    def delete(self, doc_id: str) -> bool:
        """Remove a document and everything derived from it; False if it was not stored."""
        with self._write() as conn:
            return delete_rows(conn, doc_id)

    def search(self, query: Query, k: int) -> list[Hit]:
        """Dense KNN (``query.vector``) and/or BM25 (``query.text``), filters inside.

        Both set → the union of the two top-k lists; each hit carries ``ranks``/``scores``
        for "dense" (cosine similarity) and/or "sparse" (positive BM25). ``score`` is the
        dense similarity when present, else the BM25 score. Order: hits by dense rank, then
        sparse-only hits by sparse rank (fusion is the retriever's job).
        """
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[Query], k: int) -> list[list[Hit]]:
        """``search`` for each query, in one read transaction (one snapshot).

        With the in-memory vector copy in use, the dense scores of every unfiltered query
        come from one matrix product, which is what makes a batch cheaper than a loop.
        A filter's chunk set is read once per query and serves both in-memory copies.
        """
        check_k(k)
        batch = Batch.of(queries, self.dim)
        if batch.empty:
            return [[] for _ in queries]
        with self._read() as conn:
            return search_batch(conn, batch, k, self._copies, self._chunk_rows)

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document (without text), ordered by id."""
        return iter(self._document_infos(" ORDER BY d.id", ()))

    # ------------------------------------------------------------------------ extras

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        """What is stored about ``doc_id`` (no text), or None."""
        infos = self._document_infos(" WHERE d.id = ?", (doc_id,))
        return infos[0] if infos else None

    def hashes(self) -> dict[str, str]:
        """doc_id → content_hash of every stored document (drives incremental ingest)."""
        with self._read() as conn:
            return {
                str(i): str(h) for i, h in conn.execute("SELECT id, content_hash FROM documents")
            }

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The stored chunks of ``doc_id`` in index order ([] if unknown)."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT c.rowid, {CHUNK_COLUMNS} FROM chunks c WHERE c.doc_id = ? ORDER BY c.idx",
                (doc_id,),
            ).fetchall()
        return [chunk_from_row(row[1:]) for row in rows]

    def document_text(self, doc_id: str) -> str | None:
        """The stored ``Document.text`` of ``doc_id`` (chunk spans index into it), or None."""
        with self._read() as conn:
            rows = conn.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchall()
        return str(rows[0][0]) if rows else None

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk id → its stored vector (float32, as upserted); unknown ids are left out.

        Pseudo-relevance feedback reads the best hits' vectors here instead of embedding
        their text again.
        """
        if not chunk_ids:
            return {}
        table = "chunk_vectors" if self._cache_possible else "chunks_vec"
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT c.id, v.embedding FROM chunks c JOIN {table} v ON v.rowid = c.rowid"
                " WHERE c.id IN (SELECT value FROM json_each(?))",
                (json.dumps([str(i) for i in chunk_ids]),),
            ).fetchall()
        return {str(i): np.frombuffer(cast(bytes, blob), np.float32).copy() for i, blob in rows}

    def stats(self) -> dict[str, int | str]:
        """Counts, file size in bytes (database + WAL), embedder, dim and schema version."""
        with self._read() as conn:
            documents = int(conn.execute("SELECT count(*) FROM documents").get)
            chunks = int(conn.execute("SELECT count(*) FROM chunks").get)
        return index_stats(
            documents,
            chunks,
            size_on_disk(self.path),
            embedder=self.embedder,
            dim=self.dim,
            schema_version=SCHEMA_VERSION,
        )

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (e.g. what ingest recorded), or None."""
        with self._read() as conn:
            rows = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchall()
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table; the keys that describe the index are refused."""
        check_meta_key(key, RESERVED_META)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def close(self) -> None:
        """Close the connection (idempotent); the handle cannot be used afterwards. An HNSW
        graph that changed since it was last saved is saved first."""
        with self._lock:
            if self._conn is not None:
                self._copies.close()
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SQLiteStore({str(self.path)!r}, embedder={self.embedder!r}, dim={self.dim},"
            f" {access(self.read_only)})"
        )

    # ---------------------------------------------------------------------- internals

    def _conn_or_raise(self) -> apsw.Connection:
        if self._conn is None:
            raise StoreError(f"The index {self.path} is closed.")
        return self._conn

    def _document_infos(self, tail: str, params: Sequence[Any]) -> list[DocumentInfo]:
        """The documents that ``tail`` (a WHERE or ORDER BY clause) selects, with their
        chunk counts."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS}, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
                f" FROM documents d{tail}",
                params,
            ).fetchall()
        return [doc_info(row) for row in rows]

    def _write(self) -> Transaction:
        if self.read_only:
            raise read_only_error(f"The index {self.path}")
        return Transaction(
            self._lock, self._conn_or_raise, self.path, "BEGIN IMMEDIATE", self._copies.invalidate
        )

    def _read(self) -> Transaction:
        return Transaction(self._lock, self._conn_or_raise, self.path, "BEGIN DEFERRED")
