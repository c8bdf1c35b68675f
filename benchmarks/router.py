"""Router accuracy on a labelled mix of factual, writing, multi-step and general questions.

    .venv/bin/python benchmarks/router.py [--out benchmarks/results/router.json]

The questions (examples/router_questions.jsonl, 40 written for this purpose, none of them in
the shipped router examples) are about the sample corpus (examples/corpus, indexed into a
temporary workspace with the packaged MiniLM). Each classifier variant is measured in the
same run: rules only, rules + nearest examples, and rules + examples + index relevance (the
default), against the peer "always rag" (what a RAG-only stack does). Output: accuracy,
per-route recall, the confusion matrix, and the routing time per question (p50).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from expertly.answer.router import ROUTES, RouteClassifier, load_examples
from expertly.config import Settings
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def evaluate(name: str, classify: Any, rows: list[dict[str, str]]) -> dict[str, Any]:
    confusion: Counter[tuple[str, str]] = Counter()
    seconds, wrong = [], []
    for row in rows:
        t0 = time.perf_counter()
        decision = classify(row["question"])
        seconds.append(time.perf_counter() - t0)
        confusion[(row["route"], decision.route)] += 1
        if decision.route != row["route"]:
            wrong.append(
                {
                    "question": row["question"],
                    "gold": row["route"],
                    "routed": decision.route,
                    "reason": decision.reason,
                }
            )
    correct = sum(n for (gold, got), n in confusion.items() if gold == got)
    recall = {}
    for route in ROUTES:
        total = sum(n for (gold, _), n in confusion.items() if gold == route)
        if total:
            recall[route] = round(confusion[(route, route)] / total, 3)
    return {
        "name": name,
        "accuracy": round(correct / len(rows), 3),
        "correct": correct,
        "questions": len(rows),
        "recall": recall,
        "confusion": {f"{g}->{p}": n for (g, p), n in sorted(confusion.items())},
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "wrong": wrong,
    }


class _Always:
    def __init__(self, route: str) -> None:
        self.route, self.reason = route, "always"

    def __call__(self, question: str) -> _Always:
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/router.json"))
    args = parser.parse_args()
    rows = [
        json.loads(x)
        for x in (ROOT / "examples" / "router_questions.jsonl").read_text().splitlines()
        if x.strip()
    ]
    ws = Workspace(Path(tempfile.mkdtemp()) / "ws", Settings())
    ws.ingestor.ingest([ROOT / "examples" / "corpus"])
    embedder, retriever = ws.embedder, ws.retriever

    def embed(texts: Any) -> Any:
        return embedder.embed(texts, kind="query")

    def relevance(question: str) -> float:
        hits = retriever.search(question, k=1, mode="dense").hits
        return max((h.scores.get("dense", 0.0) for h in hits), default=0.0)

    examples = load_examples()
    min_rel = ws.settings.retrieval.min_relevance
    variants = [
        ("always rag (peer)", _Always("rag")),
        ("rules", RouteClassifier().classify),
        ("rules + examples", RouteClassifier(examples, embed).classify),
        (
            "rules + examples + index (default)",
            RouteClassifier(examples, embed, relevance=relevance, min_relevance=min_rel).classify,
        ),
    ]
    results = [evaluate(name, fn, rows) for name, fn in variants]
    out = {
        "questions": str(ROOT / "examples" / "router_questions.jsonl"),
        "embedder": embedder.name,
        "min_relevance": min_rel,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for r in results:
        print(
            f"{r['name']:<38} accuracy {r['accuracy']:.3f} ({r['correct']}/{r['questions']})"
            f"  recall {r['recall']}  p50 {r['p50_ms']} ms"
        )
    ws.close()


if __name__ == "__main__":
    main()
