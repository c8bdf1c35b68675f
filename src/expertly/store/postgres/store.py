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
  stay valid); in metadata they are refused (``postgres.writes``, the SQL of a write).

A handle holds one connection and is safe to share between threads (a lock serialises its
use); a connection broken by a server restart is opened again on the next call
(``postgres.connection``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

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
from expertly.store.postgres.connection import HandleConnection, register_vector
from expertly.store.postgres.query import (
    CHUNK_SELECT,
    chunk_rows,
    document_filter,
    knn,
    text_search,
)
from expertly.store.postgres.schema import RESERVED_META, ensure_schema, quoted, redact
from expertly.store.postgres.writes import (
    chunk_values,
    delete_document,
    jsonb_text,
    pg_text,
    replace_document,
)
from expertly.store.sqlite.hnsw import AUTO_EF_FLOOR
from expertly.store.sqlite.query import query_phrases
from expertly.store.sqlite.rows import (
    acl_fields,
    check_chunks,
    check_query_vector,
    check_vectors,
    chunk_from_row,
    doc_info,
    merge,
)
from expertly.types import Chunk, Document, DocumentInfo, Hit, Query

_DOC_SELECT = (
    "d.id, d.source, d.title, d.format, d.content_hash, d.chars, d.updated_at, d.metadata::text"
)
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


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
        self.dim = check_dim(dim)
        self.settings = settings or StoreSettings()
        if not _SCHEMA_NAME.fullmatch(self.settings.schema):
            raise ValueError(f"schema {self.settings.schema!r} is not a plain PostgreSQL name")
        self.url = url
        self.schema = self.settings.schema
        self.embedder = embedder
        self.read_only = read_only
        self._s = quoted(self.schema)
        self._connection = HandleConnection(url, self.schema)
        with self._connection.lock:
            conn = self._connection.get(register=False)
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
                register_vector(conn)
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
        metadata_json = jsonb_text(metadata_json, f"Document {doc.id!r}: metadata")
        rows = chunk_values(doc, chunks, matrix)
        with self._write() as conn:
            replace_document(conn, self._s, self.schema, doc, (metadata_json, tenant, groups), rows)

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its chunks; False if it was not stored."""
        with self._write() as conn:
            return delete_document(conn, self._s, self.schema, doc_id)

    def search(self, query: Query, k: int) -> list[Hit]:
        """Dense KNN (``query.vector``) and/or full text (``query.text``), filters inside.

        Both set → the union of the two top-k lists; each hit carries ``ranks``/``scores``
        for "dense" (cosine similarity) and/or "sparse" (positive BM25). ``score`` is
        the dense similarity when present, else the text score. Order: hits by dense rank,
        then text-only hits by text rank (fusion is the retriever's job).
        """
        check_k(k)
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
        return index_stats(
            int(documents),
            int(chunks),
            int(size),
            embedder=self.embedder,
            dim=self.dim,
            schema_version=self.schema_version,
        )

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (e.g. what ingest recorded), or None."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT value FROM {self._s}.meta WHERE key = %s", (pg_text(key),)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table; the keys that describe the index are refused."""
        check_meta_key(key, RESERVED_META)
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
        self._connection.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"PostgresStore({redact(self.url)!r}, schema={self.schema!r}, "
            f"embedder={self.embedder!r}, dim={self.dim}, {access(self.read_only)})"
        )

    # ---------------------------------------------------------------------- internals

    def _where(self) -> str:
        return self._connection.where()

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
            raise read_only_error(self._where())
        return self._connection.transaction("READ WRITE")

    def _read(self) -> Any:
        return self._connection.transaction("REPEATABLE READ, READ ONLY")
