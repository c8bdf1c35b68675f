"""Search latency: `expertly search` (embed + hybrid search) p50/p95 on a synthetic corpus.

    .venv/bin/python benchmarks/query.py [--documents 5000] [--queries 200]

The peer measured in the same run is the floor: embedding the query alone with the same
model. Reported: p50/p95 of embed-only, of the store search alone (dense, sparse, hybrid
candidates) and of the whole hybrid search, and ratios to the floor. Target: hybrid p50 <= 20 ms.
The corpus (one ~60-word section per document) is ingested once into a temporary workspace
(about two minutes at 5k documents).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from corpus import queries, write_corpus

from expertly.types import Query
from expertly.workspace import Workspace


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workspace", type=Path, default=None, help="reuse an ingested workspace")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/query.json"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-"))
    ws = Workspace(args.workspace or tmp / "ws")
    t0 = time.perf_counter()
    report = ws.ingestor.ingest([write_corpus(tmp / "corpus", args.documents, paragraphs=1)])
    ingest_s = time.perf_counter() - t0
    stats = ws.store.stats()
    qs = queries(args.queries)
    ws.retriever.search("warm up")

    embed_t, dense_t, sparse_t, hybrid_t = [], [], [], []
    for q in qs:
        t = time.perf_counter()
        vec = ws.embedder.embed([q], kind="query")[0]
        embed_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ws.store.search(Query(vector=vec), ws.settings.retrieval.candidates)
        dense_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ws.store.search(Query(text=q), ws.settings.retrieval.candidates)
        sparse_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ws.retriever.search(q)
        hybrid_t.append(time.perf_counter() - t)

    floor = statistics.median(embed_t) * 1000
    result = {
        "benchmark": "query",
        "documents": stats.get("documents"),
        "chunks": stats.get("chunks"),
        "queries": len(qs),
        "ingest_seconds": round(ingest_s, 1),
        "ingested_chunks": report.chunks_written,
        "ms": {
            "embed_query_p50": round(floor, 2),
            "store_dense_p50": round(pct(dense_t, 0.5), 2),
            "store_sparse_p50": round(pct(sparse_t, 0.5), 2),
            "hybrid_search_p50": round(pct(hybrid_t, 0.5), 2),
            "hybrid_search_p95": round(pct(hybrid_t, 0.95), 2),
        },
        "hybrid_p50_over_embed_floor": round(pct(hybrid_t, 0.5) / floor, 2),
        "target_hybrid_p50_ms": 20,
    }
    ws.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
