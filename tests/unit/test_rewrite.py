from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings, Settings
from expertly.errors import ConfigError
from expertly.generate.scripted import ScriptedLLM
from expertly.retrieve.rewrite import (
    HYDE_PROMPT,
    MULTI_PROMPT,
    QueryRewriter,
    RewriteMode,
    RewritingRetriever,
    fuse_rankings,
    parse_queries,
)
from expertly.types import Chunk, Hit, Message
from tests.unit.helpers import fake_workspace, write_corpus


def _hit(doc: str, score: float = 0.0) -> Hit:
    chunk = Chunk(id=f"{doc}#0", doc_id=doc, index=0, text=doc, start=0, end=len(doc))
    return Hit(chunk=chunk, score=score, scores={"dense": score})


def test_parse_queries_cleans_list_marks_and_drops_repeats() -> None:
    reply = (
        "1. HX-100 price\n- 'humidity sensor cost'\n\nQuery 3: What does the HX-100 cost?\n"
        "2) hx-100 PRICE\n" + "word " * 40 + "\n* sensor price list\n* one too many"
    )
    queries = parse_queries(reply, "What does the HX-100 cost?", 3)
    assert queries == ["HX-100 price", "humidity sensor cost", "sensor price list"]
    assert parse_queries("", "q", 3) == []


def test_fuse_rankings_weights_rankings_and_keeps_the_first_hit() -> None:
    question = [_hit("a", 0.9), _hit("b", 0.8)]
    rewrite = [_hit("c", 0.7), _hit("b", 0.6)]
    fused = fuse_rankings([question, rewrite], [1.0, 1.0], rrf_k=60)
    assert [h.chunk.doc_id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 62)
    assert fused[0].scores["dense"] == 0.8  # the question's own hit, not the rewrite's
    ignored = fuse_rankings([question, rewrite], [1.0, 0.0], rrf_k=60)
    assert [h.chunk.doc_id for h in ignored] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        fuse_rankings([question, rewrite], [1.0], rrf_k=60)


def test_unknown_modes_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: none, multi, hyde, keywords"):
        RewriteMode.from_str("paraphrase")
    with pytest.raises(ConfigError, match=r"retrieval\.rewrite"):
        Settings.from_dict({"retrieval": {"rewrite": "paraphrase"}})
    with pytest.raises(ConfigError, match="rewrite_queries"):
        RetrievalSettings(rewrite_queries=0)
    with pytest.raises(ValueError, match="needs a language model"):
        QueryRewriter(RetrievalSettings(rewrite="multi"))


def test_multi_query_asks_once_per_question_and_caches() -> None:
    llm = ScriptedLLM(["HX-100 price\nhumidity sensor cost\nsensor price\nextra"])
    rewriter = QueryRewriter(RetrievalSettings(rewrite="multi", rewrite_queries=2), llm)
    first = rewriter.rewrite("What does the HX-100 cost?")
    assert first.queries == ("HX-100 price", "humidity sensor cost") and first.llm_calls == 1
    again = rewriter.rewrite("What does the HX-100 cost?")
    assert again.queries == first.queries and again.llm_calls == 0
    assert len(llm.calls) == 1
    system, *_, request = llm.calls[0]
    assert system.content == MULTI_PROMPT and "Write 2 search queries" in request.content


def test_hyde_searches_the_hypothetical_passage() -> None:
    llm = ScriptedLLM(["  The HX-100 sensor\n costs 149 EUR.  "])
    rewrite = QueryRewriter(RetrievalSettings(rewrite="hyde"), llm).rewrite("HX-100 price?")
    assert rewrite.passage == "The HX-100 sensor costs 149 EUR."
    assert rewrite.queries == (rewrite.passage,)
    assert llm.calls[0][0].content == HYDE_PROMPT


def test_keywords_mode_needs_no_model() -> None:
    rewriter = QueryRewriter(RetrievalSettings(rewrite="keywords"))
    assert rewriter.rewrite("What is the price of the HX-100?").queries == ("price HX 100",)
    assert rewriter.rewrite("HX-100 price").queries == ("HX 100 price",)
    assert QueryRewriter(RetrievalSettings()).rewrite("anything").queries == ()


def test_rewrites_reach_chunks_the_question_misses(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(mode="sparse", min_relevance=0.0))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    question = "What does the HX-100 cost?"
    plain = ws.retriever.search(question, k=5).hits
    assert {h.chunk.doc_id for h in plain} == {"prices.csv"}
    settings = RetrievalSettings(mode="sparse", rewrite="multi", rewrite_queries=1)
    llm = ScriptedLLM(["rotate API tokens"])
    result = RewritingRetriever(ws.retriever, QueryRewriter(settings, llm)).search(question, k=5)
    assert result.queries == ("rotate API tokens",) and result.llm_calls == 1
    assert {h.chunk.doc_id for h in result.hits} == {"prices.csv", "security.txt"}
    assert result.hits[0].chunk.doc_id == "prices.csv"  # the question keeps its best hit first
    assert result.steps == [{"mode": "multi", "queries": ["rotate API tokens"]}]
    ws.close()


def test_rag_answer_shows_the_rewritten_queries(tmp_path: Path) -> None:
    def reply(messages: Sequence[Message]) -> str:
        if messages[0].content == MULTI_PROMPT:
            return "rotate API tokens\nHX-100 price"
        return "1], the HX-100 costs 149 EUR."

    retrieval = RetrievalSettings(mode="sparse", min_relevance=0.0, rewrite="multi", k=5)
    ws = fake_workspace(tmp_path, replies=reply, retrieval=retrieval)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 cost?")
    assert answer.rewrites == ("rotate API tokens", "HX-100 price")
    steps = {s.name: s.detail for s in answer.trace}
    assert steps["rewrite"]["queries"] == ["rotate API tokens", "HX-100 price"]
    assert steps["retrieve"]["rewrite"] == "multi" and steps["query_llm"]["calls"] == 1
    assert "security.txt" in {h.chunk.doc_id for h in answer.hits}
    assert not answer.abstained and answer.citations[0].doc_id == "prices.csv"
    ws.close()


def test_rag_without_rewriting_runs_only_the_question(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, replies=["1], 149 EUR."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 cost?")
    assert answer.rewrites == ()
    assert len(ws.llm.calls) == 1  # type: ignore[attr-defined]
    assert "rewrite" not in {s.name for s in answer.trace}
    ws.close()
