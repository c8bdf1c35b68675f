"""The SQLite store's BM25 copy with and without the rarest-phrases-first search.

    PYTHONPATH=src .venv/bin/python benchmarks/sqlite_bm25.py [--chunks 200000]
        [--queries 200] [--k 50] [--out benchmarks/results/sqlite_bm25.json]

Corpus and questions are ``scale.py``'s for the same ``--chunks`` and ``--queries`` (same
generator, same seed): chunk texts of Zipf-distributed words, questions of three such words,
so most questions hold a word that most chunks hold. The index is written once with
``SQLiteStore.upsert`` into a temporary folder. Per question, interleaved, one thread, each
search as the store runs it (``SQLiteStore.search`` with text only, the postings copy in
use): ``full`` scores every row holding a question word (``bm25.PRUNE_MIN_POSTINGS`` set
out of reach), ``pruned`` is the default. Reported: p50 / p95 of each, how many questions
the pruned search answered (the others fall back to the full one), and that both gave the
same rowids and scores for every question.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from postgres_store import DIM, pct, write
from scale import workload

from expertly.config import StoreSettings
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite import bm25 as sqlite_bm25
from expertly.types import Query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=50, help="hits per search (retrieval.candidates)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sqlite_bm25.json"))
    args = parser.parse_args()
    vectors, docs, _, texts = workload(args.chunks, args.queries)
    settings = StoreSettings(vector_cache="off", sparse_cache="on")
    shipped = sqlite_bm25.PRUNE_MIN_POSTINGS
    answered = 0
    real = sqlite_bm25.Scorer.pruned

    def counting(self: sqlite_bm25.Scorer, *a: object) -> object:
        nonlocal answered
        found = real(self, *a)  # type: ignore[arg-type]
        answered += found is not None
        return found

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bm25.sqlite"
        with SQLiteStore(path, dim=DIM, embedder="bench", settings=settings) as writer:
            ingest_s = write(writer, docs, vectors)
        times: dict[str, list[float]] = {"full": [], "pruned": []}
        same = 0
        with SQLiteStore(path, dim=DIM, embedder="bench", settings=settings) as store:
            started = time.perf_counter()
            store.search(Query(text=texts[0]), args.k)
            load_s = time.perf_counter() - started
            sqlite_bm25.Scorer.pruned = counting  # type: ignore[method-assign]
            for i, text in enumerate(texts):
                found = {}
                for name in ("full", "pruned") if i % 2 else ("pruned", "full"):
                    sqlite_bm25.PRUNE_MIN_POSTINGS = shipped if name == "pruned" else 10**15
                    t0 = time.perf_counter()
                    hits = store.search(Query(text=text), args.k)
                    times[name].append(time.perf_counter() - t0)
                    found[name] = [(h.chunk.id, h.score) for h in hits]
                same += found["full"] == found["pruned"]
            postings = store._sparse.postings()
    sqlite_bm25.PRUNE_MIN_POSTINGS = shipped
    result = {
        "benchmark": "sqlite_bm25",
        "chunks": len(vectors),
        "queries": len(texts),
        "k": args.k,
        "postings": postings,
        "ingest_s": round(ingest_s, 1),
        "copies_read_s": round(load_s, 2),
        "prune_min_postings": shipped,
        "ms": {name: {"p50": pct(v, 0.5), "p95": pct(v, 0.95)} for name, v in times.items()},
        "answered_by_pruned_search": answered,
        "same_rowids_and_scores": same,
        "load_average": os.getloadavg(),
    }
    result["p50_full_over_pruned"] = round(
        result["ms"]["full"]["p50"] / result["ms"]["pruned"]["p50"], 2
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
