"""Rerankers on a BEIR dataset, at several ``retrieval.rerank_weight`` values in one pass.

    .venv/bin/python benchmarks/scifact_reranker.py ../shared/data/scifact \
        --workspace /tmp/scifact-ws --split dev \
        --reranker cross-encoder=/tmp/scifact-ws/models/reranker-scifact-fit --reranker maxsim \
        --weights 0.2,0.4,0.5,0.6,0.8,1.0 --out benchmarks/results/scifact-reranker-dev.json

Each query is searched once (hybrid, the workspace's settings, no reranker, the 300 chunks
``expertly eval retrieval`` ranks); each reranker scores the best ``--candidates`` fused
chunks once, and every weight re-mixes those scores with ``rescored`` (the function the
Retriever applies), so a weight's figures are the ones ``expertly eval retrieval`` gives
with ``EXPERTLY_RETRIEVAL__RERANK_WEIGHT``. Metrics are ranx's (``score_rankings``). The
``llm`` reranker asks the workspace's LLM (``--reranker llm``; one call per candidate, so
use few ``--candidates`` and a ``--limit``). Choose weights on ``dev``; ``test`` once.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from expertly.corpora import load_beir
from expertly.evaluate.beir import default_index_dir, eval_workspace
from expertly.evaluate.retrieval import DEFAULT_CHUNK_K, rank_documents, score_rankings
from expertly.retrieve.rerank import LLMReranker, Reranker, create_reranker, rescored
from expertly.types import Hit
from expertly.workspace import Workspace


class WrittenWordJudge:
    """The workspace's LLM without ``choice_logprobs``: the ``llm`` reranker then reads the
    yes/no word the model writes, as it does with a model that gives no log-probabilities
    (e.g. most OpenAI-compatible endpoints)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.name = llm.name
        self.context_window = llm.context_window

    def generate(self, messages: Any, **kw: Any) -> Any:
        return self.llm.generate(messages, **kw)

    def stream(self, messages: Any, **kw: Any) -> Any:
        return self.llm.stream(messages, **kw)

    def count_tokens(self, messages: Any) -> int:
        return int(self.llm.count_tokens(messages))


def build(spec: str, ws: Workspace) -> Reranker:
    """``cross-encoder=DIR``, ``maxsim[=DIR]``, ``llm`` (the yes/no word the model writes)
    or ``llm-logprob`` (log P(Yes) - log P(No) from ``TransformersLLM.choice_logprobs``, what
    ``retrieval.rerank = "llm"`` does with the local model): the reranker, weight 1."""
    name, _, model = spec.partition("=")
    if name == "llm":
        return LLMReranker(WrittenWordJudge(ws.llm))
    if name == "llm-logprob":
        name = "llm"
    settings = replace(ws.settings.retrieval, rerank=name, rerank_model=model, rerank_weight=1.0)
    reranker = create_reranker(settings, llm=lambda: ws.llm)
    assert reranker is not None
    return reranker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--reranker", action="append", required=True)
    parser.add_argument("--weights", default="0.2,0.4,0.5,0.6,0.8,1.0")
    parser.add_argument("--candidates", type=int, default=0, help="0: retrieval.rerank_candidates")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    weights = [float(w) for w in args.weights.split(",")]
    parent = Workspace(args.workspace)
    dataset = load_beir(args.folder, split=args.split)
    evalset = dataset.evalset.limited(args.limit)
    ws = eval_workspace(parent, default_index_dir(parent, dataset.name))
    if not ws.index_path.exists():
        raise SystemExit(f"{ws.root} holds no index: run expertly eval retrieval first")
    candidates = args.candidates or ws.settings.retrieval.rerank_candidates
    rerankers = {spec: build(spec, ws) for spec in args.reranker}
    retriever = ws.retriever
    fused: dict[str, list[Hit]] = {}
    for qid, text in evalset.queries.items():
        fused[qid] = retriever.search(text, k=DEFAULT_CHUNK_K, mode="hybrid", rerank=False).hits
    results: dict[str, Any] = {
        "hybrid": score_rankings(evalset.qrels, {q: rank_documents(h) for q, h in fused.items()})[0]
    }
    timing: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for spec, reranker in rerankers.items():
        first = next(iter(evalset.queries.values()))
        reranker.rerank(first, fused[next(iter(fused))][:2], 2)  # load the model first
        scores: dict[str, list[float]] = {}
        started = time.perf_counter()
        for qid, text in evalset.queries.items():
            head = fused[qid][:candidates]
            ranked = reranker.rerank(text, head, len(head))
            by_id = {h.chunk.id: h.scores["rerank"] for h in ranked}
            scores[qid] = [by_id[h.chunk.id] for h in head]
        timing[spec] = (time.perf_counter() - started) / max(1, len(evalset.queries))
        if isinstance(reranker, LLMReranker):
            extra[spec] = {
                "calls": reranker.calls,
                "accepted": reranker.accepted,
                "unparsed": reranker.unparsed,
            }
        for weight in weights:
            rankings = {}
            for qid, hits in fused.items():
                head = hits[:candidates]
                mixed = rescored(head, scores[qid], len(head), weight=weight)
                rankings[qid] = rank_documents(mixed + hits[len(head) :])
            results[f"{spec} @ {weight}"] = score_rankings(evalset.qrels, rankings)[0]
        print(spec, f"{timing[spec]:.2f} s/query", flush=True)
    for name, metrics in results.items():
        print(f"{name:60s} " + " ".join(f"{m} {v:.4f}" for m, v in metrics.items()))
    report = {
        "dataset": dataset.name,
        "split": args.split,
        "queries": len(evalset.queries),
        "queries_in_split": evalset.total_queries or len(dataset.evalset.queries),
        "comparable": args.limit is None,
        "candidates": candidates,
        "chunks_ranked": DEFAULT_CHUNK_K,
        "weights": weights,
        "rerank_seconds_per_query": {k: round(v, 3) for k, v in timing.items()},
        "llm_answers": extra,
        "metrics": {k: {m: round(v, 4) for m, v in ms.items()} for k, ms in results.items()},
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
