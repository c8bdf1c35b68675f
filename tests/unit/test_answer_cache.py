"""The answer cache: round trip, hits, invalidation by ingest, and the closed-book route."""

from __future__ import annotations

from pathlib import Path

from expertly.answer.cache import AnswerCache, answer_from_json, answer_to_json
from expertly.answer.closed_book import ClosedBookAnswerer
from expertly.config import CacheSettings
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Answer, Chunk, Citation, Hit, Message, TraceStep
from tests.unit.helpers import fake_workspace, write_corpus


def test_answer_json_round_trip() -> None:
    chunk = Chunk("d#0", "d", 0, "text", 0, 4, heading_path=("A", "B"), page=2)
    answer = Answer(
        "q?",
        "a [1]",
        citations=(Citation(1, "d", "d#0", "/d", 0, 4, 0.5, heading_path=("A",)),),
        hits=(Hit(chunk, 0.5, "/d", "T", {"dense": 0.5}, {"dense": 1}),),
        prompts=((Message("system", "s"), Message("user", "u")),),
        trace=(TraceStep("retrieve", {"k": 3}, 0.01),),
        timings={"total": 1.0},
        usage={"prompt_tokens": 3},
        route="hybrid",
        incomplete=True,
        reason="max steps",
        rewrites=("q1", "q2"),
        leads=(Citation(2, "e", "e#1", "/e", 5, 9, 0.4, quote="closest sentence"),),
    )
    assert answer_from_json(answer_to_json(answer)) == answer


def test_cache_get_put_clear(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "a.sqlite")
    key = AnswerCache.key("rag", "m", "q")
    assert cache.get(key) is None
    cache.put(key, Answer("q", "a"))
    assert cache.get(key) == Answer("q", "a")
    assert AnswerCache(tmp_path / "a.sqlite").get(key) == Answer("q", "a")  # other connection
    assert cache.clear() == 1 and len(cache) == 0


def test_workspace_caches_until_the_index_changes(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, ["According to source [1] 28 days [1]."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    llm = ws.llm
    assert isinstance(llm, ScriptedLLM)
    answerer = ws.answerer("rag")
    first = answerer.answer("How many vacation days?")
    second = answerer.answer("how many vacation days")
    assert len(llm.calls) == 1, "the second, equal question must come from the cache"
    assert second.trace[0].name == "cache" and second.text == first.text
    assert second.citations == first.citations
    (tmp_path / "docs" / "new.txt").write_text("Parking costs 5 EUR per day.\n", encoding="utf-8")
    ws.ingestor.ingest([tmp_path / "docs"])
    answerer.answer("How many vacation days?")
    assert len(llm.calls) == 2, "an ingest must invalidate cached answers"


def test_cache_can_be_switched_off(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, ["28 days [1]."], cache=CacheSettings(answers=False))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answerer = ws.answerer("rag")
    answerer.answer("How many vacation days?")
    answerer.answer("How many vacation days?")
    assert len(ws.llm.calls) == 2  # type: ignore[attr-defined]


def test_closed_book_answers_without_retrieval() -> None:
    llm = ScriptedLLM(["Paris.\n\nextra"])
    answer = ClosedBookAnswerer(llm, route="base").answer(" What is the capital of France? ")
    assert answer.text == "Paris." and answer.route == "base"
    assert answer.citations == () and answer.hits == ()
    assert [m.role for m in answer.prompts[0]] == ["user"]
    assert answer.usage["completion_tokens"] == 1


def test_base_and_auto_modes_from_the_workspace(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, ["Paris."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    assert ws.answerer("base").answer("Capital of France?").route == "base"
    auto = ws.answerer("auto")
    styled = auto.answer("Draft a reply to the customer about prices")
    # No fine-tuned model exists in this workspace: the router falls back to RAG and says so.
    assert styled.route == "rag"
    assert "'finetuned' is not available" in styled.reason


def test_closed_book_system_message_is_the_configured_one() -> None:
    llm = ScriptedLLM(["Paris."])
    answer = ClosedBookAnswerer(llm, system_prompt="Answer briefly.").answer("Capital?")
    assert [(m.role, m.content) for m in answer.prompts[0]] == [
        ("system", "Answer briefly."),
        ("user", "Capital?"),
    ]
