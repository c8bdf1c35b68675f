"""Pseudo-relevance feedback grid on a BEIR dataset, through expertly's own Retriever.

    .venv/bin/python benchmarks/scifact_feedback.py ../shared/data/scifact \
        --workspace /tmp/scifact-ws [--out benchmarks/results/scifact-feedback.json]

For each setting of ``retrieval.feedback`` (the share of the best fused chunk's vector added
to the query vector before a second dense search), ``retrieval.feedback_chunks`` and the
convex fusion's dense weight (BM25 gets the rest), every train and test query is searched
with ``Retriever.search(question, k=300)`` exactly as ``expertly eval retrieval``'s
``hybrid`` configuration searches, and nDCG@10 is computed on documents (best chunk per
document) for ``fit``, ``dev`` (train's held-out fifth) and ``test``. The setting is chosen
on all train queries (fit and dev together, ``ndcg@10_train``), with fit and dev shown apart
to see that a gain holds on both; test is reported, never used to choose.

The corpus must already be indexed with the default settings in
``<workspace>/eval/<dataset>-all-MiniLM-L6-v2`` (``expertly -w WS eval retrieval FOLDER``).
Query vectors are computed once and reused by every setting.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
from scifact_fusion import grid_arguments, ndcg10, split_queries

from expertly.config import RetrievalSettings, Settings
from expertly.retrieve.hybrid import Retriever
from expertly.workspace import Workspace

DEPTH = 300


class VectorMemo:
    """The workspace's embedder with every query vector kept (the grid repeats queries)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str], *, kind: str = "document") -> np.ndarray:
        missing = [t for t in texts if t not in self.memo]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing, kind=kind), strict=True):
                self.memo[text] = vector
        return np.stack([self.memo[t] for t in texts])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def grid() -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for dense_weight in (0.5, 0.6, 0.7):
        steps = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6) if dense_weight == 0.5 else (0.0, 0.2, 0.4, 0.6)
        for feedback in steps:
            for feedback_chunks in (1, 3) if feedback == 0.2 else (1,):
                points.append(
                    {
                        "dense_weight": dense_weight,
                        "sparse_weight": round(1 - dense_weight, 2),
                        "feedback": feedback,
                        "feedback_chunks": feedback_chunks,
                    }
                )
    return points


def main() -> None:
    args = grid_arguments(__doc__.splitlines()[0], "benchmarks/results/scifact-feedback.json")
    started = time.perf_counter()
    index = args.workspace / "eval" / f"{args.folder.name}-all-MiniLM-L6-v2"
    ws = Workspace(index, Settings())
    embedder = VectorMemo(ws.embedder)
    queries = split_queries(args.folder)
    embedder.embed([q[1] for q in queries], kind="query")
    base = replace(RetrievalSettings(), fusion="convex", normalization="minmax", rerank="")
    rows = []
    for point in grid():
        retriever = Retriever(ws.store, embedder, replace(base, **point))  # type: ignore[arg-type]
        per: dict[str, list[float]] = {"fit": [], "dev": [], "test": []}
        seconds = []
        for part, text, relevant in queries:
            t0 = time.perf_counter()
            hits = retriever.search(text, k=DEPTH).hits
            seconds.append(time.perf_counter() - t0)
            docs = np.array([h.chunk.doc_id for h in hits])
            per[part].append(ndcg10(docs, -np.arange(len(hits), dtype=float), relevant))
        row = {
            **point,
            **{f"ndcg@10_{s}": round(float(np.mean(v)), 4) for s, v in per.items()},
            "ndcg@10_train": round(float(np.mean(per["fit"] + per["dev"])), 4),
            "search_p50_ms": round(float(np.median(seconds)) * 1000, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    ws.close()
    best = max(rows, key=lambda r: r["ndcg@10_train"])
    report = {
        "dataset": args.folder.name,
        "queries": {s: sum(1 for q in queries if q[0] == s) for s in ("fit", "dev", "test")},
        "search": f"Retriever.search(k={DEPTH}), convex min-max fusion, no reranker; "
        "query embedding excluded (computed once)",
        "chosen_on_train": best,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(best))


if __name__ == "__main__":
    main()
