"""SQL of the PostgreSQL store's search: the filter, the tsquery, HNSW KNN and ranked text.

Untrusted input (a user's question, a caller's ``Filters``) only ever travels as bound
parameters; the SQL text holds fixed fragments and the checked schema name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from expertly.store.postgres import pruning
from expertly.store.postgres.schema import CONTEXT_WEIGHT, TEXT_WEIGHT, ts_config
from expertly.store.sqlite.bm25 import K1, B
from expertly.store.sqlite.rows import plain
from expertly.types import Filters

MAX_EF_SEARCH = 1000
"""pgvector's largest ``hnsw.ef_search``."""

CHUNK_SELECT = (
    'c.id, c.doc_id, c.idx, c.text, c.start, c."end", c.heading_path::text, c.page,'
    " c.token_count, c.metadata::text"
)
"""The columns ``expertly.store.sqlite.rows.chunk_from_row`` reads, jsonb given as text."""

_TF = (
    f"(SELECT sum(CASE WHEN w = 'A' THEN {TEXT_WEIGHT!r}::float8"
    f" ELSE {CONTEXT_WEIGHT!r}::float8 END)"
    " FROM unnest(u.weights) AS w)"
)
"""BM25's term frequency of one lexeme in one chunk: its occurrences, each weighted by
where it stands (A: the chunk text, B: the title or headings), like FTS5's column weights."""


def _matched(tsv: str, lexemes: str) -> str:
    """SQL for the part of ``tsv`` that holds the lexemes ``lexemes`` (a text[]), weights kept.

    Built from tsvector functions (``setweight`` marks the query's lexemes with weight C,
    ``ts_filter`` keeps the marked positions), one pass for the chunk text (A) and one for
    the title and headings (B): reading only these few entries is three times faster than
    unnesting the whole tsvector of every candidate and filtering the rows.
    """
    parts = [
        f"setweight(ts_filter(setweight(ts_filter({tsv}, '{{{w}}}'), 'c', {lexemes}),"
        f" '{{c}}'), '{w}')"
        for w in ("a", "b")
    ]
    return " || ".join(parts)


def tsquery_from(words: list[str]) -> str:
    """A ``to_tsquery`` input that can never be a syntax error: ``'w1' | 'w2' | ...``.

    ``words`` are ``query_phrases(text)`` (NFKC, ``\\w+``, each once, at most 64), so no
    quote, backslash, operator or NUL byte is in them; each is quoted, so ``&``, ``!`` and
    ``<->`` cannot appear and ``not``/``or`` are plain words. Any word matches (OR), like
    the SQLite store's BM25. A word that ``\\w`` keeps whole but the parser cuts
    (``x_y``) becomes a phrase (``x <-> y``), as in FTS5.
    """
    return " | ".join(f"'{w}'" for w in words)


def document_filter(s: str, filters: Filters) -> tuple[str, list[Any]]:
    """``SELECT d.id FROM documents d WHERE ...`` for the documents ``filters`` lets through.

    The semantics are the SQLite store's (see ``Filters``): a tenant sees its own and the
    public (tenant-less) documents; ``groups`` sees group-less documents and those sharing
    a group (``()`` only group-less ones); ``metadata`` compares jsonb values, so the type
    counts (``1`` matches neither ``"1"`` nor ``true``) and a missing key matches nothing.
    """
    where: list[str] = []
    params: list[Any] = []
    if filters.tenant is not None:
        where.append("(d.tenant IS NULL OR d.tenant = %s)")
        params.append(filters.tenant)
    if filters.groups is not None:
        where.append("(cardinality(d.groups) = 0 OR d.groups && %s::text[])")
        params.append([str(g) for g in filters.groups])
    if filters.doc_ids is not None:
        where.append("d.id = ANY(%s::text[])")
        params.append([str(d) for d in filters.doc_ids])
    for key, value in filters.metadata.items():
        where.append("d.metadata -> %s = %s::jsonb")
        params.extend([str(key), _metadata_json(str(key), value)])
    sql = f"SELECT d.id FROM {s}.documents d"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


def _metadata_json(key: str, value: Any) -> str:
    """``value`` as JSON text for a jsonb comparison; ValueError for what JSON cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Filter on metadata {key!r}: {value} cannot be stored in JSON")
    if value is None or isinstance(value, str | int | float | list | tuple | Mapping):
        try:
            return json.dumps(plain(value), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Filter on metadata {key!r}: value is not JSON: {exc}") from exc
    raise ValueError(
        f"Filter on metadata {key!r}: {type(value).__name__} values are not supported; "
        "use str, int, float, bool, None, a list or a dict"
    )


def knn(
    conn: Any,
    s: str,
    vector: np.ndarray,
    k: int,
    filter_sql: str,
    params: list[Any],
    ef_search: int,
) -> list[tuple[int, float]]:
    """HNSW KNN by cosine distance: (rowid, cosine similarity) best first, filter inside.

    Runs inside the caller's transaction (``SET LOCAL``). ``ef_search`` is raised to k (at
    most 1000). With a filter, or a k beyond ``ef_search``, pgvector 0.8's iterative scan
    (``relaxed_order``) keeps walking the graph until k rows pass, so a selective filter
    still returns k hits; its rows may come slightly out of order, hence the sort here.
    """
    ef = min(max(ef_search, k), MAX_EF_SEARCH)
    iterative = "relaxed_order" if filter_sql or k > ef else "off"
    conn.execute(  # SET LOCAL, as one statement (one round trip)
        "SELECT set_config('hnsw.ef_search', %s, true),"
        " set_config('hnsw.iterative_scan', %s, true)",
        (str(ef), iterative),
    )
    sql, args = dense_sql(s, filter_sql, params, vector, k)
    found = []
    for rowid, distance in conn.execute(sql, args):
        # A zero vector has no cosine distance: NaN, skipped (as the SQLite store does).
        if distance is not None and not math.isnan(distance):
            found.append((int(rowid), 1.0 - float(distance)))
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return found


def dense_sql(
    s: str, filter_sql: str, params: list[Any], vector: np.ndarray, k: int
) -> tuple[str, list[Any]]:
    """The KNN statement and its parameters: ``ORDER BY embedding <=> q LIMIT k``, the
    form pgvector answers from the HNSW index."""
    sql = f"SELECT c.rowid, c.embedding <=> %s AS distance FROM {s}.chunks c"
    if filter_sql:
        sql += f" WHERE c.doc_id IN ({filter_sql})"
    sql += " ORDER BY c.embedding <=> %s LIMIT %s"
    return sql, [vector, *params, vector, k]


def text_search(
    conn: Any, s: str, words: list[str], k: int, filter_sql: str, params: list[Any]
) -> list[tuple[int, float]]:
    """BM25 over ``tsv``: (rowid, positive score) best first, ties by rowid.

    ``words`` are ``query_phrases`` of the question; ``rank_text`` runs the statements.
    """
    return rank_text(conn, s, words, k, filter_sql, params).rows


@dataclass(frozen=True)
class TextRanking:
    """``rank_text``'s answer and how it was found."""

    rows: list[tuple[int, float]]
    """(rowid, positive BM25 score) best first, ties by rowid."""
    runs: int
    """Ranking statements run: one per pruned plan tried, plus the full one if reached."""
    plan: str
    """The plan whose run gave ``rows`` (``pruning.Plan.name``), or ``full``."""


def rank_text(
    conn: Any, s: str, words: list[str], k: int, filter_sql: str, params: list[Any]
) -> TextRanking:
    """The full statement's top k (``bm25_sql``), found from fewer candidates when it can be.

    One statement reads the words' statistics, then each of ``pruning.plans`` runs with
    candidates from its words only (every candidate still scored with all of them) and is
    kept if its check holds (k rows, the k-th scoring above what any chunk left out could);
    else the full statement runs, as it always did. Same rows, scores and order either way.
    """
    terms, chunks, total = pruning.read_terms(conn, s, words)
    tried = pruning.plans(terms, chunks, total, k)
    for runs, plan in enumerate(tried, start=1):
        rows = _ranked(conn, *bm25_sql(s, words, k, filter_sql, params, plan.words))
        if plan.holds(rows, k):
            return TextRanking(rows=rows, runs=runs, plan=plan.name)
    rows = _ranked(conn, *bm25_sql(s, words, k, filter_sql, params))
    return TextRanking(rows=rows, runs=len(tried) + 1, plan="full")


def _ranked(conn: Any, sql: str, args: list[Any]) -> list[tuple[int, float]]:
    return [(int(r), float(v)) for r, v in conn.execute(sql, args)]


def bm25_sql(
    s: str,
    words: list[str],
    k: int,
    filter_sql: str,
    params: list[Any],
    candidates: list[str] | None = None,
) -> tuple[str, list[Any]]:
    """One statement that ranks the chunks matching any of ``candidates`` by BM25 over all
    of ``words`` (``candidates`` None: ``words``, the full statement).

    The SQLite store's ranking (FTS5's ``bm25()``, see ``sqlite.sparse``) with its
    constants and column weights, so that both stores order text matches alike::

        idf = ln((N - n + 0.5) / (n + 0.5)), 1e-6 when <= 0     (n: chunks holding the term)
        score = sum over the query's terms of
                idf x f x (k1 + 1) / (f + k1 x (1 - b + b x D / avgdl))

    Candidates come from the GIN index (``tsv @@ to_tsquery(...)`` of ``candidates``) with
    the filter in the same WHERE; f is read from each candidate's ``tsv`` (the positions of
    the term, weighted as ``_TF``), D is ``tsv_length``, n comes from ``term_stats`` and N
    and avgdl from ``corpus_stats``, statistics of the whole index whatever the filter (as
    FTS5's). A query word is stemmed by ``to_tsvector`` like the indexed text; two words
    with one stem count twice (FTS5 sums its phrases). The configuration keeps stop words,
    so "the" is a term too, with an idf near zero (as in FTS5). A word of several lexemes
    (``x_y``) finds its chunks as a phrase but scores as its lexemes, each with its own
    idf, where FTS5 counts the phrase's occurrences (rare in questions).

    Fewer ``candidates`` than ``words`` make a pruned run: a chunk holding only the other
    words is never scored, so its result is the full one's only when ``pruning.Plan.holds``
    says so (``rank_text`` checks, and runs the full statement otherwise).
    """
    terms = (
        f"SELECT t.lexeme AS term, count(*)::float8 AS qf FROM unnest(%s::text[]) AS q(word),"
        f" unnest(to_tsvector({ts_config(s)}, q.word)) AS t GROUP BY t.lexeme"
    )
    sql = f"""WITH terms AS MATERIALIZED ({terms}),
        totals AS MATERIALIZED (
            SELECT chunks::float8 AS n, tokens::float8 / greatest(chunks, 1) AS avgdl
            FROM {s}.corpus_stats LIMIT 1
        ),
        weights AS MATERIALIZED (
            SELECT terms.term, terms.qf * CASE WHEN r.idf > 0 THEN r.idf ELSE 1e-6 END AS idf
            FROM terms JOIN {s}.term_stats st ON st.term = terms.term CROSS JOIN totals,
            LATERAL (SELECT ln((totals.n - st.chunks::float8 + 0.5) / (st.chunks::float8 + 0.5)))
            AS r(idf)
        ),
        lexemes AS MATERIALIZED (SELECT array_agg(term) AS terms FROM weights)
        SELECT c.rowid, sum(w.idf * (f.tf * {K1 + 1.0!r}) / (f.tf + {K1!r}
               * (1 - {B!r} + {B!r} * c.tsv_length::float8 / totals.avgdl))) AS score
        FROM lexemes, totals, {s}.chunks c
        CROSS JOIN LATERAL unnest({_matched("c.tsv", "lexemes.terms")}) AS u
        JOIN weights w ON w.term = u.lexeme
        CROSS JOIN LATERAL {_TF} AS f(tf)
        WHERE c.tsv @@ to_tsquery({ts_config(s)}, %s)"""
    if filter_sql:
        sql += f" AND c.doc_id IN ({filter_sql})"
    sql += " GROUP BY c.rowid ORDER BY score DESC, c.rowid LIMIT %s"
    selecting = words if candidates is None else candidates
    return sql, [words, tsquery_from(selecting), *params, k]


def chunk_rows(conn: Any, s: str, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
    """rowid → chunk columns + the document's source and title, for ``rows.merge``."""
    if not rowids:
        return {}
    rows = conn.execute(
        f"SELECT c.rowid, {CHUNK_SELECT}, d.source, d.title FROM {s}.chunks c"
        f" JOIN {s}.documents d ON d.id = c.doc_id WHERE c.rowid = ANY(%s::bigint[])",
        (sorted(set(rowids)),),
    )
    return {int(row[0]): tuple(row[1:]) for row in rows}
