"""`expertly compare` against one `expertly ask` per question: questions per minute.

    .venv/bin/python benchmarks/compare.py WORKSPACE QUESTIONS.jsonl [--n 5] [--route rag]
        [--out benchmarks/results/compare.json]

Both sides answer the same first ``--n`` questions by the same route, in the same run, with
the answer cache off: the loop starts one ``expertly ask`` process per question (each loads
its models), ``compare`` loads them once. The ratio of questions per minute is the figure;
absolute times on a shared machine are noise. Batched generation is not measured here yet.
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


def expertly(workspace: Path, *args: str) -> float:
    """Seconds one ``expertly`` command takes; a failure stops the benchmark."""
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
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--route", default="rag")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compare.json"))
    args = parser.parse_args()
    with args.questions.open(encoding="utf-8") as fh:
        questions = [json.loads(line)["question"] for line in fh if line.strip()][: args.n]
    loop = sum(expertly(args.workspace, "ask", q, "--mode", args.route) for q in questions)
    with tempfile.TemporaryDirectory() as tmp:
        batch = expertly(
            args.workspace,
            "compare",
            str(args.questions),
            "--routes",
            args.route,
            "--limit",
            str(len(questions)),
            "--out",
            tmp,
            "--json",
        )
    n = len(questions)
    result = {
        "questions": n,
        "route": args.route,
        "ask_loop_s": round(loop, 2),
        "compare_s": round(batch, 2),
        "ask_loop_questions_per_min": round(n / loop * 60, 2),
        "compare_questions_per_min": round(n / batch * 60, 2),
        "ratio": round(loop / batch, 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
