"""``run_compare`` → ``summarise`` → ``render`` on a workspace with the scripted LLM and the
hashing embedder: records as they go, resume after a kill, skipped routes, and a report whose
figures are the JSON's."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.config import AgentSettings
from expertly.evaluate.compare import (
    RESULTS_FILE,
    CompareError,
    parse_routes,
    read_results,
    run_compare,
)
from expertly.evaluate.questions import Question, Update, load_questions
from expertly.evaluate.report import ci, fmt, render
from expertly.evaluate.summary import summarise
from expertly.evaluate.update import UpdateError, measure_updates
from expertly.types import Message
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace, write_corpus

QUESTIONS = [
    Question("leave", "How long is parental leave?", ("20 weeks",), ("leave.md",)),
    Question("pw", "How long must a password be?", ("14 characters",), ("security.txt",)),
    Question("cat", "What is the name of the CEO's cat?", kind="unanswerable"),
    Question("vac", "Is vacation 28 days?", ("yes",), ("leave.md",), choices=("yes", "no")),
]


def reply(messages: Sequence[Message]) -> str:
    """Right about leave and vacation when the passages are in the prompt, wrong otherwise."""
    prompt = " ".join(m.content for m in messages)
    question = [m.content for m in messages if m.role == "user"][-1].rsplit("Question:", 1)[-1]
    if "parental" in question:
        return (
            "1] Employees get 20 weeks of paid parental leave." if "20 weeks" in prompt else "12."
        )
    if "vacation" in question:
        return "1] Yes, 28 days." if "calendar year" in prompt else "No."
    return "I think 8 characters."


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = fake_workspace(tmp_path, reply)
    workspace.ingestor.ingest([write_corpus(tmp_path / "docs")])
    return workspace


def test_each_route_answers_every_question_and_missing_ones_are_skipped(ws, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    run = run_compare(
        ws,
        QUESTIONS,
        ["base", "rag", "finetuned"],
        tmp_path / "out",
        progress=lambda r, d, t: seen.append((r, d, t)),
    )
    records, skipped = run.records, run.skipped
    assert set(run.warmup_s) == {"base", "rag"}
    assert [(r["route"], r["id"]) for r in records] == [
        (route, q.id) for route in ("base", "rag") for q in QUESTIONS
    ]
    assert [s.route for s in skipped] == ["finetuned"] and "expertly finetune" in skipped[0].command
    assert seen[-1] == ("rag", 4, 4)
    on_disk = read_results(tmp_path / "out" / RESULTS_FILE)
    assert [r["id"] for r in on_disk] == [r["id"] for r in records]
    rag = {r["id"]: r for r in records if r["route"] == "rag"}
    assert rag["leave"]["citations"] and rag["leave"]["passages"]
    assert rag["leave"]["latency_s"] > 0 and rag["leave"]["prompt_tokens"] > 0


def test_resume_after_a_kill_mid_write_loses_only_the_torn_record(ws, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_compare(ws, QUESTIONS[:2], ["base"], out)
    path = out / RESULTS_FILE
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "cat", "route": "base", "te')  # killed while writing
    with pytest.raises(CompareError, match="--resume"):
        run_compare(ws, QUESTIONS, ["base"], out)
    calls_before = len(ws.llm.calls)
    records = run_compare(ws, QUESTIONS, ["base"], out, resume=True).records
    assert [r["id"] for r in records] == ["leave", "pw", "cat", "vac"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    # a complete record that lost only its newline is kept, and the next one starts a line
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    assert len(read_results(path)) == 4
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert len(ws.llm.calls) - calls_before == 2  # only the two missing questions


def test_unknown_route_lists_the_valid_ones() -> None:
    assert parse_routes("rag, base,rag") == ["rag", "base"]
    with pytest.raises(CompareError, match=r"oracle.*base, rag, finetuned"):
        parse_routes("rag,oracle")


def test_summary_figures_and_the_report_show_the_same_numbers(ws, tmp_path: Path) -> None:
    run = run_compare(ws, QUESTIONS, ["base", "rag", "finetuned"], tmp_path / "o")
    result = summarise(
        QUESTIONS, run.records, run.skipped, embedder=ws.embedder, warmup_s=run.warmup_s
    )
    rag, base = result["routes"]["rag"], result["routes"]["base"]
    assert rag["metrics"]["correct"]["mean"] > base["metrics"]["correct"]["mean"]
    assert base["metrics"]["grounded"] is None  # closed book saw no passage
    assert rag["choices"]["accuracy"]["mean"] == 1.0 and base["choices"]["accuracy"]["mean"] == 0.0
    assert result["majority_baseline"] == {"choice": "yes", "accuracy": 1.0}
    assert result["by_kind"]["unanswerable"]["rag"]["n"] == 1
    (pair,) = result["paired"]
    assert (pair["a"], pair["b"], pair["n"]) == ("base", "rag", 4)
    assert result["skipped"][0]["route"] == "finetuned"
    # the JSON round-trips and the page is rendered from it alone
    data = json.loads(json.dumps(result))
    html = render(data)
    assert render(data) == html  # deterministic: no date, fixed ids
    for route, figures in data["routes"].items():
        row = re.search(rf'<tr data-route="{route}">(.*?)</tr>', html, re.S)
        assert row is not None
        cells = dict(re.findall(r'data-metric="([a-z_0-9]+)">([^<]*)<', row.group(1)))
        for metric, interval in figures["metrics"].items():
            if metric in cells:
                assert cells[metric] == ci(interval)
        assert cells["latency_p50_s"] == fmt(figures["latency_p50_s"])
        assert cells["warmup_s"] == fmt(figures["warmup_s"], 1)
    assert "<script" not in html and "expertly finetune" in html
    assert "<svg" in html  # matplotlib is installed here


def test_an_abstention_keeps_its_leads_in_the_record_and_the_report(ws, tmp_path: Path) -> None:
    records = run_compare(ws, QUESTIONS[2:3], ["rag"], tmp_path / "out").records
    (cat,) = records
    assert cat["abstained"] and cat["citations"] == []
    assert cat["leads"] and all(lead["quote"] and lead["doc_id"] for lead in cat["leads"])
    html = render(summarise(QUESTIONS[2:3], records))
    assert "Closest passages (not an answer)" in html and cat["leads"][0]["quote"][:20] in html


def test_hostile_answers_are_escaped(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, ["<script>alert(1)</script> 20 weeks"])
    records = run_compare(ws, QUESTIONS[:1], ["base"], tmp_path / "o").records
    html = render(summarise(QUESTIONS[:1], records))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


def test_cli_compare_writes_json_and_report(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "expertly.toml").write_text(
        '[embedder]\nbackend = "hashing"\ndim = 64\n[llm]\nbackend = "scripted"\n'
        "[retrieval]\nmin_relevance = 0.0\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["-w", str(root), "ingest", str(write_corpus(tmp_path / "d"))])
    assert result.exit_code == 0, result.output
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(
                {"id": q.id, "question": q.question, "answers": list(q.answers), "kind": q.kind}
            )
            for q in QUESTIONS[:3]
        )
    )
    out = tmp_path / "out"
    args = ["-w", str(root), "compare", str(questions), "--routes", "base,rag,hybrid"]
    result = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["routes"]) == {"base", "rag"}
    assert summary["skipped"][0]["route"] == "hybrid"
    assert (out / "compare.json").is_file() and (out / "report.html").is_file()
    again = runner.invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 1 and "--resume" in again.output
    resumed = runner.invoke(app, [*args, "--out", str(out), "--resume", "--limit", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert "Which route wins" in resumed.output


def test_multi_step_scenario_the_agent_wins_with_the_scripted_model(tmp_path: Path) -> None:
    """Plumbing of known-answer scenario (d): the agent computes, the other routes guess."""

    def scripted(messages: Sequence[Message]) -> str:
        if "tool" not in messages[0].content:
            return "About 300 EUR."
        if not any("351" in m.content for m in messages[1:]):
            return json.dumps(
                {
                    "thought": "compute",
                    "tool": "calculator",
                    "arguments": {"expression": "2340 * 0.15"},
                }
            )
        return json.dumps({"thought": "done", "answer": "15% of 2,340 EUR is 351 EUR."})

    ws = fake_workspace(tmp_path, scripted, agent=AgentSettings(tools=["calculator"]))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    questions = [Question("m1", "What is 15% of 2,340 EUR?", ("351",), kind="multi-step")]
    run = run_compare(ws, questions, ["base", "rag", "agent"], tmp_path / "o")
    result = summarise(questions, run.records, run.skipped)
    correct = {r: f["metrics"]["correct"]["mean"] for r, f in result["routes"].items()}
    assert correct == {"base": 0.0, "rag": 0.0, "agent": 1.0}
    agent = next(r for r in run.records if r["route"] == "agent")
    assert agent["agent_steps"] >= 2 and "351" in " ".join(agent["passages"])
    assert result["routes"]["agent"]["metrics"]["figures_ok"]["mean"] == 1.0


def test_update_cost_rag_answers_the_new_fact_and_base_the_stale_one(tmp_path: Path) -> None:
    """Known-answer scenario (a) without training: a price changes; retrieval answers the
    new one after a re-ingest, the model alone keeps the old; the document is restored."""

    def scripted(messages: Sequence[Message]) -> str:
        prompt = " ".join(m.content for m in messages)
        found = re.search(r"HX-100; product: Humidity sensor; price_eur: (\d+)", prompt)
        return f"1] It costs {found.group(1)} EUR." if found else "It costs 149 EUR."

    docs = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path, scripted)
    ws.ingestor.ingest([docs])
    questions_file = tmp_path / "q.jsonl"
    questions_file.write_text(
        json.dumps(
            {
                "id": "price",
                "question": "What does the HX-100 humidity sensor cost?",
                "answers": ["149"],
                "kind": "volatile",
                "update": {
                    "root": "docs",
                    "document": "prices.csv",
                    "old": "149",
                    "new": "159",
                    "answers": ["159"],
                },
            }
        )
    )
    questions = load_questions(questions_file)
    before = (docs / "prices.csv").read_text()
    updates = measure_updates(ws, questions, ["base", "rag"], tmp_path / "out")
    by_route = {u["route"]: u for u in updates}
    assert by_route["rag"]["answers_new"] and by_route["rag"]["seconds_to_new"] > 0
    assert by_route["base"]["answers_stale"] and by_route["base"]["seconds_to_new"] is None
    assert by_route["base"]["needs"] == "retraining on the changed facts"
    assert (docs / "prices.csv").read_text() == before
    assert "149" in ws.answerer("rag").answer("What does the HX-100 humidity sensor cost?").text
    summary = summarise(questions, [], updates=updates)["update_summary"]
    assert summary["rag"]["new"] == 1 and summary["base"]["stale"] == 1
    html = render(json.loads(json.dumps(summarise(questions, [], updates=updates))))
    assert 'id="updates"' in html and "retraining on the changed facts" in html


def test_an_update_that_does_not_match_the_document_is_a_clear_error(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path)
    update = Update(str(docs), "prices.csv", "999", "1000", ("1000",))
    question = Question("p", "Price?", ("999",), kind="volatile", update=update)
    with pytest.raises(UpdateError, match=r"question p: .*prices\.csv does not contain"):
        measure_updates(ws, [question], ["base"], tmp_path / "out")


def test_without_matplotlib_the_report_says_what_to_install(
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = run_compare(ws, QUESTIONS[:1], ["base"], tmp_path / "o").records
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    html = render(summarise(QUESTIONS[:1], records))
    assert "<svg" not in html and "pip install &#39;expertly[finetune]&#39;" in html


def test_seen_and_unseen_facts_are_reported_apart(ws, tmp_path: Path) -> None:
    questions = [
        Question("leave", "How long is parental leave?", ("20 weeks",), seen=True),
        Question("pw", "How long must a password be?", ("14 characters",), seen=False),
    ]
    records = run_compare(ws, questions, ["rag"], tmp_path / "o").records
    result = summarise(questions, records)
    assert result["seen"]["seen"]["rag"]["n"] == 1 and result["seen"]["unseen"]["rag"]["n"] == 1
    assert 'id="seen"' in render(result)
    assert summarise(questions[:1], records[:1])["seen"].keys() == {"seen"}
