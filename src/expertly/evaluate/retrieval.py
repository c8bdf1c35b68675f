"""Measure retrieval: run configurations over labelled queries, score them with ranx.

A *configuration* is a named way of searching (``dense``, ``sparse``, ``hybrid``; later
``+rerank``, ``+rewrite``) registered in ``CONFIGURATIONS``: a factory that turns a
Workspace into a ``Searcher`` (question, number of chunks → hits). Adding one is one
``register_configuration`` call; nothing else here changes.

The index holds chunks but judgements name documents, so every query retrieves
``chunk_k`` chunks (default 300, three times the deepest cut-off, Recall@100) and keeps each
document once, at the place of its best chunk: a document's score is the maximum over its
chunks. The metrics (nDCG@10, Recall@10, Recall@100, MRR@10) come from ranx, the same
definitions as BEIR's pytrec_eval; latency is the wall time of one search call, query
embedding included, measured after one untimed warm-up search.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from expertly.corpora import BeirDataset, EvalSet, Qrels, corpus_documents, load_questions
from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.evaluate.beir import IndexProgress, default_index_dir, eval_workspace, index_corpus
from expertly.evaluate.configurations import (
    CONFIGURATIONS,
    Configuration,
    parse_configurations,
)

if TYPE_CHECKING:
    from expertly.types import Hit
    from expertly.workspace import Workspace

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
"""ranx metric names, in table order."""
DEFAULT_CHUNK_K = 300
TOP_SHOWN = 10

QueryProgress = Callable[[str, int, int], None]
"""(configuration, queries done, queries in all) after each query."""


def require_ranx() -> Any:
    """The ranx module, or ``MissingDependencyError`` naming the extra to install.

    Called before any slow work so that a missing package fails at once, not after
    minutes of indexing. Imported lazily: ``import expertly`` must stay light.
    """
    try:
        import ranx
    except ImportError as exc:
        raise MissingDependencyError("ranx", extra="eval", purpose="retrieval metrics") from exc
    return ranx


@dataclass(frozen=True)
class QueryResult:
    """One query under one configuration: its documents best first, metrics, latency."""

    query_id: str
    ranking: list[tuple[str, float]]
    latency_ms: float
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigResult:
    """Mean metrics and latency percentiles of one configuration, plus every query."""

    name: str
    description: str
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    queries: list[QueryResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
        }


def rank_documents(hits: Iterable[Hit]) -> list[tuple[str, float]]:
    """(doc id, score) best first, each document once with its best chunk's score.

    Hits arrive best first, so a document's first hit is its best one: keeping first
    occurrences orders documents by their maximum chunk score, ties broken as the
    retriever broke them.
    """
    ranking: dict[str, float] = {}
    for hit in hits:
        ranking.setdefault(hit.chunk.doc_id, float(hit.score))
    return list(ranking.items())


def score_rankings(
    qrels: Qrels, rankings: Mapping[str, Sequence[tuple[str, float]]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean metrics, query id → metrics) computed by ranx.

    ranx sorts a run by score; tied scores (common with BM25) could then be ordered
    differently from what the retriever returned. The run therefore scores each document
    by its rank (n, n-1, ...), so ranx evaluates exactly the returned order.
    """
    ranx = require_ranx()
    run_dict = {
        qid: {doc: float(len(ranked) - i) for i, (doc, _) in enumerate(ranked)}
        for qid, ranked in ((q, rankings.get(q, ())) for q in qrels)
    }
    run = ranx.Run(run_dict)
    with warnings.catch_warnings():
        # numba's notice about an internal uint64→int64 cast in ranx's nDCG; harmless.
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        means = ranx.evaluate(ranx.Qrels(qrels), run, list(METRICS), make_comparable=True)
    per_query: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for metric in METRICS:
        for qid, value in run.scores[metric].items():
            per_query[str(qid)][metric] = float(value)
    return {m: float(means[m]) for m in METRICS}, per_query


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean latency in milliseconds (linear interpolation between queries)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    return {
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "mean": round(float(ms.mean()), 3),
    }


def evaluate_configuration(
    config: Configuration,
    ws: Workspace,
    evalset: EvalSet,
    *,
    chunk_k: int = DEFAULT_CHUNK_K,
    progress: QueryProgress | None = None,
) -> ConfigResult:
    """Run every query of ``evalset`` through ``config`` on ``ws``'s index and score it."""
    if chunk_k < 1:
        raise ExpertlyError(f"chunk_k must be >= 1, got {chunk_k}")
    searcher = config.build(ws)
    total = len(evalset.queries)
    if total:
        searcher(next(iter(evalset.queries.values())), chunk_k)  # warm-up: loads models
    rankings: dict[str, list[tuple[str, float]]] = {}
    latencies: dict[str, float] = {}
    for done, (qid, text) in enumerate(evalset.queries.items(), start=1):
        started = time.perf_counter()
        hits = searcher(text, chunk_k)
        latencies[qid] = time.perf_counter() - started
        rankings[qid] = rank_documents(hits)
        if progress is not None:
            progress(config.name, done, total)
    means, per_query = score_rankings(evalset.qrels, rankings)
    queries = [
        QueryResult(q, rankings[q], round(latencies[q] * 1000.0, 3), per_query.get(q, {}))
        for q in evalset.queries
    ]
    return ConfigResult(
        config.name, config.description, means, latency_summary(list(latencies.values())), queries
    )


def evaluate(
    ws: Workspace,
    evalset: EvalSet,
    configs: Sequence[str],
    *,
    chunk_k: int = DEFAULT_CHUNK_K,
    progress: QueryProgress | None = None,
) -> list[ConfigResult]:
    """Every configuration named in ``configs``, in that order, on the same queries."""
    require_ranx()
    return [
        evaluate_configuration(
            CONFIGURATIONS[name], ws, evalset, chunk_k=chunk_k, progress=progress
        )
        for name in parse_configurations(",".join(configs))
    ]


# ------------------------------------------------------------------------------ reports


@dataclass(frozen=True)
class EvalReport:
    """Everything one evaluation run measured; ``to_dict`` is the ``--json`` output."""

    dataset: str
    split: str
    evalset: EvalSet
    results: list[ConfigResult]
    counts: dict[str, Any]
    settings: dict[str, Any]
    index: dict[str, Any]
    limit: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "qrels": str(self.evalset.qrels_path),
            "limit": self.limit,
            "comparable": self.limit is None,
            "counts": self.counts,
            "configurations": {r.name: r.to_dict() for r in self.results},
            "settings": self.settings,
            "index": self.index,
            "seconds": round(self.seconds, 3),
        }

    def per_query(self) -> Iterator[dict[str, Any]]:
        """One ``--per-query`` record per (configuration, query): the query, its
        judgements, metrics, latency and top-10 documents."""
        for result in self.results:
            for q in result.queries:
                top = q.ranking[:TOP_SHOWN]
                yield {
                    "configuration": result.name,
                    "query_id": q.query_id,
                    "query": self.evalset.queries[q.query_id],
                    "relevant": self.evalset.qrels.get(q.query_id, {}),
                    "metrics": q.metrics,
                    "latency_ms": q.latency_ms,
                    "top10": [doc for doc, _ in top],
                    "top10_scores": [round(score, 6) for _, score in top],
                }


def build_report(
    ws: Workspace,
    evalset: EvalSet,
    results: list[ConfigResult],
    *,
    index: Mapping[str, Any],
    limit: int | None,
    chunk_k: int,
    seconds: float,
) -> EvalReport:
    """Gather counts and the settings that shaped the numbers (so a run can be redone)."""
    stats = ws.stats()
    indexed = ws.document_ids()
    pairs = [(q, d) for q, docs in evalset.qrels.items() for d in docs]
    s = ws.settings
    return EvalReport(
        dataset=evalset.name,
        split=evalset.split,
        evalset=evalset,
        results=results,
        counts={
            "documents": int(stats["documents"]),
            "chunks": int(stats["chunks"]),
            "queries": len(evalset.queries),
            "queries_in_split": evalset.total_queries,
            "judgements": len(pairs),
            "judged_documents_not_indexed": sum(1 for _, d in pairs if d not in indexed),
        },
        settings={
            "embedder": {
                "name": ws.embedder.name,
                "backend": s.embedder.backend,
                "model": s.embedder.model,
            },
            "chunking": asdict(s.chunking),
            "retrieval": asdict(s.retrieval),
            "chunk_k": chunk_k,
            "metrics": list(METRICS),
        },
        index=dict(index),
        limit=limit,
        seconds=seconds,
    )


def run_beir(
    parent: Workspace,
    dataset: BeirDataset,
    configs: Sequence[str],
    *,
    limit: int | None = None,
    rebuild: bool = False,
    index_dir: Path | None = None,
    chunk_k: int = DEFAULT_CHUNK_K,
    on_index: IndexProgress | None = None,
    on_query: QueryProgress | None = None,
) -> EvalReport:
    """Index ``dataset``'s corpus (or reuse its index) with ``parent``'s settings in
    ``index_dir`` (default ``<workspace>/eval/<dataset>-<embedder>``) and evaluate."""
    started = time.perf_counter()
    require_ranx()
    names = parse_configurations(",".join(configs))
    evalset = dataset.evalset.limited(limit)
    ws = eval_workspace(parent, index_dir or default_index_dir(parent, dataset.name))
    try:
        done = index_corpus(
            ws, list(corpus_documents(dataset.corpus_path)), rebuild=rebuild, progress=on_index
        )
        results = evaluate(ws, evalset, names, chunk_k=chunk_k, progress=on_query)
        index = {
            "path": str(done.path),
            "reused": done.reused,
            "documents_indexed": done.indexed,
            "documents_removed": done.removed,
            "seconds": round(done.seconds, 3),
        }
        return build_report(
            ws,
            evalset,
            results,
            index=index,
            limit=limit,
            chunk_k=chunk_k,
            seconds=time.perf_counter() - started,
        )
    finally:
        ws.close()


def run_questions(
    ws: Workspace,
    questions: Path,
    configs: Sequence[str],
    *,
    limit: int | None = None,
    chunk_k: int = DEFAULT_CHUNK_K,
    on_query: QueryProgress | None = None,
) -> EvalReport:
    """Evaluate a user's labelled questions against ``ws``'s own index (nothing is indexed)."""
    started = time.perf_counter()
    require_ranx()
    names = parse_configurations(",".join(configs))
    if not ws.has_index:
        raise ExpertlyError(
            f"Nothing is ingested in {ws.root}: run `expertly ingest <folder>` first"
        )
    evalset = load_questions(questions, ws.document_ids()).limited(limit)
    results = evaluate(ws, evalset, names, chunk_k=chunk_k, progress=on_query)
    return build_report(
        ws,
        evalset,
        results,
        index={"path": str(ws.index_path), "reused": True},
        limit=limit,
        chunk_k=chunk_k,
        seconds=time.perf_counter() - started,
    )
