"""Start-up cost of the python tool's confinement, against the ways it could be built.

    .venv/bin/python benchmarks/sandbox_startup.py [--runs 20]

Each candidate starts ``python -I -S -c pass`` (the interpreter as the tool starts it) and
waits for it; the runs of all candidates are interleaved, and the median and 90th
percentile of the wall time are reported, with the median's ratio to plain ``python``:

    python            no confinement (the floor)
    unshare_net       ``unshare -rn`` (what the tool did before: network namespace only)
    unshare_by_hand   ``unshare`` user+mount+PID+net namespaces, a noexec tmpfs mounted by
                      ``sh``+``mount``, ``setpriv --no-new-privs``: assembling it by hand,
                      without a new root, uid change or seccomp
    bwrap             bubblewrap alone with the tool's flags (no noexec tmpfs)
    confined          what the tool runs: unshare + noexec tmpfs + bubblewrap + seccomp
    tool              ``PythonSandbox.run(code="pass")`` end to end (adds the audit hook
                      and the child script)

nsjail is not packaged in Debian 12 and has no installable PyPI build here, so it is not
measured. Results go to ``benchmarks/results/sandbox_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from expertly.agents.tools import isolation
from expertly.agents.tools.sandbox import PythonSandbox


def _timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _command(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, check=True, capture_output=True)

    return run


def _confined(host_dir: str, python: list[str]) -> Callable[[], None]:
    """What the tool starts: a fresh filter each run, ids mapped by the parent as root."""

    def run() -> None:
        proc = isolation.spawn(
            host_dir,
            python,
            work_bytes=64 * 1024 * 1024,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if proc.wait() != 0:
            sys.exit("the confined run failed")

    return run


def candidates(host_dir: str) -> dict[str, Callable[[], None]]:
    python = [*isolation.interpreter(), "-c", "pass"]
    by_hand_script = (
        'mount -t tmpfs -o noexec,nosuid,nodev,size=64m expertly "$1" && shift '
        '&& exec setpriv --no-new-privs "$@"'
    )
    by_hand = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork"]
    by_hand += ["--net", "--kill-child", "sh", "-c", by_hand_script, "sh", host_dir, *python]
    # bwrap's part of the tool's command, bound straight to the host's folders (no staging)
    confined = isolation.confined_argv(host_dir, python, work_bytes=1, seccomp_fd=None)
    staged = {f"{host_dir}/{n}": f for n, f in enumerate(isolation.interpreter_binds(), 1)}
    staged[f"{host_dir}/work"] = host_dir
    bwrap_only = [staged.get(a, a) for a in confined[confined.index(shutil.which("bwrap")) :]]
    tool = PythonSandbox(timeout_s=10)
    return {
        "python": _command(python),
        "unshare_net": _command(["unshare", "-rn", *python]),
        "unshare_by_hand": _command(by_hand),
        "bwrap": _command(bwrap_only),
        "confined": _confined(host_dir, python),
        "tool": lambda: None if tool.run(code="pass").ok else sys.exit("the tool failed"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sandbox_startup.json"))
    args = parser.parse_args()
    isolation.probe().require()
    host_dir = tempfile.mkdtemp(prefix="expertly-bench-")
    try:
        runs = candidates(host_dir)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for run in runs.values():  # warm the page cache once
            run()
        for _ in range(args.runs):
            for name, run in runs.items():
                times[name].append(_timed(run))
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
    floor = statistics.median(times["python"])
    report = {
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "kernel": os.uname().release,
        "uid": os.getuid(),
        "results": {
            name: {
                "median_ms": round(statistics.median(values) * 1000, 1),
                "p90_ms": round(statistics.quantiles(values, n=10)[-1] * 1000, 1),
                "median_ratio_to_python": round(statistics.median(values) / floor, 2),
            }
            for name, values in times.items()
        },
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
