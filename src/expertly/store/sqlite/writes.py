"""The SQL that replaces or removes one document's rows in the SQLite index.

``SQLiteStore.upsert`` and ``delete`` run these inside one ``BEGIN IMMEDIATE``
transaction, after the input checks of ``sqlite.rows``: every row of a document (the
document, its groups, its chunks, their FTS rows and both vector tables) comes or goes
together. The FTS columns written here are the ones ``sqlite.sparse`` reads back
(``INDEXED_COLUMNS_SQL``), so the two change together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import apsw
import numpy as np

from expertly.store.sqlite.rows import chunk_row
from expertly.types import Chunk, Document


def insert_document(
    conn: apsw.Connection,
    doc: Document,
    chunks: Sequence[Chunk],
    matrix: np.ndarray,
    acl: tuple[str, str | None, list[str]],
) -> None:
    """INSERT ``doc``, its groups, its ``chunks`` with their FTS rows and their vectors
    (``matrix``, checked); ``acl`` is ``rows.acl_fields(doc)``. A chunk id stored for
    another document is a ``ValueError``."""
    metadata_json, tenant, groups = acl
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
        blob = vector.tobytes()
        conn.execute("INSERT INTO chunks_vec(rowid, embedding) VALUES (?, ?)", (rowid, blob))
        conn.execute("INSERT INTO chunk_vectors(rowid, embedding) VALUES (?, ?)", (rowid, blob))


def delete_rows(conn: apsw.Connection, doc_id: str) -> bool:
    """DELETE every row of ``doc_id``; False if it was not stored."""
    rowids = [(r[0],) for r in conn.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
    conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", rowids)
    conn.executemany("DELETE FROM chunks_vec WHERE rowid = ?", rowids)
    conn.executemany("DELETE FROM chunk_vectors WHERE rowid = ?", rowids)
    conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM doc_groups WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
    return conn.changes() > 0
