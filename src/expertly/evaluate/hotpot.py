"""Multi-hop retrieval on HotpotQA-style data: supporting-passage recall.

A HotpotQA folder (as converted from the distractor dev set) holds ``passages.jsonl``
(``id``, ``title``, ``text``) and ``questions.jsonl`` (``id``, ``question``,
``gold_passage_ids``, ``type``). Every question needs two passages ("bridge": the second is
named only in the first; "comparison": two entities compared), so it measures whether
retrieval finds *both* supporting passages, not just one.

The evaluation uses the "open collection" setting: all passages are indexed in one
workspace (title as the document's title, as ingest treats a file) and every question is
searched against all of them. For each configuration and cut-off k it reports:

* ``recall@k`` — share of a question's gold passages among its top k documents, averaged;
* ``both@k`` — share of questions with *all* gold passages in the top k.

Configurations are the same registry ``expertly eval retrieval`` uses, so query rewriting
and multi-hop retrieval are compared with single-shot search on the same index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.corpora import corpus_documents
from expertly.errors import ExpertlyError
from expertly.evaluate.beir import eval_workspace, index_corpus
from expertly.evaluate.configurations import CONFIGURATIONS, parse_configurations
from expertly.evaluate.retrieval import latency_summary, rank_documents
from expertly.jsonl import read_jsonl
from expertly.types import Document

if TYPE_CHECKING:
    from expertly.workspace import Workspace

CUTOFFS = (2, 5, 10)
DEFAULT_CHUNK_K = 30
"""Chunks retrieved per question: HotpotQA passages are one chunk each, so 30 chunks give
well over the 10 documents the deepest cut-off needs."""

QueryProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class HotpotQuestion:
    """One multi-hop question with the ids of the passages that support its answer."""

    id: str
    question: str
    gold: tuple[str, ...]
    type: str = ""


@dataclass(frozen=True)
class HotpotSet:
    """A HotpotQA folder: where its passages are and its questions, in file order."""

    name: str
    passages_path: Path
    questions: list[HotpotQuestion]
    total_questions: int

    def limited(self, limit: int | None) -> HotpotSet:
        """The first ``limit`` questions (all when ``limit`` is None)."""
        if limit is None:
            return self
        if limit < 1:
            raise ExpertlyError(f"limit must be >= 1, got {limit}")
        return HotpotSet(self.name, self.passages_path, self.questions[:limit], len(self.questions))


def _text(path: Path, number: int, obj: dict[str, Any], key: str, *, required: bool) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ExpertlyError(f"{path}, line {number}: '{key}' must be a non-empty string")
    return value


def passage_documents(path: Path) -> Iterator[Document]:
    """One ``Document`` per passage: the title as the document's title, the text as its text."""
    return corpus_documents(path, id_key="id", noun="passage")


def load_hotpot(folder: Path) -> HotpotSet:
    """Check a HotpotQA folder and load its questions; every gold id must be a passage."""
    if not folder.is_dir():
        raise ExpertlyError(f"{folder}: no such folder (expected passages.jsonl, questions.jsonl)")
    passages = folder / "passages.jsonl"
    ids = {d.id for d in passage_documents(passages)}
    path = folder / "questions.jsonl"
    questions: list[HotpotQuestion] = []
    for number, obj in read_jsonl(path):
        gold = obj.get("gold_passage_ids")
        if not isinstance(gold, list) or not gold or not all(isinstance(g, str) for g in gold):
            raise ExpertlyError(
                f"{path}, line {number}: 'gold_passage_ids' must be a non-empty list of ids"
            )
        unknown = [g for g in gold if g not in ids]
        if unknown:
            raise ExpertlyError(
                f"{path}, line {number}: gold passage {unknown[0]!r} is not in {passages.name}"
            )
        questions.append(
            HotpotQuestion(
                id=_text(path, number, obj, "id", required=True),
                question=_text(path, number, obj, "question", required=True),
                gold=tuple(dict.fromkeys(gold)),
                type=str(obj.get("type", "")),
            )
        )
    if not questions:
        raise ExpertlyError(f"{path}: holds no question")
    return HotpotSet(folder.name, passages, questions, len(questions))


def supporting_recall(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of ``gold`` among the first ``k`` of ``ranked``."""
    top = set(ranked[:k])
    return sum(1 for g in gold if g in top) / len(gold)


@dataclass(frozen=True)
class HotpotResult:
    """One configuration: mean recall/both per cut-off (overall and per question type),
    latency, and each question's top-10 documents."""

    name: str
    description: str
    metrics: dict[str, float]
    by_type: dict[str, dict[str, float]]
    latency_ms: dict[str, float]
    per_question: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "metrics": self.metrics,
            "by_type": self.by_type,
            "latency_ms": self.latency_ms,
        }


def _means(rows: Sequence[dict[str, Any]], cutoffs: Sequence[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in cutoffs:
        for name in ("recall", "both"):
            values = [r[f"{name}@{k}"] for r in rows]
            out[f"{name}@{k}"] = round(sum(values) / len(values), 4) if values else 0.0
    return out


def evaluate_hotpot(
    ws: Workspace,
    hotpot: HotpotSet,
    configs: Sequence[str],
    *,
    cutoffs: Sequence[int] = CUTOFFS,
    chunk_k: int = DEFAULT_CHUNK_K,
    progress: QueryProgress | None = None,
) -> list[HotpotResult]:
    """Run every question through each configuration on ``ws``'s index and score it."""
    results = []
    for name in parse_configurations(",".join(configs)):
        config = CONFIGURATIONS[name]
        searcher = config.build(ws)
        searcher(hotpot.questions[0].question, chunk_k)  # warm-up: loads models, fills caches
        rows: list[dict[str, Any]] = []
        seconds: list[float] = []
        for done, q in enumerate(hotpot.questions, start=1):
            started = time.perf_counter()
            hits = searcher(q.question, chunk_k)
            seconds.append(time.perf_counter() - started)
            ranked = [doc for doc, _ in rank_documents(hits)]
            row: dict[str, Any] = {"id": q.id, "type": q.type, "top10": ranked[:10]}
            for k in cutoffs:
                recall = supporting_recall(ranked, q.gold, k)
                row[f"recall@{k}"] = recall
                row[f"both@{k}"] = float(recall == 1.0)
            rows.append(row)
            if progress is not None:
                progress(name, done, len(hotpot.questions))
        types = sorted({r["type"] for r in rows if r["type"]})
        results.append(
            HotpotResult(
                name=name,
                description=config.description,
                metrics=_means(rows, cutoffs),
                by_type={t: _means([r for r in rows if r["type"] == t], cutoffs) for t in types},
                latency_ms=latency_summary(seconds),
                per_question=rows,
            )
        )
    return results


def run_hotpot(
    parent: Workspace,
    folder: Path,
    configs: Sequence[str],
    *,
    index_dir: Path,
    limit: int | None = None,
    cutoffs: Sequence[int] = CUTOFFS,
    chunk_k: int = DEFAULT_CHUNK_K,
    progress: QueryProgress | None = None,
) -> dict[str, Any]:
    """Index ``folder``'s passages with ``parent``'s settings in ``index_dir`` (reused when
    unchanged) and evaluate ``configs``; the report as a JSON-ready dict."""
    started = time.perf_counter()
    names = parse_configurations(",".join(configs))
    hotpot = load_hotpot(folder).limited(limit)
    ws = eval_workspace(parent, index_dir)
    try:
        done = index_corpus(ws, list(passage_documents(hotpot.passages_path)))
        results = evaluate_hotpot(ws, hotpot, names, cutoffs=cutoffs, chunk_k=chunk_k,
                                  progress=progress)  # fmt: skip
        stats = ws.stats()
        return {
            "dataset": hotpot.name,
            "setting": "open collection (every question searches all passages)",
            "questions": len(hotpot.questions),
            "questions_in_set": hotpot.total_questions,
            "documents": int(stats["documents"]),
            "chunks": int(stats["chunks"]),
            "settings": {
                "embedder": ws.embedder.name,
                "chunking": asdict(ws.settings.chunking),
                "retrieval": asdict(ws.settings.retrieval),
            },
            "cutoffs": list(cutoffs),
            "chunk_k": chunk_k,
            "index": {
                "path": str(done.path),
                "reused": done.reused,
                "seconds": round(done.seconds, 3),
            },
            "configurations": {r.name: r.to_dict() for r in results},
            "per_question": {r.name: r.per_question for r in results},
            "seconds": round(time.perf_counter() - started, 3),
        }
    finally:
        ws.close()
