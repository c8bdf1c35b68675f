"""``expertly advise``: every rule, case by case, and the evidence from a compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.evaluate.advise import RULES, AdviseError, Needs, advise, load_answers


def fired(result: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in result["reasons"]}


@pytest.mark.parametrize(
    ("needs", "route", "rules"),
    [
        (Needs(changes="daily", cite=True), "rag", {"volatile knowledge", "audit"}),
        (Needs(task="style", changes="never"), "finetuned", {"fixed style, stable knowledge"}),
        (Needs(task="style", changes="weekly"), "hybrid", {"style over volatile knowledge"}),
        (Needs(task="multi-step"), "agent", {"multi-step"}),
        (Needs(task="knowledge"), "rag", {"knowledge"}),
        (Needs(documents=0, task="knowledge"), "base", {"no documents", "knowledge"}),
        (Needs(qa_pairs=0, documents=40, task="style"), "finetuned", {"no training data"}),
        (Needs(train_minutes=0, task="style"), "rag", {"no training budget"}),
        (Needs(latency_s=1, compute="cpu"), "base", {"tight latency on CPU"}),
        (Needs(cite=True, on_premises=True), "rag", {"audit", "on premises"}),
    ],
)
def test_rules_case_by_case(needs: Needs, route: str, rules: set[str]) -> None:
    result = advise(needs)
    assert result["route"] == route
    assert rules <= fired(result)


def test_tight_latency_costs_the_agent_its_lead() -> None:
    relaxed = advise(Needs(task="multi-step"))["points"]
    tight = advise(Needs(task="multi-step", latency_s=1, compute="cpu"))["points"]
    assert tight["agent"] == relaxed["agent"] - 3


def test_small_budget_without_gpu_means_lora_not_full() -> None:
    result = advise(Needs(compute="cpu", train_minutes=15, task="style", changes="never"))
    assert result["settings"]["finetune.method"] == "lora"
    assert "small budget, no GPU" in fired(result)
    gpu = advise(Needs(compute="gpu", train_minutes=120))
    assert gpu["settings"]["finetune.method"] == "qlora" and "GPU" in fired(gpu)


def test_every_rule_is_exercised_by_a_case() -> None:
    cases = [
        Needs(changes="daily", cite=True, task="knowledge", on_premises=True),
        Needs(task="style", changes="never", compute="cpu", train_minutes=10, latency_s=1),
        Needs(task="style", changes="weekly", qa_pairs=0, documents=3, train_minutes=0),
        Needs(task="multi-step", documents=0, compute="gpu", train_minutes=60),
    ]
    covered = set().union(*(fired(advise(n)) for n in cases))
    assert covered == {r.name for r in RULES}


def test_reasons_quote_the_answers_and_unanswered_ones_are_listed() -> None:
    result = advise(Needs(changes="daily"))
    assert "changes daily" in result["reasons"][0]["reason"]
    assert any("Must answers cite" in line for line in result["would_change"])
    assert any("expertly compare" in line for line in result["would_change"])


def _compare(correct: dict[str, tuple[float, float, float]], p50: dict[str, float]) -> dict:
    return {
        "routes": {
            r: {
                "metrics": {"correct": {"mean": m, "low": lo, "high": hi, "n": 30}},
                "latency_p50_s": p50[r],
            }
            for r, (m, lo, hi) in correct.items()
        }
    }


def test_measured_figures_change_the_advice() -> None:
    clear = _compare({"rag": (0.3, 0.2, 0.4), "agent": (0.9, 0.8, 1.0)}, {"rag": 1, "agent": 4})
    result = advise(Needs(), clear)
    assert result["route"] == "agent"
    reason = result["reasons"][-1]["reason"]
    assert "agent is correct on 90% of 30 questions" in reason and "clears" in reason
    # the same figures, but the agent breaks the latency budget: excluded, with the figure
    slow = advise(Needs(latency_s=2), clear)
    assert slow["route"] == "rag" and slow["excluded"] == {"agent": "latency agent"}
    assert any("4.0 s at p50, over the 2 s budget" in r["reason"] for r in slow["reasons"])
    overlap = _compare({"rag": (0.5, 0.3, 0.7), "base": (0.55, 0.35, 0.75)}, {"rag": 1, "base": 1})
    weak = advise(Needs(changes="daily"), overlap)
    assert weak["route"] == "rag" and "not certain" in weak["reasons"][-1]["reason"]


def test_bad_answers_are_errors_that_list_the_valid_values(tmp_path: Path) -> None:
    with pytest.raises(AdviseError, match="compute = 'tpu'; valid: cpu, gpu, served"):
        Needs(compute="tpu")
    path = tmp_path / "answers.toml"
    path.write_text('changes = "daily"\ncolour = "blue"\n')
    with pytest.raises(AdviseError, match=r"unknown key.*colour"):
        load_answers(path)
    path.write_text('changes = "daily"\ncite = "yes"\ntrain_minutes = 20\n')
    assert load_answers(path) == Needs(changes="daily", cite=True, train_minutes=20.0)


def test_cli_advise_from_a_file_flags_and_a_compare(tmp_path: Path) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text('changes = "daily"\n')
    measured = tmp_path / "compare.json"
    measured.write_text(
        json.dumps(
            _compare({"rag": (0.8, 0.7, 0.9), "base": (0.2, 0.1, 0.3)}, {"rag": 1, "base": 1})
        )
    )
    args = ["advise", "--answers", str(answers), "--cite", "--compare", str(measured)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    advice = json.loads(result.stdout)
    assert advice["route"] == "rag" and advice["answers"]["cite"] is True
    assert advice["compare"] == str(measured)
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0 and "Recommended route: rag" in text.output
    bad = CliRunner().invoke(app, ["advise", "--compute", "tpu", "--json"])
    assert bad.exit_code == 1 and "valid: cpu, gpu, served" in bad.output
