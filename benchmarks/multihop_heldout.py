"""Multi-hop constants chosen on one half of the HotpotQA questions, measured on the other.

    .venv/bin/python benchmarks/multihop_heldout.py \\
        [--data ../shared/data/hotpotqa-dev100] [--out benchmarks/results/multihop-heldout.json]

``benchmarks/multihop.py`` reports ``multihop = "iterate"`` with constants (passages read,
follow-up queries, weight of the reached passages, rounds) that were chosen while looking at
the same 100 questions. This benchmark removes that optimism by two-fold cross-validation:
the questions are split in two halves by a hash of their id; every setting of a small grid is
run on all questions (LLM-free, ``iterate`` and ``decompose``); for each half, the setting with
the best both@5 on the *other* half (R@5 breaks ties) is scored on this half, beside
single-shot hybrid search and the shipped defaults on the same half. The held-out estimate is
the mean over the two halves. Same index and "open collection" setting as multihop.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expertly.config import Settings
from expertly.evaluate.beir import eval_workspace, index_corpus
from expertly.evaluate.configurations import Configuration, register_configuration
from expertly.evaluate.hotpot import evaluate_hotpot, load_hotpot, passage_documents
from expertly.types import Hit
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("both@2", "recall@2", "both@5", "recall@5", "both@10", "recall@10")


def fold(question_id: str) -> int:
    """0 or 1, fixed by the id (not by the file's order)."""
    return hashlib.sha1(question_id.encode()).digest()[0] % 2


def grid() -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{"multihop": "off"}]
    for read in (1, 2, 3):
        for queries in (2, 4):
            for weight in (0.25, 0.5, 1.0):
                points.append(
                    {
                        "multihop": "iterate",
                        "multihop_read": read,
                        "multihop_queries": queries,
                        "multihop_weight": weight,
                        "multihop_hops": 2,
                    }
                )
    points.append({"multihop": "decompose", "multihop_hops": 3})
    return points


def point_name(point: dict[str, Any]) -> str:
    return "grid:" + "/".join(f"{k.removeprefix('multihop_')}={v}" for k, v in point.items())


def searcher(point: dict[str, Any]) -> Any:
    def build(ws: Workspace) -> Any:
        from expertly.retrieve.multihop import MultiHopRetriever

        settings = dataclasses.replace(ws.settings.retrieval, multihop_llm=False, **point)
        expander = MultiHopRetriever(ws.retriever, settings, llm=None)

        def search(question: str, k: int) -> Sequence[Hit]:
            return expander.search(question, k=k).hits

        return search

    return build


def mean(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/hotpotqa-dev100")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/multihop-heldout.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    root = args.workspace or Path(tempfile.mkdtemp()) / "ws"
    parent = Workspace(root, Settings.load(args.workspace))
    hotpot = load_hotpot(args.data)
    ws = eval_workspace(parent, root / "eval" / "hotpotqa")
    index_corpus(ws, list(passage_documents(hotpot.passages_path)))
    defaults = {
        "multihop": "iterate",
        **{
            k: getattr(ws.settings.retrieval, k)
            for k in ("multihop_read", "multihop_queries", "multihop_weight", "multihop_hops")
        },
    }
    points = grid()
    names = []
    for point in points:
        name = point_name(point)
        register_configuration(Configuration(name, json.dumps(point), searcher(point)))
        names.append(name)
    results = evaluate_hotpot(ws, hotpot, names)
    ws.close()
    rows = {r.name: r.per_question for r in results}
    halves: dict[int, dict[str, Any]] = {}
    for held in (0, 1):
        other = 1 - held

        def part(name: str, which: int) -> list[dict[str, Any]]:
            return [r for r in rows[name] if fold(r["id"]) == which]

        tuned = [n for n in names if not n.endswith("multihop=off")]
        chosen = max(
            tuned, key=lambda n: (mean(part(n, other))["both@5"], mean(part(n, other))["recall@5"])
        )
        halves[held] = {
            "questions": len(part(names[0], held)),
            "chosen_on_other_half": json.loads(
                next(r.description for r in results if r.name == chosen)
            ),
            "chosen_on_other_half_metrics_there": mean(part(chosen, other)),
            "held_out": {
                "single_shot_hybrid": mean(part(point_name({"multihop": "off"}), held)),
                "multihop_chosen_elsewhere": mean(part(chosen, held)),
                "multihop_shipped_defaults": mean(part(point_name(defaults), held)),
            },
        }
    estimate = {
        key: {m: round(sum(halves[h]["held_out"][key][m] for h in (0, 1)) / 2, 4) for m in METRICS}
        for key in halves[0]["held_out"]
    }
    report = {
        "benchmark": "multi-hop constants by two-fold cross-validation, HotpotQA dev (first 100),"
        " open collection",
        "command": ".venv/bin/python benchmarks/multihop_heldout.py",
        "machine": {"cpus": "2 cores", "python": platform.python_version()},
        "shipped_defaults": defaults,
        "grid_points": len(points),
        "halves": halves,
        "held_out_mean_of_halves": estimate,
        "all_questions": {r.name: r.metrics for r in results},
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"halves": halves, "held_out_mean_of_halves": estimate}, indent=1))


if __name__ == "__main__":
    main()
