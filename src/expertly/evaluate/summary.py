"""From per-answer records to ``compare.json``: every figure the report shows.

Per route: each metric's mean with a seeded 95% bootstrap interval, latency p50/p95, tokens,
CPU-seconds and cost; the same per ``kind`` and split into *seen* / *unseen* questions;
accuracy and macro-F1 for ``choices`` questions with the majority-class baseline; and, for
every pair of routes, McNemar's exact p-value on *correct* and a paired-bootstrap p-value on
token F1, over the questions both answered. The report is rendered from this dict alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from itertools import combinations
from typing import Any

import numpy as np

from expertly.embed import Embedder
from expertly.evaluate.compare import Skipped
from expertly.evaluate.metrics import macro_f1, score
from expertly.evaluate.questions import Question
from expertly.evaluate.stats import bootstrap_ci, mcnemar_p, paired_bootstrap_p, percentile

METRICS = (
    "correct",
    "em",
    "f1",
    "contains",
    "semantic",
    "grounded",
    "figures_ok",
    "citation_precision",
    "citation_recall",
    "abstain_right",
    "abstain_wrong",
    "adherence",
)
SCHEMA = 1


def semantic_similarity(
    embedder: Embedder, questions: Sequence[Question], records: Sequence[dict[str, Any]]
) -> list[float | None]:
    """Cosine similarity of each answer to its closest reference, with ``embedder``."""
    by_id = {q.id: q for q in questions}
    refs = sorted({a for q in questions for a in q.answers})
    answers = [r["text"] for r in records]
    if not refs or not answers:
        return [None] * len(records)
    vectors = np.asarray(embedder.embed(refs + answers, kind="passage"), dtype=float)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    index = {a: i for i, a in enumerate(refs)}
    out: list[float | None] = []
    for j, record in enumerate(records):
        q = by_id[record["id"]]
        if not q.answers or not record["text"].strip():
            out.append(None if not q.answers else 0.0)
            continue
        v = vectors[len(refs) + j]
        out.append(max(float(vectors[index[a]] @ v) for a in q.answers))
    return out


def score_records(
    questions: Sequence[Question],
    records: Sequence[dict[str, Any]],
    embedder: Embedder | None = None,
) -> list[dict[str, Any]]:
    """Each record with its ``scores`` added (semantic similarity when ``embedder`` is given)."""
    by_id = {q.id: q for q in questions}
    sims = (
        semantic_similarity(embedder, questions, records)
        if embedder is not None
        else [None] * len(records)
    )
    scored = []
    for record, sim in zip(records, sims, strict=True):
        scores = score(by_id[record["id"]], record)
        scores["semantic"] = sim
        bad = scores.pop("unsupported_figures")
        scores["unsupported_figures"] = bad
        scores["figures_ok"] = None if bad is None else float(not bad)
        scored.append({**record, "scores": scores})
    return scored


def _interval(values: Sequence[Any], seed: int) -> dict[str, float | int] | None:
    found = bootstrap_ci([float(v) for v in values if v is not None], seed=seed)
    return asdict(found) if found else None


def route_figures(
    rows: Sequence[dict[str, Any]],
    questions: dict[str, Question],
    *,
    price_per_1k: float,
    local: bool,
    seed: int,
) -> dict[str, Any]:
    """Every figure of one route over ``rows`` (its scored records)."""
    ok = [r for r in rows if "error" not in r]
    latencies = [r["latency_s"] for r in ok]
    tokens = [r["prompt_tokens"] + r["completion_tokens"] for r in ok]
    figures: dict[str, Any] = {
        "n": len(rows),
        "errors": len(rows) - len(ok),
        "metrics": {m: _interval([r["scores"].get(m) for r in rows], seed) for m in METRICS},
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "tokens_mean": float(np.mean(tokens)) if tokens else None,
        "cpu_s_total": float(sum(r["cpu_s"] for r in ok)),
        "cost_total": float(sum(tokens)) / 1000 * price_per_1k,
        "cost_unit": "cpu-seconds" if local and not price_per_1k else "price",
        "agent_steps_mean": float(np.mean([r["agent_steps"] for r in ok])) if ok else None,
        "routes_taken": dict(Counter(r["route_taken"] for r in ok)),
    }
    choice_rows = [r for r in rows if questions[r["id"]].choices]
    if choice_rows:
        gold = [questions[r["id"]].answers[0] for r in choice_rows]
        picked = [r["scores"].get("choice") for r in choice_rows]
        labels = sorted({c for r in choice_rows for c in questions[r["id"]].choices})
        figures["choices"] = {
            "n": len(choice_rows),
            "accuracy": _interval([float(p == g) for p, g in zip(picked, gold, strict=True)], seed),
            "macro_f1": macro_f1(picked, gold, labels),
            "unmapped": sum(1 for p in picked if p is None),
        }
    return figures


def summarise(
    questions: Sequence[Question],
    records: Sequence[dict[str, Any]],
    skipped: Sequence[Skipped] = (),
    *,
    embedder: Embedder | None = None,
    price_per_1k: float = 0.0,
    local: bool = True,
    seed: int = 13,
    meta: dict[str, Any] | None = None,
    warmup_s: dict[str, float] | None = None,
    updates: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The whole ``compare.json``: routes, per-kind and seen/unseen breakdowns, paired tests,
    choice baselines, skipped routes, and every scored record. ``warmup_s`` (a route's
    one-time model loading, outside its latencies) is reported per route when measured."""
    by_id = {q.id: q for q in questions}
    scored = score_records(questions, records, embedder)
    routes = list(dict.fromkeys(r["route"] for r in scored))

    def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return route_figures(rows, by_id, price_per_1k=price_per_1k, local=local, seed=seed)

    per_route = {route: [r for r in scored if r["route"] == route] for route in routes}
    kinds = sorted({q.kind for q in questions})
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "meta": {**(meta or {}), "seed": seed, "price_per_1k_tokens": price_per_1k},
        "questions": [asdict(q) for q in questions],
        "routes": {
            route: {**figures(rows), "warmup_s": (warmup_s or {}).get(route)}
            for route, rows in per_route.items()
        },
        "skipped": [asdict(s) for s in skipped],
        "by_kind": {
            kind: {
                route: figures([r for r in rows if by_id[r["id"]].kind == kind])
                for route, rows in per_route.items()
            }
            for kind in kinds
        },
        "seen": {
            label: {
                route: figures([r for r in rows if by_id[r["id"]].seen is flag])
                for route, rows in per_route.items()
            }
            for label, flag in (("seen", True), ("unseen", False))
            if any(q.seen is flag for q in questions)
        },
        "paired": paired_tests(per_route),
        "updates": list(updates),
        "update_summary": update_summary(updates),
        "records": scored,
    }
    choice_gold = [q.answers[0] for q in questions if q.choices and q.answers]
    if choice_gold:
        label, count = Counter(choice_gold).most_common(1)[0]
        result["majority_baseline"] = {"choice": label, "accuracy": count / len(choice_gold)}
    return result


def paired_tests(per_route: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """For each pair of routes, over the questions both answered without error: the
    difference in *correct*, McNemar's exact p, and the paired-bootstrap p on token F1."""
    tests = []
    for a, b in combinations(per_route, 2):
        left = {r["id"]: r["scores"] for r in per_route[a] if "error" not in r}
        right = {r["id"]: r["scores"] for r in per_route[b] if "error" not in r}
        common = [i for i in left if i in right]
        if not common:
            continue
        ca = [left[i]["correct"] for i in common]
        cb = [right[i]["correct"] for i in common]
        f1 = [i for i in common if left[i]["f1"] is not None and right[i]["f1"] is not None]
        tests.append(
            {
                "a": a,
                "b": b,
                "n": len(common),
                "correct_diff": (sum(ca) - sum(cb)) / len(common),
                "mcnemar_p": mcnemar_p(ca, cb),
                "f1_diff": (
                    float(np.mean([left[i]["f1"] - right[i]["f1"] for i in f1])) if f1 else None
                ),
                "f1_bootstrap_p": (
                    paired_bootstrap_p([left[i]["f1"] for i in f1], [right[i]["f1"] for i in f1])
                    if f1
                    else None
                ),
            }
        )
    return tests


def update_summary(updates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per route, over the volatile questions: how many answered the new fact and how many
    still the stale one, and the median time until the new fact: in seconds for routes that
    only re-ingest, in minutes (``unit``) for routes that were retrained, with the median
    training minutes and how the model was retrained."""
    out: dict[str, Any] = {}
    for route in dict.fromkeys(u["route"] for u in updates):
        rows = [u for u in updates if u["route"] == route]
        seconds = [u["seconds_to_new"] for u in rows if u["seconds_to_new"] is not None]
        trained = [u for u in rows if u.get("train_s") is not None]
        p50 = percentile(seconds, 50)
        out[route] = {
            "n": len(rows),
            "new": sum(u["answers_new"] for u in rows),
            "stale": sum(u["answers_stale"] for u in rows),
            "seconds_to_new_p50": p50,
            "unit": "minutes" if trained else "seconds",
            "minutes_to_new_p50": None if p50 is None else p50 / 60,
            "retrained": len(trained),
            "train_minutes_p50": percentile([u["train_s"] / 60 for u in trained], 50),
            "retrain_mode": next((u["retrained"]["mode"] for u in trained), None),
            "needs": next((u["needs"] for u in rows if u["needs"]), None),
        }
    return out
