"""Answerers' ``stream``: the pieces as the model writes them, then the very Answer that
``answer`` gives (text, citations, usage, trace) — rag, closed-book, the router and the
answer cache alike; an answerer that cannot stream gives its whole answer in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expertly.answer import StreamAnswering, Trimmed, stream_answer
from expertly.config import AnswerSettings
from expertly.types import Answer, Principal
from tests.unit.helpers import fake_workspace, write_corpus

REPLY = "1], employees get 20 weeks of paid parental leave.\n\nIgnored after the blank line."


def consume(items: Iterator[str | Answer]) -> tuple[list[str], Answer]:
    pieces: list[str] = []
    for item in items:
        if isinstance(item, Answer):
            return pieces, item
        pieces.append(item)
    raise AssertionError("no Answer at the end of the stream")


def same(a: Answer, b: Answer) -> None:
    """Equal but for timings (and the seconds in the trace)."""
    assert (a.text, a.citations, a.usage, a.abstained, a.route) == (
        b.text,
        b.citations,
        b.usage,
        b.abstained,
        b.route,
    )
    assert [(s.name, {k: v for k, v in s.detail.items() if k != "seconds"}) for s in a.trace] == [
        (s.name, {k: v for k, v in s.detail.items() if k != "seconds"}) for s in b.trace
    ]


def test_rag_and_closed_book_streams_end_with_the_answer(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, [REPLY])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    question = "How long is parental leave?"
    for mode in ("rag", "base"):
        answerer = ws.answerer(mode, cache=False)
        assert isinstance(answerer, StreamAnswering)
        pieces, streamed = consume(answerer.stream(question))
        whole = answerer.answer(question)
        same(streamed, whole)
        assert len(pieces) > 3
        assert "".join(pieces) == whole.text  # nothing changed the draft here


def test_rag_stream_sends_the_prefill_with_the_models_first_words(tmp_path: Path) -> None:
    no_extract = AnswerSettings(extract_min_score=2.0, extract_figure_min_score=2.0)
    ws = fake_workspace(tmp_path, ["  ", REPLY], answer=no_extract)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answerer = ws.answerer("rag", cache=False)
    assert isinstance(answerer, StreamAnswering)
    pieces, empty = consume(answerer.stream("How long is parental leave?"))
    assert pieces == [] and empty.abstained  # a blank reply shows no opening words
    pieces, answer = consume(answerer.stream("How long is parental leave?"))
    assert pieces[0].startswith(AnswerSettings().prefill)
    assert answer.text.startswith("According to source [1], employees get 20 weeks")


def test_the_router_streams_through_the_route_it_chose(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, [REPLY])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    router = ws.answerer("auto", cache=False)
    pieces, answer = consume(stream_answer(router, "How long is parental leave?"))
    assert answer.trace[0].name == "route" and answer.reason.startswith("router:")
    assert len(pieces) > 1


def test_the_cache_stores_a_streamed_answer_and_streams_it_back(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, [REPLY])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    cached = ws.answerer("rag")
    principal = Principal("u1")
    pieces, first = consume(
        stream_answer(cached, "How long is parental leave?", principal=principal)
    )
    again_pieces, again = consume(
        stream_answer(cached, "How long is parental leave?", principal=principal)
    )
    assert again.trace[0].name == "cache" and first.trace[0].name != "cache"
    assert again.text == first.text and again.usage == first.usage
    assert "".join(again_pieces) == "".join(pieces) and len(again_pieces) > 3


def test_an_answerer_that_cannot_stream_is_streamed_whole_in_pieces() -> None:
    class Whole:
        def answer(self, question: str, *, principal: Any = None) -> Answer:
            return Answer(question, "Twenty weeks [1].")

    pieces, answer = consume(stream_answer(Whole(), "q"))
    assert pieces == ["Twenty ", "weeks ", "[1]."] and answer.text == "Twenty weeks [1]."


def test_trimmed_holds_white_space_back_as_strip_would_remove_it() -> None:
    trim = Trimmed()
    shown = [trim.feed(p) for p in ["  ", " Twenty", " weeks ", "\n", "of leave", "\n\n "]]
    assert "".join(shown) == "Twenty weeks \nof leave" == "  Twenty weeks \nof leave\n\n ".strip()
