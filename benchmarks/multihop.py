"""Query rewriting and multi-hop retrieval against single-shot search, on HotpotQA.

    .venv/bin/python benchmarks/multihop.py \\
        [--data ../shared/data/hotpotqa-dev100] [--llm-questions 50] \\
        [--out benchmarks/results/multihop.json]

"Open collection" setting: all passages of the folder are indexed once (packaged
all-MiniLM-L6-v2, title as each passage's title, the default settings otherwise) and every
question searches all of them. For each configuration: supporting-passage recall@k (share of
a question's 2 gold passages in the top k) and both@k (both found), k = 2, 5, 10.

The LLM-free configurations run on every question; those that call the local language model
(SmolLM2-135M-Instruct, one thread, about 5-10 s per call on a busy 2-core machine) run on
the first ``--llm-questions``, and every configuration is also scored on that same subset so
that the rows compare like with like. HotpotQA (CC BY-SA 4.0) is read from outside the
repository and never copied into it.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from expertly.config import Settings
from expertly.evaluate.hotpot import CUTOFFS, run_hotpot
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
LLM_FREE = [
    "dense",
    "sparse",
    "hybrid-nofeedback",
    "hybrid",
    "rewrite-keywords",
    "multihop-iterate",
    "multihop-decompose",
]
WITH_LLM = ["rewrite-multi", "rewrite-hyde", "multihop-iterate-llm", "multihop-decompose-llm"]


def subset_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean recall@k and both@k over ``rows`` (per-question records of one configuration)."""
    out = {}
    for k in CUTOFFS:
        for name in ("recall", "both"):
            out[f"{name}@{k}"] = round(sum(r[f"{name}@{k}"] for r in rows) / len(rows), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/hotpotqa-dev100")
    parser.add_argument("--llm-questions", type=int, default=50)
    parser.add_argument("--skip-llm", action="store_true", help="only the LLM-free rows")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/multihop.json")
    args = parser.parse_args()

    root = args.workspace or Path(tempfile.mkdtemp()) / "ws"
    parent = Workspace(root, Settings.load(args.workspace))
    index_dir = root / "eval" / "hotpotqa"
    started = time.perf_counter()

    def progress(name: str, done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"  {name}: {done}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)

    full = run_hotpot(parent, args.data, LLM_FREE, index_dir=index_dir, progress=progress)
    per_question = full.pop("per_question")
    n = args.llm_questions
    subset = {name: subset_metrics(rows[:n]) for name, rows in per_question.items()}
    latency = {name: c["latency_ms"] for name, c in full["configurations"].items()}
    llm_report: dict[str, Any] = {}
    if not args.skip_llm:
        llm_report = run_hotpot(
            parent, args.data, WITH_LLM, index_dir=index_dir, limit=n, progress=progress
        )
        for name, rows in llm_report.pop("per_question").items():
            subset[name] = subset_metrics(rows)
        latency.update({name: c["latency_ms"] for name, c in llm_report["configurations"].items()})
    result = {
        "benchmark": "supporting-passage recall, HotpotQA distractor dev (first 100), open "
        "collection",
        "command": ".venv/bin/python "
        f"benchmarks/multihop.py --llm-questions {n}" + (" --skip-llm" if args.skip_llm else ""),
        "machine": {"cpus": "2 cores, shared", "python": platform.python_version()},
        "llm": parent.settings.llm.model or "SmolLM2-135M-Instruct (packaged)",
        "llm_threads": parent.settings.llm.threads,
        "settings": full["settings"],
        "documents": full["documents"],
        "chunks": full["chunks"],
        "all_questions": {
            "questions": full["questions"],
            "configurations": {
                name: {"description": c["description"], **c["metrics"], "by_type": c["by_type"]}
                for name, c in full["configurations"].items()
            },
        },
        f"first_{n}_questions": {"questions": n, "configurations": subset},
        "latency_ms": latency,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("all_questions", f"first_{n}_questions")}, indent=1))


if __name__ == "__main__":
    main()
