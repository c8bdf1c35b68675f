"""The SQL that replaces or removes one document in the PostgreSQL index.

``PostgresStore.upsert`` and ``delete`` run these in one transaction, after the input
checks of ``sqlite.rows``: the document's row, its chunks with their vectors and
tsvectors (removed by cascade with the document) and BM25's statistics
(``postgres.stats``) change together, under a lock on the document's id.

PostgreSQL text cannot hold NUL characters: in texts they are stored as U+FFFD
(``pg_text``: one character for one, so chunk spans stay valid); in jsonb they are
refused (``jsonb_text``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from expertly.store.postgres.schema import index_text, ts_config
from expertly.store.postgres.stats import apply as apply_stats
from expertly.store.postgres.stats import lock_document, remove_chunks
from expertly.store.sqlite.rows import chunk_row
from expertly.types import Chunk, Document


def pg_text(value: str) -> str:
    """``value`` storable as PostgreSQL text: NUL → U+FFFD (same length, spans stay valid)."""
    return value.replace("\x00", "\ufffd")


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""``\\u0000`` in JSON text, not preceded by an escaped backslash."""


def jsonb_text(value: str, what: str) -> str:
    """JSON text for a jsonb column; jsonb cannot hold ``\\u0000``, so it is refused."""
    if _NUL_ESCAPE.search(value):
        raise ValueError(f"{what} contains a NUL character, which PostgreSQL cannot store")
    return value


def chunk_values(
    doc: Document, chunks: Sequence[Chunk], matrix: np.ndarray
) -> list[tuple[Any, ...]]:
    """The INSERT parameters of each chunk (``insert_chunks``), NUL-safe; ``ValueError``
    for a NUL in a chunk's heading path or metadata."""
    rows = []
    for chunk, vector in zip(chunks, matrix, strict=True):
        cid, doc_id, idx, text, start, end, headings, page, tokens, meta = chunk_row(chunk)
        headings = jsonb_text(headings, f"Chunk {chunk.id!r}: heading_path")
        meta = jsonb_text(meta, f"Chunk {chunk.id!r}: metadata")
        context = pg_text(f"{doc.title} {' > '.join(chunk.heading_path)}")
        rows.append((pg_text(cid), doc_id, idx, pg_text(text), start, end, headings, page,
                     tokens, meta, vector, index_text(pg_text(text)),
                     index_text(context)))  # fmt: skip
    return rows


def replace_document(
    conn: Any,
    s: str,
    schema: str,
    doc: Document,
    acl: tuple[str, str | None, list[str]],
    rows: list[tuple[Any, ...]],
) -> None:
    """Replace whatever schema ``schema`` (quoted: ``s``) holds for ``doc.id`` with ``doc``
    and its chunk ``rows`` (``chunk_values``); ``acl`` is ``rows.acl_fields(doc)`` with
    the metadata checked by ``jsonb_text``."""
    metadata_json, tenant, groups = acl
    lock_document(conn, schema, doc.id)
    removed = remove_chunks(conn, s, doc.id)
    conn.execute(f"DELETE FROM {s}.documents WHERE id = %s", (doc.id,))
    conn.execute(
        f"INSERT INTO {s}.documents (id, source, title, format, content_hash, text,"
        " chars, metadata, tenant, groups, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::text[], %s)",
        (pg_text(doc.id), pg_text(doc.source), pg_text(doc.title), pg_text(doc.format),
         pg_text(doc.content_hash), pg_text(doc.text), len(doc.text), metadata_json,
         None if tenant is None else pg_text(tenant), [pg_text(g) for g in groups],
         time.time()),
    )  # fmt: skip
    if rows:
        insert_chunks(conn, s, doc.id, rows)
    apply_stats(conn, s, doc.id, removed)


def insert_chunks(conn: Any, s: str, doc_id: str, rows: list[tuple[Any, ...]]) -> None:
    """INSERT the chunk rows (their ``tsv`` built by the server); a chunk id stored for
    another document is the caller's ``ValueError``."""
    import psycopg

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


def delete_document(conn: Any, s: str, schema: str, doc_id: str) -> bool:
    """Remove ``doc_id`` and its chunks from schema ``schema`` (quoted: ``s``); False if
    it was not stored."""
    lock_document(conn, schema, doc_id)
    removed = remove_chunks(conn, s, doc_id)
    cur = conn.execute(f"DELETE FROM {s}.documents WHERE id = %s", (doc_id,))
    apply_stats(conn, s, None, removed)
    return bool(cur.rowcount)
