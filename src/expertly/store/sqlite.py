"""The embedded default store: one SQLite file with sqlite-vec (vectors) and FTS5 (BM25).

* Writes: ``upsert``/``delete`` replace every row of one document (document, groups,
  chunks, FTS rows, vectors) in one ``BEGIN IMMEDIATE`` transaction, so a reader in any
  process sees a document either entirely or not at all, also after ``kill -9``.
* Reads: ``search`` runs in one read transaction (WAL snapshot), so the dense list, the
  sparse list and the chunk rows all come from the same state of the index.
* Filters are applied *inside* both searches: the allowed chunk rowids are a subquery on
  the ordinary tables (``sqlite_query.chunk_filter``), given to vec0's KNN as a
  ``rowid IN (...)`` constraint (sqlite-vec skips other rows before ranking, so the KNN
  stays exact and returns k hits whenever k allowed chunks exist) and to the FTS5 query as
  the same constraint. vec0 metadata/partition columns cannot express "tenant = x OR no
  tenant", many-to-many groups or arbitrary metadata, hence the rowid set. Measured at
  100k x 384-d: a filtered KNN costs about what an unfiltered one does, whatever the
  selectivity, while a ``vec_distance_cosine`` scan over rowids was slower beyond ~100 rows.
* sqlite-vec caps a KNN at ``k <= 4096``; larger dense requests are clamped to that.

A handle is safe to share between threads (an internal lock serialises its use); separate
processes each open their own handle.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from expertly.errors import StoreError
from expertly.store.sqlite_query import chunk_filter, filters_active, fts_query
from expertly.store.sqlite_rows import (
    CHUNK_COLUMNS,
    DOC_COLUMNS,
    acl_fields,
    check_chunks,
    check_query_vector,
    check_vectors,
    chunk_from_row,
    chunk_row,
    doc_info,
    merge,
)
from expertly.store.sqlite_schema import (
    BM25_WEIGHTS,
    BUSY_TIMEOUT_MS,
    RESERVED_META,
    SCHEMA_VERSION,
    connect,
    ensure_schema,
)
from expertly.types import Chunk, Document, DocumentInfo, Hit, Query

MAX_DENSE_K = 4096
"""sqlite-vec refuses KNN queries with a larger k."""

_BM25 = "bm25(chunks_fts, {})".format(", ".join(str(w) for w in BM25_WEIGHTS))


class SQLiteStore:
    """An index in one SQLite file; satisfies ``expertly.store.Store``.

    Args:
        path: the index file; a missing parent directory is created.
        dim: vector size of the embedder; must match the one the index was built with.
        embedder: name of the embedding model; must match too (mixing models is silent
            garbage, so a mismatch raises ``StoreError`` with the fix).
        read_only: open for searching only (e.g. a search server beside an ingest);
            it still sees every transaction the writer commits.
    """

    def __init__(
        self, path: Path | str, *, dim: int, embedder: str, read_only: bool = False
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be > 0, got {dim}")
        self.path = Path(path)
        self.dim = int(dim)
        self.embedder = embedder
        self.read_only = read_only
        self._lock = threading.RLock()
        conn = connect(self.path, read_only=read_only)
        try:
            ensure_schema(conn, self.path, dim=self.dim, embedder=embedder, read_only=read_only)
        except BaseException:
            conn.close()
            raise
        self._conn: apsw.Connection | None = conn

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
        metadata_json, tenant, groups = acl_fields(doc)
        with self._write() as conn:
            self._delete_rows(conn, doc.id)
            conn.execute(
                "INSERT INTO documents(id, source, title, format, content_hash, text, chars,"
                " metadata, tenant, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.id, doc.source, doc.title, doc.format, doc.content_hash, doc.text,
                 len(doc.text), metadata_json, tenant, time.time()),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO doc_groups(doc_id, grp) VALUES (?, ?)", [(doc.id, g) for g in groups]
            )
            for chunk, vector in zip(chunks, matrix, strict=True):
                try:
                    rowid = conn.execute(
                        'INSERT INTO chunks(id, doc_id, idx, text, start, "end", heading_path,'
                        " page, token_count, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " RETURNING rowid",
                        chunk_row(chunk),
                    ).get
                except apsw.ConstraintError as exc:
                    raise ValueError(
                        f"Chunk id {chunk.id!r} is already stored for another document"
                    ) from exc
                conn.execute(
                    "INSERT INTO chunks_fts(rowid, text, title, headings) VALUES (?, ?, ?, ?)",
                    (rowid, chunk.text, doc.title, " > ".join(chunk.heading_path)),
                )
                conn.execute(
                    "INSERT INTO chunks_vec(rowid, embedding) VALUES (?, ?)",
                    (rowid, vector.tobytes()),
                )

    def delete(self, doc_id: str) -> bool:
        """Remove a document and everything derived from it; False if it was not stored."""
        with self._write() as conn:
            return self._delete_rows(conn, doc_id)

    def search(self, query: Query, k: int) -> list[Hit]:
        """Dense KNN (``query.vector``) and/or BM25 (``query.text``), filters inside.

        Both set → the union of the two top-k lists; each hit carries ``ranks``/``scores``
        for "dense" (cosine similarity) and/or "sparse" (positive BM25). ``score`` is the
        dense similarity when present, else the BM25 score. Order: hits by dense rank, then
        sparse-only hits by sparse rank (fusion is the retriever's job).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        vector = None if query.vector is None else check_query_vector(query.vector, self.dim)
        match = fts_query(query.text) if query.text else ""
        if vector is None and not match:
            return []
        filter_sql, filter_params = (
            chunk_filter(query.filters) if filters_active(query.filters) else ("", [])
        )
        with self._read() as conn:
            dense = (
                self._dense(conn, vector, k, filter_sql, filter_params)
                if vector is not None
                else []
            )
            sparse = self._sparse(conn, match, k, filter_sql, filter_params) if match else []
            rows = self._chunk_rows(conn, [r for r, _ in dense] + [r for r, _ in sparse])
        return merge(dense, sparse, rows)

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document (without text), ordered by id."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS}, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
                " FROM documents d ORDER BY d.id"
            ).fetchall()
        return iter([doc_info(row) for row in rows])

    # ------------------------------------------------------------------------ extras

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        """What is stored about ``doc_id`` (no text), or None."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS}, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
                " FROM documents d WHERE d.id = ?",
                (doc_id,),
            ).fetchall()
        return doc_info(rows[0]) if rows else None

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

    def stats(self) -> dict[str, int | str]:
        """Counts, file size in bytes (database + WAL), embedder, dim and schema version."""
        with self._read() as conn:
            documents = int(conn.execute("SELECT count(*) FROM documents").get)
            chunks = int(conn.execute("SELECT count(*) FROM chunks").get)
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.is_file())
        return {
            "documents": documents,
            "chunks": chunks,
            "bytes": size,
            "embedder": self.embedder,
            "dim": self.dim,
            "schema_version": SCHEMA_VERSION,
        }

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (e.g. what ingest recorded), or None."""
        with self._read() as conn:
            rows = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchall()
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table; the keys that describe the index are refused."""
        if key in RESERVED_META:
            raise ValueError(f"meta key {key!r} describes the index and cannot be changed")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def close(self) -> None:
        """Close the connection (idempotent); the handle cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return (
            f"SQLiteStore({str(self.path)!r}, embedder={self.embedder!r}, dim={self.dim}, {mode})"
        )

    # ---------------------------------------------------------------------- internals

    def _conn_or_raise(self) -> apsw.Connection:
        if self._conn is None:
            raise StoreError(f"The index {self.path} is closed.")
        return self._conn

    def _write(self) -> _Transaction:
        if self.read_only:
            raise StoreError(f"The index {self.path} was opened read-only; it cannot be changed.")
        return _Transaction(self, "BEGIN IMMEDIATE")

    def _read(self) -> _Transaction:
        return _Transaction(self, "BEGIN DEFERRED")

    @staticmethod
    def _delete_rows(conn: apsw.Connection, doc_id: str) -> bool:
        rowids = [
            (r[0],) for r in conn.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))
        ]
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", rowids)
        conn.executemany("DELETE FROM chunks_vec WHERE rowid = ?", rowids)
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM doc_groups WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return conn.changes() > 0

    def _dense(
        self, conn: apsw.Connection, vector: np.ndarray, k: int, filter_sql: str, params: list[Any]
    ) -> list[tuple[int, float]]:
        sql = "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?"
        if filter_sql:
            sql += f" AND rowid IN ({filter_sql})"
        sql += " ORDER BY distance"
        rows = conn.execute(sql, (vector.tobytes(), min(k, MAX_DENSE_K), *params))
        # A zero vector (e.g. a text without words) has no cosine distance: NULL, skipped.
        return [(int(r), 1.0 - float(d)) for r, d in rows if d is not None]

    @staticmethod
    def _sparse(
        conn: apsw.Connection, match: str, k: int, filter_sql: str, params: list[Any]
    ) -> list[tuple[int, float]]:
        sql = f"SELECT rowid, -{_BM25} AS score FROM chunks_fts WHERE chunks_fts MATCH ?"
        if filter_sql:
            # "+rowid": keep the IN constraint away from FTS5, which would otherwise re-run
            # the whole MATCH once per allowed rowid (seconds). SQLite then builds the
            # rowid list once and checks each match against it.
            sql += f" AND +rowid IN ({filter_sql})"
        sql += f" ORDER BY {_BM25}, rowid LIMIT ?"
        return [(int(r), float(s)) for r, s in conn.execute(sql, (match, *params, k))]

    @staticmethod
    def _chunk_rows(conn: apsw.Connection, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
        if not rowids:
            return {}
        rows = conn.execute(
            f"SELECT c.rowid, {CHUNK_COLUMNS}, d.source, d.title FROM chunks c"
            " JOIN documents d ON d.id = c.doc_id"
            " WHERE c.rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(rowids))),),
        )
        return {int(row[0]): tuple(row[1:]) for row in rows}


class _Transaction:
    """``with``: take the handle's lock, BEGIN, COMMIT on success, ROLLBACK on error.

    SQLite errors become ``StoreError`` (a write lock held by another process for longer
    than the busy timeout, a full disk, a damaged file); everything else propagates as is.
    """

    def __init__(self, store: SQLiteStore, begin: str) -> None:
        self._store = store
        self._begin = begin

    def __enter__(self) -> apsw.Connection:
        self._store._lock.acquire()
        try:
            conn = self._store._conn_or_raise()
            conn.execute(self._begin)
        except apsw.Error as exc:
            self._store._lock.release()
            raise self._store_error(exc) from exc
        except BaseException:
            self._store._lock.release()
            raise
        self._conn = conn
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if exc is None:
                try:
                    self._conn.execute("COMMIT")
                except apsw.Error as commit_error:
                    self._rollback()
                    raise self._store_error(commit_error) from commit_error
                return
            self._rollback()
            if isinstance(exc, apsw.Error):
                raise self._store_error(exc) from exc
        finally:
            self._store._lock.release()

    def _rollback(self) -> None:
        if not self._conn.get_autocommit():
            self._conn.execute("ROLLBACK")

    def _store_error(self, exc: apsw.Error) -> StoreError:
        path = self._store.path
        if isinstance(exc, apsw.BusyError):
            return StoreError(
                f"The index {path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_MS // 1000} s (is an ingest running?). Try again later."
            )
        return StoreError(f"The index {path} failed: {type(exc).__name__}: {exc}")
