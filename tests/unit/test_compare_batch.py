"""Batched answering in ``compare``: questions grouped per route, records in question order
and on disk as they come, resume after a batch lost to a kill, and the one-by-one fallbacks
(a model that cannot batch, a batch that fails, multiple-choice questions)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from expertly.answer import BatchAnswering
from expertly.errors import LLMError
from expertly.evaluate.compare import RESULTS_FILE, CompareError, read_results, run_compare
from expertly.evaluate.questions import Question
from expertly.generate import BatchGenerating
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Completion, Message
from expertly.workspace import Parts, Workspace
from tests.unit.helpers import fake_workspace, write_corpus

PLAIN = [
    Question("leave", "How long is parental leave?", ("20 weeks",), ("leave.md",)),
    Question("pw", "How long must a password be?", ("14 characters",), ("security.txt",)),
    Question("cat", "What is the name of the CEO's cat?", kind="unanswerable"),
    Question("hx", "What does the HX-100 cost?", ("149",), ("prices.csv",)),
    Question("tx", "What does the TX-200 cost?", ("89",), ("prices.csv",)),
    Question("rot", "How often are API tokens rotated?", ("90 days",), ("security.txt",)),
]
CHOICE = Question("vac", "Is vacation 28 days?", ("yes",), ("leave.md",), choices=("yes", "no"))


def reply(messages: Sequence[Message]) -> str:
    """A reply that depends on the question and on whether its source is in the prompt."""
    prompt = " ".join(m.content for m in messages)
    question = [m.content for m in messages if m.role == "user"][-1].rsplit("Question:", 1)[-1]
    if "password" in question:
        return "1] At least 14 characters." if "14 characters" in prompt else "8 characters."
    if "HX-100" in question:
        return "1] It costs 149 EUR." if "149" in prompt else "About 200 EUR."
    return f"I do not know ({question.strip()[:20]})."


def workspace(root: Path, replies: Any = reply) -> Workspace:
    """A fake workspace over the corpus in ``root``'s parent (shared by its siblings)."""
    ws = fake_workspace(root, replies)
    ws.ingestor.ingest([write_corpus(root.parent / "docs")])
    return ws


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its timings and batch size: what must not depend on batching."""
    drop = {"latency_s", "cpu_s", "trace", "batch_size"}
    return {k: v for k, v in record.items() if k not in drop}


def test_batches_group_consecutive_questions_and_keep_question_order(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    questions = [*PLAIN[:3], CHOICE, *PLAIN[3:]]
    seen: list[tuple[str, int, int]] = []
    run = run_compare(
        ws,
        questions,
        ["base", "rag"],
        tmp_path / "out",
        batch_size=2,
        progress=lambda r, d, t: seen.append((r, d, t)),
    )
    assert isinstance(ws.llm, ScriptedLLM)
    # per route: [leave, pw] batched; cat alone (the choice question follows); vac alone
    # (multiple choice); [hx, tx] batched; rot alone (the last)
    assert ws.llm.batches == [2, 2, 2, 2]
    expected = [(route, q.id) for route in ("base", "rag") for q in questions]
    assert [(r["route"], r["id"]) for r in run.records] == expected
    on_disk = read_results(tmp_path / "out" / RESULTS_FILE)
    assert [(r["route"], r["id"]) for r in on_disk] == expected
    sizes = {r["id"]: r.get("batch_size") for r in run.records if r["route"] == "rag"}
    assert sizes == {"leave": 2, "pw": 2, "cat": None, "vac": None, "hx": 2, "tx": 2, "rot": None}
    assert seen[-1] == ("rag", 7, 7) and [d for r, d, _ in seen if r == "base"] == [2, 3, 4, 6, 7]
    rag = {r["id"]: r for r in run.records if r["route"] == "rag"}
    assert "At least 14 characters" in rag["pw"]["text"] and rag["pw"]["citations"]
    assert rag["leave"]["latency_s"] == rag["pw"]["latency_s"] > 0  # the batch's time / 2
    step = next(s for s in rag["pw"]["trace"] if s["name"] == "generate")
    assert '"batch_size": 2' in step["detail"] and "wall time / batch size" in step["detail"]


def test_batched_records_equal_one_by_one_records(tmp_path: Path) -> None:
    batched = run_compare(
        workspace(tmp_path / "a"), PLAIN, ["base", "rag"], tmp_path / "b8", batch_size=8
    )
    ws = workspace(tmp_path / "c")
    single = run_compare(ws, PLAIN, ["base", "rag"], tmp_path / "b1", batch_size=1)
    assert isinstance(ws.llm, ScriptedLLM) and ws.llm.batches == []
    assert [comparable(r) for r in batched.records] == [comparable(r) for r in single.records]
    assert all(r["batch_size"] == len(PLAIN) for r in batched.records)
    assert all("batch_size" not in r for r in single.records)


def test_resume_after_a_kill_mid_batch_asks_only_the_lost_questions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    full = run_compare(workspace(tmp_path / "a"), PLAIN, ["base"], out, batch_size=4).records
    path = out / RESULTS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # killed while the first batch's records were being written: two whole, one torn
    path.write_text("".join(lines[:2]) + lines[2][:15], encoding="utf-8")
    ws = workspace(tmp_path / "b")
    resumed = run_compare(ws, PLAIN, ["base"], out, resume=True, batch_size=4).records
    assert isinstance(ws.llm, ScriptedLLM) and ws.llm.batches == [4]  # cat, hx, tx, rot
    assert [comparable(r) for r in resumed] == [comparable(r) for r in full]
    assert [r["id"] for r in read_results(path)] == [q.id for q in PLAIN]


class OneByOneLLM:
    """A model without ``generate_batch`` (like a served endpoint): answers one by one."""

    def __init__(self, replies: Any) -> None:
        self.inner = ScriptedLLM(replies)
        self.name, self.context_window = "one-by-one", self.inner.context_window

    def generate(self, messages: Sequence[Message], **kw: Any) -> Completion:
        return self.inner.generate(messages, **kw)

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        return self.inner.stream(messages, **kw)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(messages)


def test_a_model_that_cannot_batch_is_asked_one_by_one(tmp_path: Path) -> None:
    llm = OneByOneLLM(reply)
    assert not isinstance(llm, BatchGenerating)
    ws = Workspace(
        tmp_path / "ws", fake_workspace(tmp_path, reply).settings, overrides=Parts(llm=llm)
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    for route in ("base", "rag"):
        answerer = ws.answerer(route, cache=False)
        assert isinstance(answerer, BatchAnswering) and not answerer.generates_in_batches()
        loop = answerer.answer_batch([q.question for q in PLAIN[:3]])
        assert [a.text for a in loop] == [answerer.answer(q.question).text for q in PLAIN[:3]]
    run = run_compare(ws, PLAIN, ["base", "rag"], tmp_path / "out", batch_size=4)
    assert len(run.records) == 2 * len(PLAIN)
    assert all("batch_size" not in r for r in run.records)
    assert len(llm.inner.calls) == 2 * (3 + 3) + len(run.records)  # one call per answer


def test_a_failing_batch_is_asked_again_one_by_one(tmp_path: Path) -> None:
    def failing(messages: Sequence[Message]) -> str:
        if "password" in messages[-1].content:
            raise LLMError("the prompt is too long for this model; shorten it")
        return reply(messages)

    ws = workspace(tmp_path, failing)
    run = run_compare(ws, PLAIN[:3], ["base"], tmp_path / "out", batch_size=3)
    assert isinstance(ws.llm, ScriptedLLM) and ws.llm.batches == [3]  # tried once together
    by_id = {r["id"]: r for r in run.records}
    assert "too long" in by_id["pw"]["error"] and by_id["pw"]["text"] == ""
    assert "error" not in by_id["leave"] and by_id["leave"]["text"]
    assert "error" not in by_id["cat"] and by_id["cat"]["text"]
    on_disk = read_results(tmp_path / "out" / RESULTS_FILE)
    assert [r["id"] for r in on_disk] == ["leave", "pw", "cat"]


def test_answer_batch_gives_the_answers_of_answer(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    questions = [q.question for q in PLAIN]
    for route in ("base", "rag"):
        answerer = ws.answerer(route, cache=False)
        assert isinstance(answerer, BatchAnswering) and answerer.generates_in_batches()
        batch = answerer.answer_batch(questions)
        single = [answerer.answer(q) for q in questions]
        for b, s in zip(batch, single, strict=True):
            assert (b.question, b.text, b.citations, b.hits, b.prompts, b.usage, b.abstained) == (
                s.question,
                s.text,
                s.citations,
                s.hits,
                s.prompts,
                s.usage,
                s.abstained,
            )
            generate = next(step for step in b.trace if step.name == "generate")
            assert generate.detail["batch_size"] == len(questions)
            assert generate.seconds == pytest.approx(generate.detail["batch_wall_s"] / 6, abs=1e-4)
            assert b.timings["total"] >= b.timings["generate"]
        assert answerer.answer_batch([]) == []


def test_rag_batch_where_every_question_abstains_never_calls_the_model(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ws.settings.retrieval.min_relevance = 1.01  # no passage can be relevant enough
    answerer = ws.answerer("rag", cache=False)
    assert isinstance(answerer, BatchAnswering)
    answers = answerer.answer_batch([q.question for q in PLAIN[:3]])
    assert all(a.abstained and a.trace[-1].name == "abstain" for a in answers)
    assert isinstance(ws.llm, ScriptedLLM) and ws.llm.calls == [] and ws.llm.batches == []


def test_batch_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="batch_size"):
        run_compare(workspace(tmp_path), PLAIN, ["base"], tmp_path / "out", batch_size=0)


def test_the_default_batch_size_is_what_measured_fastest_per_route() -> None:
    from expertly.evaluate.compare import DEFAULT_BATCH, default_batch_size

    assert default_batch_size("base", "cpu") == DEFAULT_BATCH
    assert default_batch_size("finetuned", "cpu") == DEFAULT_BATCH
    assert default_batch_size("rag", "cpu") == 1  # long prompts batch badly on a CPU
    assert default_batch_size("hybrid", "cpu") == 1


def test_by_default_closed_book_batches_and_rag_on_a_cpu_does_not(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "a")
    ws.settings.llm.device = "cpu"
    run = run_compare(ws, PLAIN, ["base", "rag"], tmp_path / "out")
    base = [r for r in run.records if r["route"] == "base"]
    rag = [r for r in run.records if r["route"] == "rag"]
    assert all(r.get("batch_size") == len(PLAIN) for r in base)
    assert all("batch_size" not in r for r in rag)
