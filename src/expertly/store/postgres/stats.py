"""BM25's statistics in the PostgreSQL store, kept in step with the chunks they describe.

``term_stats`` (lexeme → chunks holding it) and ``corpus_stats`` (chunk count, sum of
``tsv_length``) change inside the transaction that writes or removes a document's chunks,
so a search never sees a chunk without its counts or counts of a chunk that is gone.

Concurrent writers stay correct because every change is a relative one made under a row
lock: a term's count moves by ``INSERT ... ON CONFLICT DO UPDATE SET chunks = chunks + d``
(and rows that reach zero are deleted), the totals by ``UPDATE ... SET x = x + d``. Each
write locks its term rows in lexeme order and the totals row last, so two writers wait
for each other instead of deadlocking; two writers of the same document are serialised
by an advisory lock on its id, so each sees the other's chunks when it removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Removed:
    """What the removed chunks of one document contributed to the statistics."""

    terms: list[str] = field(default_factory=list)
    """Their lexemes, sorted, each once."""
    counts: list[int] = field(default_factory=list)
    """For each of ``terms``, how many of the removed chunks held it."""
    chunks: int = 0
    tokens: int = 0
    """Sum of the removed chunks' ``tsv_length``."""


def lock_document(conn: Any, schema: str, doc_id: str) -> None:
    """Serialise writers of ``doc_id`` until the transaction ends.

    Without it, a writer that removes a document's chunks while another replaces them
    could delete the other's new chunks through the cascade of the document row, and
    their counts would stay in the statistics.
    """
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{schema}\x1f{doc_id}",)
    )


def remove_chunks(conn: Any, s: str, doc_id: str) -> Removed:
    """Delete the chunks of ``doc_id`` and return what they counted for (one statement)."""
    row = conn.execute(
        f"""WITH gone AS (DELETE FROM {s}.chunks WHERE doc_id = %s RETURNING tsv, tsv_length),
            terms AS (
                SELECT t.term, count(*) AS n FROM gone, unnest(tsvector_to_array(gone.tsv))
                AS t(term) GROUP BY t.term
            )
            SELECT (SELECT count(*) FROM gone), (SELECT coalesce(sum(tsv_length), 0) FROM gone),
                   (SELECT coalesce(array_agg(term ORDER BY term), '{{}}') FROM terms),
                   (SELECT coalesce(array_agg(n ORDER BY term), '{{}}') FROM terms)""",
        (doc_id,),
    ).fetchone()
    chunks, tokens, terms, counts = row
    return Removed(
        terms=[str(t) for t in terms],
        counts=[int(n) for n in counts],
        chunks=int(chunks),
        tokens=int(tokens),
    )


def apply(conn: Any, s: str, doc_id: str | None, removed: Removed) -> None:
    """Move the statistics by the chunks now stored for ``doc_id`` minus ``removed``.

    ``doc_id`` None: nothing was added (a delete). Terms whose net change is zero are not
    touched, so re-writing an unchanged document locks no term rows.
    """
    added = "SELECT NULL::text AS term WHERE false"
    params: list[Any] = []
    if doc_id is not None:
        added = (
            f"SELECT t.term FROM {s}.chunks c, unnest(tsvector_to_array(c.tsv)) AS t(term)"
            " WHERE c.doc_id = %s"
        )
        params.append(doc_id)
    conn.execute(
        f"""INSERT INTO {s}.term_stats AS st (term, chunks)
            SELECT term, sum(n) FROM (
                SELECT term, 1 AS n FROM ({added}) AS a
                UNION ALL
                SELECT r.term, -r.n FROM unnest(%s::text[], %s::bigint[]) AS r(term, n)
            ) AS d GROUP BY term HAVING sum(n) <> 0 ORDER BY term
            ON CONFLICT (term) DO UPDATE SET chunks = st.chunks + excluded.chunks""",
        [*params, removed.terms, removed.counts],
    )
    if removed.terms:
        conn.execute(
            f"DELETE FROM {s}.term_stats WHERE term = ANY(%s::text[]) AND chunks <= 0",
            (removed.terms,),
        )
    if doc_id is None:
        now_chunks, now_tokens = 0, 0
    else:
        now_chunks, now_tokens = conn.execute(
            f"SELECT count(*), coalesce(sum(tsv_length), 0) FROM {s}.chunks WHERE doc_id = %s",
            (doc_id,),
        ).fetchone()
    d_chunks, d_tokens = int(now_chunks) - removed.chunks, int(now_tokens) - removed.tokens
    if d_chunks or d_tokens:
        conn.execute(
            f"UPDATE {s}.corpus_stats SET chunks = chunks + %s, tokens = tokens + %s",
            (d_chunks, d_tokens),
        )
