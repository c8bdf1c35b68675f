"""Fusion grid on a BEIR dataset: RRF k and weights, convex fusion (min-max / z-score), BM25
query words, candidates per method. Every choice is read off the ``fit`` split (train
without its dev fifth) and checked on ``dev``; ``test`` is reported, never used to choose.

    .venv/bin/python benchmarks/scifact_fusion.py ../shared/data/scifact \
        --workspace /tmp/scifact-ws [--out benchmarks/results/scifact-fusion-grid.json]

The corpus must already be indexed with the default settings in
``<workspace>/eval/<dataset>-all-MiniLM-L6-v2`` (``expertly -w WS eval retrieval FOLDER``
does it). Each query is searched once (dense and BM25 top 300, plus BM25 on all words); the
grid then re-fuses those candidates in numpy. nDCG@10 is computed here on documents (best
chunk per document, binary relevance as in SciFact's qrels); the chosen settings are then
measured with ``expertly eval retrieval`` itself (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config import Settings
from expertly.corpora import is_dev_query, load_qrels, load_queries
from expertly.retrieve.hybrid import keyword_query
from expertly.types import Hit, Query
from expertly.workspace import Workspace

DEPTH = 300


def candidates(hits: list[Hit], full: list[Hit] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(doc ids, [dense rank, dense score, sparse rank, sparse score]) per chunk, NaN = absent.
    With ``full``, the sparse columns come from the all-words BM25 search instead."""
    rows: dict[str, list[Any]] = {}
    for h in hits:
        if full is not None and "dense" not in h.ranks:
            continue
        rows[h.chunk.id] = [
            h.chunk.doc_id,
            h.ranks.get("dense", np.nan),
            h.scores.get("dense", np.nan),
            np.nan if full is not None else h.ranks.get("sparse", np.nan),
            np.nan if full is not None else h.scores.get("sparse", np.nan),
        ]
    for h in full or []:
        row = rows.setdefault(h.chunk.id, [h.chunk.doc_id, np.nan, np.nan, np.nan, np.nan])
        row[3], row[4] = h.ranks["sparse"], h.scores["sparse"]
    docs = np.array([r[0] for r in rows.values()])
    return docs, np.array([r[1:] for r in rows.values()], dtype=float)


def ndcg10(docs: np.ndarray, score: np.ndarray, relevant: set[str]) -> float:
    order = np.lexsort((np.arange(len(score)), -score))
    top: list[str] = []
    for i in order:
        if docs[i] not in top:
            top.append(str(docs[i]))
            if len(top) == 10:
                break
    dcg = sum(1 / np.log2(i + 2) for i, d in enumerate(top) if d in relevant)
    idcg = sum(1 / np.log2(i + 2) for i in range(min(len(relevant), 10)))
    return float(dcg / idcg)


def normalise(x: np.ndarray, kind: str) -> np.ndarray:
    """As ``convex_fuse``: min-max or z-score over present values; absent → the lowest."""
    present = ~np.isnan(x)
    if not present.any():
        return np.zeros_like(x)
    v = x[present]
    low, spread = (v.min(), v.max() - v.min()) if kind == "minmax" else (v.mean(), v.std())
    if spread <= 0:
        same = 1.0 if kind == "minmax" else 0.0
        return np.where(present, same, same - 1.0)
    out = (x - low) / spread
    return np.where(present, out, np.nanmin(out[present]))


def fused(num: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    dr, ds, sr, ss = num.T
    n = p.get("candidates", DEPTH)
    dr = np.where(dr <= n, dr, np.nan)
    sr = np.where(sr <= n, sr, np.nan)
    ds = np.where(np.isnan(dr), np.nan, ds)
    ss = np.where(np.isnan(sr), np.nan, ss)
    if p["fusion"] == "dense":
        return np.where(np.isnan(dr), -1e9, -dr)
    if p["fusion"] == "sparse":
        return np.where(np.isnan(sr), -1e9, -sr)
    if p["fusion"] == "rrf":
        k = p["rrf_k"]
        return p["dense_weight"] * np.nan_to_num(1 / (k + dr)) + p["sparse_weight"] * np.nan_to_num(
            1 / (k + sr)
        )
    kind = p["normalization"]
    return p["dense_weight"] * normalise(ds, kind) + p["sparse_weight"] * normalise(ss, kind)


def grid() -> list[tuple[dict[str, Any], str]]:
    points: list[tuple[dict[str, Any], str]] = []
    for words in ("content", "all"):
        points.append(({"fusion": "sparse"}, words))
    points.append(({"fusion": "dense"}, "content"))
    for words in ("content", "all"):
        for k in (5, 10, 20, 30, 45, 60, 80, 100):
            for wd in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
                points.append(
                    ({"fusion": "rrf", "rrf_k": k, "dense_weight": wd, "sparse_weight": 1.0}, words)
                )
        for kind in ("minmax", "zscore"):
            for a in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                p = {"fusion": "convex", "normalization": kind, "dense_weight": a}
                points.append(({**p, "sparse_weight": round(1 - a, 2)}, words))
    for n in (50, 100):
        rrf = {"fusion": "rrf", "rrf_k": 60, "dense_weight": 1.0, "sparse_weight": 1.0}
        points.append(({**rrf, "candidates": n}, "content"))
        convex = {"fusion": "convex", "normalization": "minmax", "dense_weight": 0.5}
        points.append(({**convex, "sparse_weight": 0.5, "candidates": n}, "content"))
    return points


def split_queries(folder: Path) -> list[tuple[str, str, set[str]]]:
    """(part, query text, relevant doc ids) of every train and test query; part is ``fit``,
    ``dev`` (the train queries ``is_dev_query`` holds out) or ``test``."""
    texts = load_queries(folder / "queries.jsonl")
    out = []
    for split in ("train", "test"):
        for qid, relevant in load_qrels(folder / f"qrels-{split}.tsv").items():
            part = "test" if split == "test" else ("dev" if is_dev_query(qid) else "fit")
            out.append((part, texts[qid], set(relevant)))
    return out


def grid_arguments(description: str, default_out: str) -> argparse.Namespace:
    """The grid scripts' command line: the BEIR folder, the workspace, the output file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(default_out))
    return parser.parse_args()


def main() -> None:
    args = grid_arguments(__doc__.splitlines()[0], "benchmarks/results/scifact-fusion-grid.json")
    started = time.perf_counter()
    index = args.workspace / "eval" / f"{args.folder.name}-all-MiniLM-L6-v2"
    ws = Workspace(index, Settings())
    queries: list[tuple[str, set[str], dict[str, tuple[np.ndarray, np.ndarray]]]] = []
    for part, text, relevant in split_queries(args.folder):
        vector = ws.embedder.embed([text], kind="query")[0]
        hits = ws.store.search(Query(text=keyword_query(text), vector=vector), DEPTH)
        full = ws.store.search(Query(text=text), DEPTH)
        queries.append(
            (part, relevant, {"content": candidates(hits), "all": candidates(hits, full)})
        )
    ws.close()
    rows = []
    for params, words in grid():
        per: dict[str, list[float]] = {"fit": [], "dev": [], "test": []}
        for part, relevant, arrays in queries:
            docs, num = arrays[words]
            per[part].append(ndcg10(docs, fused(num, params), relevant))
        rows.append(
            {
                **params,
                "bm25_query": "content words" if words == "content" else "all words",
                **{f"ndcg@10_{s}": round(float(np.mean(v)), 4) for s, v in per.items()},
            }
        )
    best = max(rows, key=lambda r: r["ndcg@10_fit"])
    report = {
        "dataset": args.folder.name,
        "queries": {s: sum(1 for q in queries if q[0] == s) for s in ("fit", "dev", "test")},
        "chosen_on_fit": best,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(best))


if __name__ == "__main__":
    main()
