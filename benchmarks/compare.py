"""`expertly compare` (batched and one by one) against one `expertly ask` per question.

    .venv/bin/python benchmarks/compare.py [--questions examples/questions.jsonl] [--n 12]
        [--routes base,rag] [--batch-size 8] [--workspace WS]
        [--out benchmarks/results/compare.json]

In one run, on the same first ``--n`` questions, by the same routes, with the answer cache
off and the same settings:

- **ask loop**: one ``expertly ask QUESTION --route R --json`` process per question and route,
  as a script would do it; each process loads its models;
- **compare, defaults**: one ``expertly compare`` process as a user runs it (models loaded
  once; each route's default batch size: 8 closed-book, 1 for RAG on a CPU) — the headline;
- **compare batched**: the same with ``--batch-size N`` for every route (each route's
  questions generated ``N`` at a time in one padded greedy batch);
- **compare one by one**: the same with ``--batch-size 1``.

Reported: questions per minute of each (process start to exit, everything included) and
their ratios; answer tokens per second of each compare (a route's completion tokens over the
seconds its answers took, as ``results.jsonl`` records them); and how many answers of each
compare are word for word the ask loop's (greedy decoding, so all of them should be). Without
``--workspace`` a temporary one is made from ``examples/corpus``; the local model's one-time
conversion is paid before any timing starts. Absolute times on a shared machine are noise:
the ratios, measured in the same run, are the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def expertly(workspace: Path, *args: str) -> tuple[float, str]:
    """Seconds one ``expertly`` command takes and its standard output; a failure stops
    the benchmark."""
    env = {**os.environ, "EXPERTLY_CACHE__ANSWERS": "false"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        sys.exit(f"expertly {' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started, result.stdout


def run_compare(
    workspace: Path, questions: Path, routes: str, batch_size: int | None, out: Path
) -> tuple[float, list[dict[str, Any]]]:
    """Wall seconds of one ``expertly compare`` (``batch_size`` None: its default) and its
    records."""
    size = [] if batch_size is None else ["--batch-size", str(batch_size)]
    seconds, _ = expertly(
        workspace, "compare", str(questions), "--routes", routes, *size, "--out", str(out), "--json"
    )
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return seconds, [json.loads(line) for line in lines if line.strip()]


def tokens_per_s(records: list[dict[str, Any]]) -> float:
    """Completion tokens over the seconds the answers took (batched: each answer's share)."""
    seconds = sum(r["latency_s"] for r in records)
    return sum(r["completion_tokens"] for r in records) / seconds if seconds else 0.0


def figures(
    name: str, seconds: float, n: int, records: list[dict[str, Any]], loop: dict[Any, str]
) -> dict[str, Any]:
    return {
        f"{name}_s": round(seconds, 2),
        f"{name}_questions_per_min": round(n / seconds * 60, 2),
        f"{name}_tokens_per_s": round(tokens_per_s(records), 2),
        f"{name}_same_answer_as_ask": sum(
            r["text"] == loop[(r["id"], r["route"])] for r in records
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "examples" / "questions.jsonl")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--routes", default="base,rag")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compare.json"))
    args = parser.parse_args()
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    rows = [
        json.loads(line)
        for line in args.questions.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ][: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        workspace = args.workspace or base / "ws"
        started = time.perf_counter()
        if args.workspace is None:
            expertly(workspace, "ingest", str(ROOT / "examples" / "corpus"))
        expertly(workspace, "ask", "Warm-up question.", "--route", "base")  # converts the model
        setup_s = time.perf_counter() - started
        questions = base / "questions.jsonl"
        questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

        loop_s, loop = 0.0, {}
        for route in routes:
            for row in rows:
                seconds, stdout = expertly(
                    workspace, "ask", row["question"], "--route", route, "--no-cache", "--json"
                )
                loop_s += seconds
                loop[(row["id"], route)] = json.loads(stdout)["answer"]
        default_s, default = run_compare(workspace, questions, args.routes, None, base / "default")
        batched_s, batched = run_compare(
            workspace, questions, args.routes, args.batch_size, base / "batched"
        )
        single_s, single = run_compare(workspace, questions, args.routes, 1, base / "single")

    n = len(rows) * len(routes)
    result: dict[str, Any] = {
        "questions": len(rows),
        "routes": routes,
        "answers": n,
        "batch_size": args.batch_size,
        "setup_s": round(setup_s, 2),
        **figures("ask_loop", loop_s, n, [], loop),
        **figures("compare_default", default_s, n, default, loop),
        **figures("compare_batched", batched_s, n, batched, loop),
        **figures("compare_one_by_one", single_s, n, single, loop),
        "tokens_per_s_by_route": {
            route: {
                "batched": round(tokens_per_s([r for r in batched if r["route"] == route]), 2),
                "one_by_one": round(tokens_per_s([r for r in single if r["route"] == route]), 2),
            }
            for route in routes
        },
        "completion_tokens": {
            "batched": sum(r["completion_tokens"] for r in batched),
            "one_by_one": sum(r["completion_tokens"] for r in single),
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    result["compare_default_vs_ask_loop"] = round(loop_s / default_s, 2)
    result["compare_batched_vs_ask_loop"] = round(loop_s / batched_s, 2)
    result["compare_one_by_one_vs_ask_loop"] = round(loop_s / single_s, 2)
    result["batched_vs_one_by_one_questions_per_min"] = round(single_s / batched_s, 2)
    result["batched_vs_one_by_one_tokens_per_s"] = round(
        tokens_per_s(batched) / tokens_per_s(single), 2
    )
    for key in ("ask_loop_tokens_per_s", "ask_loop_same_answer_as_ask"):
        result.pop(key)  # the loop's own answers: nothing to compare them with
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
