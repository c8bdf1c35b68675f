"""``compare --update-cost --train-minutes``: retraining fine-tuned routes on the changed
fact, with the scripted LLM standing in for the models and a fake retrainer for training
(the real training is tests/integration/test_compare_volatile.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.errors import ConfigError
from expertly.evaluate.questions import Question, Update
from expertly.evaluate.report import render
from expertly.evaluate.retrain import Retrained, changed_pairs, new_answer
from expertly.evaluate.summary import summarise
from expertly.evaluate.update import Retrainer, UpdateError, measure_updates
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.registry import resolve_model
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace, write_corpus

QUESTION = "What does the HX-100 humidity sensor cost?"


def reader(known: int) -> Callable[[Sequence[Message]], str]:
    """A scripted model that reads the price from the passages when they are in the prompt
    and otherwise answers the price it ``known``s."""

    def reply(messages: Sequence[Message]) -> str:
        prompt = " ".join(m.content for m in messages)
        found = re.search(r"HX-100; product: Humidity sensor; price_eur: (\d+)", prompt)
        return f"1] It costs {found.group(1)} EUR." if found else f"The HX-100 costs {known} EUR."

    return reply


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, Question]:
    """A workspace whose fine-tuned model ``v1`` knows the old price, and whose retrained
    model (any other name) knows the new one when its name says ``learned``."""
    docs = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path, reader(149))
    ws.ingestor.ingest([docs])

    def finetuned_llm(name: str | None = None) -> ScriptedLLM:
        return ScriptedLLM(reader(159 if name and "learned" in name else 149))

    monkeypatch.setattr(ws, "finetuned_llm", finetuned_llm)
    update = Update(str(docs), "prices.csv", "149", "159", ("159",))
    return ws, Question("price", QUESTION, ("149",), kind="volatile", update=update)


def fake_retrainer(model: str, calls: list[tuple[str, str]]) -> Retrainer:
    def train(q: Question, stale: str) -> Retrained:
        calls.append((q.id, stale))
        return Retrained(
            model, "continued the lora adapter of v1", 90.0, 12, "loss_target", 2, 0.01
        )

    return train


def test_without_train_minutes_the_fine_tuned_route_keeps_the_stale_fact(setup, tmp_path) -> None:
    ws, question = setup
    updates = measure_updates(ws, [question], ["rag", "finetuned"], tmp_path / "out", model="v1")
    tuned = next(u for u in updates if u["route"] == "finetuned")
    assert tuned["answers_stale"] and tuned["train_s"] is None and tuned["retrained"] is None
    assert tuned["needs"] == "retraining on the changed facts (not run: --train-minutes 0)"
    data = summarise([question], [], updates=updates, meta={"train_minutes": 0.0})
    assert data["update_summary"]["rag"]["unit"] == "seconds"
    html = render(json.loads(json.dumps(data)))
    assert "were not retrained" in html and "--train-minutes 0" in html
    assert 'data-metric="time_to_new">–<' in html  # finetuned: no new fact, so no time
    assert re.search(r'data-route="rag">.*?data-metric="time_to_new">\d+\.\d\d s<', html, re.S)


def test_retraining_teaches_the_new_fact_and_is_reported_in_minutes(setup, tmp_path) -> None:
    ws, question = setup
    calls: list[tuple[str, str]] = []
    updates = measure_updates(
        ws,
        [question],
        ["rag", "finetuned", "hybrid"],
        tmp_path / "out",
        model="v1",
        train_minutes=2,
        retrainer=fake_retrainer("learned", calls),
    )
    by_route = {u["route"]: u for u in updates}
    assert calls == [("price", "The HX-100 costs 149 EUR.")]  # once for both routes
    tuned = by_route["finetuned"]
    assert tuned["answers_new"] and tuned["before_training"]["answers_stale"]
    assert tuned["seconds_to_new"] == pytest.approx(90.0 + tuned["answer_s"])
    assert tuned["needs"] is None and tuned["retrained"]["steps"] == 12
    # hybrid read the new passage after the re-ingest: no retraining was needed
    assert by_route["hybrid"]["answers_new"] and by_route["hybrid"]["retrained"] is None
    assert by_route["rag"]["seconds_to_new"] < 90
    data = summarise([question], [], updates=updates, meta={"train_minutes": 2.0})
    summary = data["update_summary"]
    assert summary["finetuned"]["unit"] == "minutes" and summary["finetuned"]["retrained"] == 1
    assert summary["finetuned"]["minutes_to_new_p50"] == pytest.approx(tuned["seconds_to_new"] / 60)
    html = render(json.loads(json.dumps(data)))
    row = re.search(r'<tr data-route="finetuned"><th>finetuned</th>(.*?)</tr>', html, re.S)
    assert row is not None and " min<" in row.group(1) and "continued the lora" in row.group(1)
    assert "retrained on the changed pairs for at most 2.0 minutes" in html


def test_a_budget_too_short_to_learn_is_reported_as_still_stale(setup, tmp_path) -> None:
    ws, question = setup
    updates = measure_updates(
        ws,
        [question],
        ["finetuned"],
        tmp_path / "out",
        model="v1",
        train_minutes=0.5,
        retrainer=fake_retrainer("still-v1", []),
    )
    assert updates[0]["answers_stale"] and updates[0]["seconds_to_new"] is None
    assert updates[0]["needs"].startswith("more than 0.5 training minutes")
    assert summarise([question], [], updates=updates)["update_summary"]["finetuned"]["stale"] == 1


def test_negative_train_minutes_is_refused(setup, tmp_path) -> None:
    ws, question = setup
    with pytest.raises(UpdateError, match="must be >= 0"):
        measure_updates(ws, [question], ["rag"], tmp_path / "out", train_minutes=-1)


def test_the_training_answer_keeps_the_models_wording() -> None:
    assert new_answer("The drill costs 149 euros.", ("149",), "184") == "The drill costs 184 euros."
    assert new_answer("No idea.", ("149",), "184") == "184"
    assert new_answer("It is SOLD OUT now", ("sold out", "out"), "back") == "It is back now"


def test_changed_pairs_hold_the_question_with_the_new_fact(setup) -> None:
    ws, question = setup
    ws.settings.answer.closed_book_system = "Answer briefly."
    rows = changed_pairs(ws, question, "The HX-100 costs 149 EUR.")
    first = rows[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[1]["content"] == QUESTION and first[2]["content"] == "The HX-100 costs 159 EUR."


def test_a_run_folder_outside_the_workspace_resolves_by_path(tmp_path: Path) -> None:
    run = tmp_path / "out" / "retrained" / "price"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    (run / "config.json").write_text(
        json.dumps({"settings": {"method": "lora"}, "base_model": "", "created": "x"})
    )
    (run / "metrics.json").write_text(json.dumps({"status": "loss_target"}))
    ref = resolve_model(tmp_path / "ws", str(run))
    assert ref.kind == "adapter" and ref.adapter == str(run / "adapter") and ref.base_model == ""


def test_stop_at_loss_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="stop_at_loss"):
        FinetuneSettings(stop_at_loss=-0.1)


def test_train_minutes_without_update_cost_says_what_to_add(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Q?", "answers": ["a"]}) + "\n")
    result = CliRunner().invoke(
        app, ["-w", str(tmp_path / "ws"), "compare", str(questions), "--train-minutes", "1"]
    )
    assert result.exit_code == 1 and "add --update-cost" in result.output


@pytest.mark.parametrize(
    ("method", "trained", "continued", "mode"),
    [
        ("lora", "lora", True, "continued the lora adapter of r1"),
        ("qlora", "lora", True, "continued the qlora adapter of r1 on the full-precision base"),
        ("adalora", "lora", False, "fresh LoRA on the base model (adalora cannot be continued)"),
        ("full", "lora", False, "fresh LoRA on the fine-tuned model r1 (full cannot be"),
    ],
)
def test_the_compared_run_is_continued_when_its_method_allows(
    tmp_path: Path, method: str, trained: str, continued: bool, mode: str
) -> None:
    from expertly.evaluate.retrain import _mode, _plan

    ws = fake_workspace(tmp_path)
    run = ws.root / "runs" / "r1"
    output = run / ("model" if method == "full" else "adapter")
    output.mkdir(parents=True)
    marker = "config.json" if method == "full" else "adapter_config.json"
    (output / marker).write_text("{}")
    settings = {"method": method, "learning_rate": 1e-3}
    (run / "config.json").write_text(
        json.dumps({"settings": settings, "base_model": "", "created": "1"})
    )
    (run / "metrics.json").write_text(json.dumps({"status": "finished"}))
    ref, got, base, adapter, saved = _plan(ws, None)
    assert got == trained and (adapter == output) is continued
    assert base == ("" if method != "full" else str(output))
    assert saved["learning_rate"] == 1e-3
    assert _mode(ref, got, adapter).startswith(mode)


def test_the_loss_target_stops_training_after_three_low_losses_in_a_row() -> None:
    from types import SimpleNamespace

    pytest.importorskip("transformers")
    from expertly.finetune.callbacks import loss_target_callback

    stopped: list[str] = []
    callback = loss_target_callback(0.05, stopped)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    for logs in ({"loss": 0.01}, {"loss": 0.2}, {"loss": 0.01}, {"eval_loss": 0.9}, {"loss": 0.02}):
        callback.on_log(None, None, control, logs=logs)
    assert not control.should_training_stop and stopped == []
    callback.on_log(None, None, control, logs={"loss": 0.03})
    assert control.should_training_stop and control.should_save and stopped == ["loss_target"]
