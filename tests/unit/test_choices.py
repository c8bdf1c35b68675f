"""Closed questions (``choices``): each route answers with one of the choices — by
log-probabilities on a local model, by a constrained reply from an endpoint, by a mapped
free reply otherwise — and compare records which choice, how, and with what scores."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from expertly.answer.choices import (
    ChoiceAnswering,
    casing_variants,
    choice_in_text,
    choice_prompt,
    pick,
)
from expertly.answer.closed_book import ClosedBookAnswerer
from expertly.evaluate.compare import read_results, run_compare
from expertly.evaluate.metrics import score
from expertly.evaluate.questions import Question
from expertly.generate import ChoiceScoring
from expertly.generate.openai_compat import OpenAICompatLLM
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message
from expertly.workspace import Parts, Workspace
from tests.unit.helpers import fake_workspace, write_corpus


class ScoringLLM(ScriptedLLM):
    """A scripted model that also scores choices: log P from a table, and records the
    prompts it scored (a ``ChoiceScoring`` model, like the local transformers one)."""

    def __init__(self, table: dict[str, float]) -> None:
        super().__init__("free text that must not be used")
        self.table = table
        self.scored: list[list[Message]] = []

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        self.scored.append(list(messages))
        return [self.table.get(c, -math.inf) for c in choices]


def test_variants_and_free_text_mapping() -> None:
    assert casing_variants("yes") == ["yes", "Yes"]
    assert casing_variants("Not sure") == ["Not sure", "not sure"]
    assert choice_in_text("Yes, it is. But no more.", ["yes", "no"]) == "yes"
    assert choice_in_text("According to source [1], maybe.", ["yes", "no", "maybe"]) == "maybe"
    assert choice_in_text("The sources are unclear.", ["yes", "no"]) is None
    assert choice_prompt(" Is it? ", ["yes", "no"]) == "Is it?\nAnswer with one of: yes, no."


def test_logprobs_sum_the_casing_variants_of_each_choice() -> None:
    # "no" alone beats "yes" alone, but yes + Yes together beat no + No
    llm = ScoringLLM({"yes": math.log(0.3), "Yes": math.log(0.3), "no": math.log(0.4)})
    assert isinstance(llm, ChoiceScoring)
    chosen = pick(llm, [Message("user", "Is it?")], ["yes", "no"])
    assert chosen.choice == "yes" and chosen.method == "logprobs"
    assert chosen.logprobs["yes"] == pytest.approx(math.log(0.6))
    assert chosen.logprobs["no"] == pytest.approx(math.log(0.4))
    assert llm.calls == []  # nothing was generated


def test_a_model_that_cannot_score_writes_a_short_reply_that_is_mapped() -> None:
    chosen = pick(
        ScriptedLLM("Maybe, the study is small."), [Message("user", "Q")], ["yes", "maybe"]
    )
    assert (chosen.choice, chosen.method, chosen.reply) == (
        "maybe",
        "text",
        "Maybe, the study is small.",
    )
    unmapped = pick(ScriptedLLM("I cannot tell."), [Message("user", "Q")], ["yes", "no"])
    assert unmapped.choice is None and unmapped.reply == "I cannot tell."


def test_an_endpoint_is_asked_for_a_schema_constrained_reply() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"content": '{"answer": "no"}'}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 21, "completion_tokens": 5},
            },
        )

    llm = OpenAICompatLLM(
        "m", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler)
    )
    chosen = pick(llm, [Message("user", "Is it?")], ["yes", "no"])
    assert (chosen.choice, chosen.method) == ("no", "constrained")
    assert (chosen.prompt_tokens, chosen.completion_tokens) == (21, 5)
    schema = bodies[0]["response_format"]["json_schema"]["schema"]  # type: ignore[index]
    assert schema["properties"]["answer"]["enum"] == ["yes", "no"]


def test_an_endpoint_without_structured_output_is_asked_again_in_free_text() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "response_format" in body:
            return httpx.Response(400, json={"error": {"message": "response_format unsupported"}})
        reply = {"message": {"content": "Yes."}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [reply]})

    llm = OpenAICompatLLM(
        "m", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler)
    )
    chosen = pick(llm, [Message("user", "Is it?")], ["yes", "no"])
    assert (chosen.choice, chosen.method) == ("yes", "constrained")
    assert len(bodies) == 2 and "response_format" not in bodies[1]


def test_closed_book_chooses_from_the_question_alone() -> None:
    llm = ScoringLLM({"no": -0.1, "yes": -3.0})
    answerer = ClosedBookAnswerer(llm, route="base")
    assert isinstance(answerer, ChoiceAnswering)
    answer = answerer.choose("Is the sky green?", ["yes", "no"])
    assert answer.text == "no" and answer.route == "base"
    assert [m.role for m in llm.scored[0]] == ["user"]
    assert llm.scored[0][0].content.endswith("Answer with one of: yes, no.")
    step = answer.trace[-1]
    assert step.name == "choose" and step.detail["method"] == "logprobs"


def _scoring_workspace(tmp_path: Path, llm: ScoringLLM) -> Workspace:
    ws = fake_workspace(tmp_path)
    ws = Workspace(ws.root, ws.settings, overrides=Parts(llm=llm))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    return ws


def test_rag_chooses_over_its_sources_without_a_prefill(tmp_path: Path) -> None:
    llm = ScoringLLM({"yes": -0.2, "no": -2.0})
    ws = _scoring_workspace(tmp_path, llm)
    answer = ws.answerer("rag", cache=False).choose(  # type: ignore[attr-defined]
        "Is vacation 28 days per year?", ["yes", "no"]
    )
    assert answer.text == "yes" and answer.hits
    prompt = llm.scored[0]
    assert prompt[-1].role == "user"  # no assistant prefill: the reply starts with the choice
    assert "Sources:" in prompt[-1].content and "28 days" in prompt[-1].content
    assert [s.name for s in answer.trace][-2:] == ["retrieve", "choose"]


def test_compare_records_the_choice_its_method_and_scores(tmp_path: Path) -> None:
    llm = ScoringLLM({"yes": -0.5, "no": -1.5})
    ws = _scoring_workspace(tmp_path, llm)
    q = Question("vac", "Is vacation 28 days?", ("no",), ("leave.md",), choices=("yes", "no"))
    run = run_compare(ws, [q], ["base", "rag"], tmp_path / "out")
    for record in run.records:
        assert record["choice"] == "yes" and record["choice_method"] == "logprobs"
        assert record["choice_logprobs"] == {"yes": -0.5, "no": -1.5}
        assert score(q, record)["correct"] == 0.0  # the gold is "no"
    assert read_results(tmp_path / "out" / "results.jsonl") == run.records


def test_the_recorded_choice_wins_over_words_in_the_text() -> None:
    q = Question("q", "Is it?", ("no",), choices=("yes", "no"))
    record = {"text": "yes", "abstained": False, "choice": "no", "choice_method": "logprobs"}
    assert score(q, record)["correct"] == 1.0
    free = {"text": "yes, it is", "abstained": False}
    assert score(q, free)["correct"] == 0.0
