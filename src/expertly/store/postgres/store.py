"""PostgresStore: the index in a PostgreSQL database, vectors in pgvector (HNSW).

* Writes: ``upsert``/``delete`` replace one document (its row; its chunks with their
  vectors and tsvectors follow by cascade) in one transaction, so another connection sees
  a document either entirely or not at all.
* Reads: ``search`` runs in one ``REPEATABLE READ READ ONLY`` transaction, so the dense
  list, the text list and the chunk rows come from the same snapshot.
* Dense search is pgvector's HNSW index (``ORDER BY embedding <=> q LIMIT k``, cosine):
  approximate, tuned by ``store.hnsw_ef_search``; filters sit in the same statement and
  pgvector's iterative scan keeps a selective filter from returning fewer than k hits
  (``postgres.query.knn``). Scores are cosine similarities, as the SQLite store's.
* Text search is PostgreSQL's full text (``tsvector`` + GIN, English configuration)
  ranked by BM25 with the SQLite store's formula, constants and column weights (the
  chunk text above the title and headings): any query word matches; the statistics it
  needs (chunk lengths, chunks per lexeme, totals) change in the transaction of each
  write (``postgres.stats``); the ranking skips chunks holding only common words when
  that cannot change the top k (``postgres.query.rank_text``, ``postgres.pruning``).
* Input checks and row conversions are the SQLite store's (``sqlite.rows``), so both
  backends accept and refuse the same documents. PostgreSQL text cannot hold NUL
  characters: in texts they are stored as U+FFFD (one character for one, so chunk spans
  stay valid); in metadata they are refused.

A handle holds one connection and is safe to share between threads (a lock serialises its
use); a connection broken by a server restart is opened again on the next call.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from expertly.config import StoreSettings
from expertly.errors import StoreError
from expertly.store.postgres.query import (
    CHUNK_SELECT,
    chunk_rows,
    document_filter,
    knn,
    text_search,
)
from expertly.store.postgres.schema import (
    RESERVED_META,
    connect,
    ensure_schema,
    index_text,
    quoted,
    redact,
    ts_config,
)
from expertly.store.postgres.stats import apply as apply_stats
from expertly.store.postgres.stats import lock_document, remove_chunks
from expertly.store.sqlite.hnsw import AUTO_EF_FLOOR
from expertly.store.sqlite.query import query_phrases
from expertly.store.sqlite.rows import (
    acl_fields,
    check_chunks,
    check_query_vector,
    check_vectors,
    chunk_from_row,
    chunk_row,
    doc_info,
    merge,
)
from expertly.types import Chunk, Document, DocumentInfo, Hit, Query

_DOC_SELECT = (
    "d.id, d.source, d.title, d.format, d.content_hash, d.chars, d.updated_at, d.metadata::text"
)
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _text(value: str) -> str:
    """``value`` storable as PostgreSQL text: NUL → U+FFFD (same length, spans stay valid)."""
    return value.replace("\x00", "\ufffd")


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""``\\u0000`` in JSON text, not preceded by an escaped backslash."""


def _json(value: str, what: str) -> str:
    """JSON text for a jsonb column; jsonb cannot hold ``\\u0000``, so it is refused."""
    if _NUL_ESCAPE.search(value):
        raise ValueError(f"{what} contains a NUL character, which PostgreSQL cannot store")
    return value


def _register_vector(conn: Any) -> None:
    """numpy arrays ↔ pgvector's ``vector`` on ``conn`` (the pgvector package's adapter)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


class PostgresStore:
    """An index in one schema of a PostgreSQL database; a ``StoreBackend``.

    Args:
        url: the database (``postgresql://...`` or a libpq ``key=value`` string).
        dim: vector size of the embedder; must match the one the index was built with.
        embedder: name of the embedding model; must match too (a mismatch raises
            ``StoreError`` with the fix).
        read_only: search only; writing raises ``StoreError`` and a missing index is an
            error rather than created.
        settings: ``schema`` and the ``hnsw_*`` fields (the defaults when None).
    """

    def __init__(
        self,
        url: str,
        *,
        dim: int,
        embedder: str,
        read_only: bool = False,
        settings: StoreSettings | None = None,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be > 0, got {dim}")
        self.settings = settings or StoreSettings()
        if not _SCHEMA_NAME.fullmatch(self.settings.schema):
            raise ValueError(f"schema {self.settings.schema!r} is not a plain PostgreSQL name")
        self.url = url
        self.schema = self.settings.schema
        self.dim = int(dim)
        self.embedder = embedder
        self.read_only = read_only
        self._s = quoted(self.schema)
        self._lock = threading.RLock()
        self._closed = False
        self._conn: Any = None
        with self._lock:
            conn = self._connection(register=False)
            try:
                self.schema_version = ensure_schema(
                    conn,
                    self.schema,
                    dim=self.dim,
                    embedder=embedder,
                    read_only=read_only,
                    hnsw_m=self.settings.hnsw_m,
                    hnsw_ef_construction=self.settings.hnsw_ef_construction,
                )
                _register_vector(conn)
            except BaseException as exc:
                self.close()
                import psycopg

                if isinstance(exc, psycopg.Error):
                    raise StoreError(
                        f"Cannot open {self._where()}: {type(exc).__name__}: {exc}"
                    ) from exc
                raise

    # ----------------------------------------------------------------- Store protocol

    def upsert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace everything stored for ``doc.id``, in one transaction.

        Raises ``ValueError`` (writing nothing) for vectors that are not a finite
        ``(len(chunks), dim)`` array, chunks of another document, repeated chunk ids or
        indexes, a chunk id stored for another document, or metadata that is not JSON
        (or holds NUL characters) with a str ``tenant`` and a list of str ``groups``.
        """
        matrix = check_vectors(vectors, len(chunks), self.dim)
        check_chunks(doc, chunks)
        metadata_json, tenant, groups = acl_fields(doc)
        metadata_json = _json(metadata_json, f"Document {doc.id!r}: metadata")
        rows = []
        for chunk, vector in zip(chunks, matrix, strict=True):
            cid, doc_id, idx, text, start, end, headings, page, tokens, meta = chunk_row(chunk)
            headings = _json(headings, f"Chunk {chunk.id!r}: heading_path")
            meta = _json(meta, f"Chunk {chunk.id!r}: metadata")
            context = _text(f"{doc.title} {' > '.join(chunk.heading_path)}")
            rows.append((_text(cid), doc_id, idx, _text(text), start, end, headings, page,
                         tokens, meta, vector, index_text(_text(text)),
                         index_text(context)))  # fmt: skip
        s = self._s
        with self._write() as conn:
            lock_document(conn, self.schema, doc.id)
            removed = remove_chunks(conn, s, doc.id)
            conn.execute(f"DELETE FROM {s}.documents WHERE id = %s", (doc.id,))
            conn.execute(
                f"INSERT INTO {s}.documents (id, source, title, format, content_hash, text,"
                " chars, metadata, tenant, groups, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::text[], %s)",
                (_text(doc.id), _text(doc.source), _text(doc.title), _text(doc.format),
                 _text(doc.content_hash), _text(doc.text), len(doc.text), metadata_json,
                 None if tenant is None else _text(tenant), [_text(g) for g in groups],
                 time.time()),
            )  # fmt: skip
            if rows:
                self._insert_chunks(conn, doc.id, rows)
            apply_stats(conn, s, doc.id, removed)

    def _insert_chunks(self, conn: Any, doc_id: str, rows: list[tuple[Any, ...]]) -> None:
        """INSERT the chunk rows (their ``tsv`` built by the server); a chunk id stored for
        another document is the caller's ``ValueError``."""
        import psycopg

        s = self._s
        try:
            with conn.cursor() as cur:
                cur.executemany(
                    f'INSERT INTO {s}.chunks (id, doc_id, idx, text, start, "end",'
                    " heading_path, page, token_count, metadata, embedding, tsv) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s,"
                    f" setweight(to_tsvector({ts_config(s)}, %s), 'A')"
                    f" || setweight(to_tsvector({ts_config(s)}, %s), 'B'))",
                    rows,
                )
        except psycopg.errors.UniqueViolation as exc:
            raise ValueError(
                f"A chunk id of document {doc_id!r} is already stored for another "
                f"document: {exc.diag.message_detail or exc}"
            ) from exc

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its chunks; False if it was not stored."""
        with self._write() as conn:
            lock_document(conn, self.schema, doc_id)
            removed = remove_chunks(conn, self._s, doc_id)
            cur = conn.execute(f"DELETE FROM {self._s}.documents WHERE id = %s", (doc_id,))
            apply_stats(conn, self._s, None, removed)
            return bool(cur.rowcount)

    def search(self, query: Query, k: int) -> list[Hit]:
        """Dense KNN (``query.vector``) and/or full text (``query.text``), filters inside.

        Both set → the union of the two top-k lists; each hit carries ``ranks``/``scores``
        for "dense" (cosine similarity) and/or "sparse" (positive BM25). ``score`` is
        the dense similarity when present, else the text score. Order: hits by dense rank,
        then text-only hits by text rank (fusion is the retriever's job).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        vector = None if query.vector is None else check_query_vector(query.vector, self.dim)
        words = query_phrases(query.text) if query.text else []
        if vector is None and not words:
            return []
        filter_sql, params = (
            document_filter(self._s, query.filters) if query.filters.active else ("", [])
        )
        with self._read() as conn:
            dense = []
            if vector is not None:
                dense = knn(conn, self._s, vector, k, filter_sql, params,
                            self.settings.hnsw_ef_search or AUTO_EF_FLOOR)  # fmt: skip
            sparse = text_search(conn, self._s, words, k, filter_sql, params) if words else []
            rows = chunk_rows(conn, self._s, [r for r, _ in dense] + [r for r, _ in sparse])
        return merge(dense, sparse, rows)

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document (without text), ordered by id."""
        return iter(self._document_infos("", ()))

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk id → its stored vector (float32, as upserted); unknown ids are left out."""
        if not chunk_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT id, embedding FROM {self._s}.chunks WHERE id = ANY(%s::text[])",
                ([str(i) for i in chunk_ids],),
            ).fetchall()
        return {str(i): np.asarray(v.to_numpy(), dtype=np.float32) for i, v in rows}

    # ------------------------------------------------------------------------ extras

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        """What is stored about ``doc_id`` (no text), or None."""
        infos = self._document_infos(" WHERE d.id = %s", (doc_id,))
        return infos[0] if infos else None

    def hashes(self) -> dict[str, str]:
        """doc_id → content_hash of every stored document (drives incremental ingest)."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT id, content_hash FROM {self._s}.documents").fetchall()
        return {str(i): str(h) for i, h in rows}

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The stored chunks of ``doc_id`` in index order ([] if unknown)."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {CHUNK_SELECT} FROM {self._s}.chunks c WHERE c.doc_id = %s ORDER BY c.idx",
                (doc_id,),
            ).fetchall()
        return [chunk_from_row(row) for row in rows]

    def document_text(self, doc_id: str) -> str | None:
        """The stored ``Document.text`` of ``doc_id`` (chunk spans index into it), or None."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT text FROM {self._s}.documents WHERE id = %s", (doc_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def stats(self) -> dict[str, int | str]:
        """Counts, bytes of the tables and their indexes, embedder, dim, schema version."""
        s = self._s
        with self._read() as conn:
            documents, chunks, size = conn.execute(
                f"SELECT (SELECT count(*) FROM {s}.documents), (SELECT count(*) FROM {s}.chunks),"
                " (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                "  JOIN pg_namespace n ON n.oid = c.relnamespace"
                "  WHERE n.nspname = %s AND c.relkind = 'r')",
                (self.schema,),
            ).fetchone()
        return {
            "documents": int(documents),
            "chunks": int(chunks),
            "bytes": int(size),
            "embedder": self.embedder,
            "dim": self.dim,
            "schema_version": self.schema_version,
        }

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (e.g. what ingest recorded), or None."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT value FROM {self._s}.meta WHERE key = %s", (_text(key),)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table; the keys that describe the index are refused."""
        if key in RESERVED_META:
            raise ValueError(f"meta key {key!r} describes the index and cannot be changed")
        if "\x00" in key or "\x00" in str(value):
            raise ValueError(f"meta key {key!r}: PostgreSQL cannot store NUL characters")
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO {self._s}.meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def close(self) -> None:
        """Close the connection (idempotent); the handle cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return (
            f"PostgresStore({redact(self.url)!r}, schema={self.schema!r}, "
            f"embedder={self.embedder!r}, dim={self.dim}, {mode})"
        )

    # ---------------------------------------------------------------------- internals

    def _where(self) -> str:
        return f"the PostgreSQL index at {redact(self.url)} (schema {self.schema})"

    def _connection(self, *, register: bool = True) -> Any:
        """The open connection, opened again if a server restart broke it. ``register``:
        teach it pgvector's type (which exists once the schema does)."""
        if self._closed:
            raise StoreError(f"The handle on {self._where()} is closed.")
        if self._conn is None or self._conn.broken or self._conn.closed:
            self._conn = connect(self.url, self.schema)
            if register:
                _register_vector(self._conn)
        return self._conn

    def _document_infos(self, where: str, params: Sequence[Any]) -> list[DocumentInfo]:
        s = self._s
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_DOC_SELECT}, (SELECT count(*) FROM {s}.chunks c WHERE c.doc_id = d.id)"
                f" FROM {s}.documents d{where} ORDER BY d.id",
                params,
            ).fetchall()
        return [doc_info(row) for row in rows]

    def _write(self) -> Any:
        if self.read_only:
            raise StoreError(f"{self._where()} was opened read-only; it cannot be changed.")
        return self._transaction("READ WRITE")

    def _read(self) -> Any:
        return self._transaction("REPEATABLE READ, READ ONLY")

    @contextmanager
    def _transaction(self, mode: str) -> Iterator[Any]:
        """One transaction under the handle's lock; psycopg errors become ``StoreError``
        (a chunk id clash is the caller's ``ValueError`` and passes through)."""
        import psycopg

        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    if mode != "READ WRITE":
                        conn.execute(f"SET TRANSACTION ISOLATION LEVEL {mode}")
                    yield conn
            except psycopg.Error as exc:
                raise StoreError(f"{self._where()} failed: {type(exc).__name__}: {exc}") from exc
