"""SQL building blocks of the SQLite store's search: the safe FTS5 query, the filter, and
the three queries a search runs (sqlite-vec KNN, FTS5 BM25, the hits' chunk rows).

The first two turn untrusted input (a user's question, a caller's ``Filters``) into SQL
text plus bound parameters. Values are never interpolated into SQL: only fixed fragments
are, and every user-supplied value travels as a ``?`` parameter.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import apsw
import numpy as np

from expertly.store.sqlite.rows import CHUNK_COLUMNS, plain
from expertly.store.sqlite.schema import BM25_WEIGHTS
from expertly.types import Filters

MAX_DENSE_K = 4096
"""sqlite-vec refuses KNN queries with a larger k."""

_BM25 = "bm25(chunks_fts, {})".format(", ".join(str(w) for w in BM25_WEIGHTS))

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64
"""A BM25 query keeps at most this many distinct terms (bounds the cost of huge inputs)."""


def query_phrases(text: str) -> list[str]:
    """The words of ``text`` that a BM25 search looks for, each once, in order.

    The text is NFKC-normalised and cut into words (``\\w+``), which drops every FTS5
    operator character (``"``, ``*``, ``(``, ``:``, ``^``, ``-``, ``+``); words repeated
    (case-insensitively) count once, and at most ``MAX_QUERY_TERMS`` are kept.
    """
    words = _WORD.findall(unicodedata.normalize("NFKC", text))
    seen: dict[str, None] = {}
    for word in words:
        seen.setdefault(word.lower(), None)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    return list(seen)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression that can never be a syntax error: ``"t1" OR "t2" ...``.

    Each of ``query_phrases(text)`` is quoted, so ``AND``/``OR``/``NOT``/``NEAR`` are plain
    words. Returns ``""`` when the text has no words: the caller must then skip the sparse
    search.
    """
    return " OR ".join(f'"{w}"' for w in query_phrases(text))


def document_filter(filters: Filters) -> tuple[str, list[Any]]:
    """``SELECT id FROM documents WHERE ...`` for the documents ``filters`` lets through.

    Semantics (see ``Filters``): ``tenant`` set → the document's tenant equals it or the
    document has none (public); ``groups`` not None → the document has no groups or shares
    one with ``groups`` (so ``()`` sees only group-less documents); ``doc_ids`` → only those
    ids; ``metadata`` → every key's value equals the document's (JSON-typed: ``1`` does not
    match ``"1"`` or ``true``). Filtering is per document because the ACL fields are.
    """
    where: list[str] = []
    params: list[Any] = []
    if filters.tenant is not None:
        where.append("(d.tenant IS NULL OR d.tenant = ?)")
        params.append(filters.tenant)
    if filters.groups is not None:
        where.append(
            "(NOT EXISTS (SELECT 1 FROM doc_groups g WHERE g.doc_id = d.id)"
            " OR EXISTS (SELECT 1 FROM doc_groups g WHERE g.doc_id = d.id"
            " AND g.grp IN (SELECT value FROM json_each(?))))"
        )
        params.append(json.dumps([str(g) for g in filters.groups]))
    if filters.doc_ids is not None:
        where.append("d.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps([str(d) for d in filters.doc_ids]))
    for key, value in filters.metadata.items():
        sql, args = _metadata_condition(str(key), value)
        where.append(sql)
        params.extend(args)
    sql = "SELECT d.id FROM documents d"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


def chunk_filter(filters: Filters) -> tuple[str, list[Any]]:
    """``SELECT rowid FROM chunks WHERE doc_id IN (<document_filter>)``.

    The document conditions are evaluated once per document, then the chunk rowids come
    from the ``chunks(doc_id, idx)`` index, so the cost follows the number of documents
    and of *matching* chunks, not the corpus size.
    """
    doc_sql, params = document_filter(filters)
    return f"SELECT c.rowid FROM chunks c WHERE c.doc_id IN ({doc_sql})", params


def _json_path(key: str) -> str:
    """The JSON path of a top-level object key, quoted so that dots and brackets are literal."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _metadata_condition(key: str, value: Any) -> tuple[str, list[Any]]:
    """A condition that ``documents.metadata[key]`` equals ``value``, type included."""
    path = _json_path(key)
    if value is None:
        return "json_type(d.metadata, ?) = 'null'", [path]
    if isinstance(value, bool):
        return "json_type(d.metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Filter on metadata {key!r}: {value} cannot be stored in JSON")
        return (
            "(json_type(d.metadata, ?) IN ('integer', 'real') AND json_extract(d.metadata, ?) = ?)",
            [path, path, value],
        )
    if isinstance(value, str):
        return (
            "(json_type(d.metadata, ?) = 'text' AND json_extract(d.metadata, ?) = ?)",
            [path, path, value],
        )
    if isinstance(value, list | tuple | Mapping):
        # Containers compare as JSON text: both sides are written with sorted keys
        # (see ``SQLiteStore.upsert``) and json() minifies both.
        try:
            encoded = json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Filter on metadata {key!r}: value is not JSON: {exc}") from exc
        return "(json(d.metadata -> ?) = json(?))", [path, encoded]
    raise ValueError(
        f"Filter on metadata {key!r}: {type(value).__name__} values are not supported; "
        "use str, int, float, bool, None, a list or a dict"
    )


def knn(
    conn: apsw.Connection, vector: np.ndarray, k: int, filter_sql: str, params: list[Any]
) -> list[tuple[int, float]]:
    """sqlite-vec's exact KNN: (rowid, cosine similarity) best first, filter inside."""
    sql = "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?"
    if filter_sql:
        sql += f" AND rowid IN ({filter_sql})"
    sql += " ORDER BY distance"
    rows = conn.execute(sql, (vector.tobytes(), min(k, MAX_DENSE_K), *params))
    # A zero vector (e.g. a text without words) has no cosine distance: NULL, skipped.
    return [(int(r), 1.0 - float(d)) for r, d in rows if d is not None]


def bm25_search(
    conn: apsw.Connection, match: str, k: int, filter_sql: str, params: list[Any]
) -> list[tuple[int, float]]:
    """FTS5 BM25: (rowid, positive score) best first, ties by rowid, filter inside."""
    sql = f"SELECT rowid, -{_BM25} AS score FROM chunks_fts WHERE chunks_fts MATCH ?"
    if filter_sql:
        # "+rowid": keep the IN constraint away from FTS5, which would otherwise re-run
        # the whole MATCH once per allowed rowid (seconds). SQLite then builds the
        # rowid list once and checks each match against it.
        sql += f" AND +rowid IN ({filter_sql})"
    sql += f" ORDER BY {_BM25}, rowid LIMIT ?"
    return [(int(r), float(s)) for r, s in conn.execute(sql, (match, *params, k))]


def chunk_rows(conn: apsw.Connection, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
    """rowid → ``CHUNK_COLUMNS`` + the document's source and title, for ``merge``."""
    if not rowids:
        return {}
    rows = conn.execute(
        f"SELECT c.rowid, {CHUNK_COLUMNS}, d.source, d.title FROM chunks c"
        " JOIN documents d ON d.id = c.doc_id"
        " WHERE c.rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(rowids))),),
    )
    return {int(row[0]): tuple(row[1:]) for row in rows}
