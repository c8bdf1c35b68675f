from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.answer.citations import cited_numbers, resolve
from expertly.answer.prompt import ABSTAIN_TEXT
from expertly.config import AnswerSettings, RetrievalSettings
from expertly.retrieve import fuse, keyword_query
from expertly.types import Chunk, Hit, Message
from tests.unit.helpers import fake_workspace, write_corpus


def _hit(i: int, text: str, ranks: dict[str, int]) -> Hit:
    chunk = Chunk(id=f"d{i}#0", doc_id=f"d{i}", index=0, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=0.0, source=f"/tmp/d{i}", ranks=ranks, scores={})


def test_rrf_fusion_rewards_agreement_and_respects_weights() -> None:
    hits = [
        _hit(1, "a", {"dense": 1}),
        _hit(2, "b", {"dense": 2, "sparse": 1}),
        _hit(3, "c", {"sparse": 2}),
    ]
    fused = fuse(hits, rrf_k=60, dense_weight=1.0, sparse_weight=1.0)
    assert [h.chunk.doc_id for h in fused] == ["d2", "d1", "d3"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    dense_only = fuse(hits, rrf_k=60, dense_weight=1.0, sparse_weight=0.0)
    assert dense_only[0].chunk.doc_id == "d1"


def test_keyword_query_drops_function_words() -> None:
    assert keyword_query("What is the price of the HX-100?") == "price HX 100"
    assert keyword_query("what is it") == "what is it"


def test_citations_are_parsed_and_mapped() -> None:
    hits = [_hit(1, "Vacation is 28 days.", {}), _hit(2, "Parental leave is 20 weeks.", {})]
    assert cited_numbers("a [2] b [1, 2] c [7]") == [2, 1, 7]
    text, cites, invalid = resolve(
        "Parental leave lasts 20 weeks [2]. Also [7].", hits, attribute=False
    )
    assert invalid == [7]
    assert [(c.number, c.doc_id, c.method) for c in cites] == [(2, "d2", "cited")]
    assert cites[0].quote == "Parental leave is 20 weeks."
    assert text.endswith("[7].")


def test_uncited_sentences_are_attributed_and_marked() -> None:
    hits = [
        _hit(1, "Vacation is 28 days per year.", {}),
        _hit(2, "Parental leave is 20 weeks.", {}),
    ]
    text, cites, _ = resolve("Parental leave is 20 weeks.", hits, attribute=True)
    assert text == "Parental leave is 20 weeks [2]."
    assert cites[0].method == "attributed" and cites[0].doc_id == "d2"
    text, cites, _ = resolve("I like turtles very much.", hits, attribute=True)
    assert cites == [] and "[" not in text


def test_rag_answer_cites_and_shows_prompt(tmp_path: Path) -> None:
    seen: list[Sequence[Message]] = []

    def reply(messages: Sequence[Message]) -> str:
        seen.append(messages)
        return "The HX-100 humidity sensor costs 149 EUR [1]."

    ws = fake_workspace(tmp_path, replies=reply)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert not answer.abstained
    assert answer.citations[0].doc_id == "prices.csv"
    assert answer.citations[0].method == "cited"
    c = answer.citations[0]
    doc_text = ws.store.document_text("prices.csv")
    assert doc_text is not None and "HX-100" in doc_text[c.start : c.end]
    assert answer.prompts[0] == tuple(seen[0])
    assert "[1]" in answer.prompts[0][1].content and "Question:" in answer.prompts[0][1].content
    assert {"retrieve", "generate"} <= {step.name for step in answer.trace}
    assert answer.timings["total"] > 0 and answer.usage["completion_tokens"] > 0
    ws.close()


def test_rag_abstains_without_calling_model_when_nothing_relevant(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(min_relevance=0.99))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    llm = ws.llm
    answer = ws.answerer().answer("Who won the 1954 football world cup?")
    assert answer.abstained and answer.text == ABSTAIN_TEXT
    assert llm.calls == []  # type: ignore[attr-defined]
    ws.close()


def test_rag_marks_model_abstention(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, replies=["The documents do not say."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What is the vacation allowance for contractors?")
    assert answer.abstained and answer.citations == ()
    ws.close()


def test_empty_index_abstains(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    answer = ws.answerer().answer("anything?")
    assert answer.abstained
    ws.close()


def test_prefill_opens_the_answer_and_is_kept(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, replies=["1], the HX-100 costs 149 EUR."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    last = answer.prompts[0][-1]
    assert last.role == "assistant" and last.content == "According to source ["
    assert answer.text == "According to source [1], the HX-100 costs 149 EUR."
    assert [c.number for c in answer.citations] == [1]
    ws.close()


def test_answer_with_a_figure_no_source_contains_is_withheld(tmp_path: Path) -> None:
    ws = fake_workspace(
        tmp_path,
        replies=["1], the HX-100 costs 1,299 EUR."],
        answer=AnswerSettings(fallback="abstain"),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert answer.abstained and answer.text == ABSTAIN_TEXT
    verify = next(s for s in answer.trace if s.name == "verify")
    assert verify.detail["unsupported_figures"] == ["1299"]
    assert "1,299" in verify.detail["draft"]
    ws.close()


def test_figures_are_normalised() -> None:
    from expertly.answer.evidence import figures

    assert figures("EUR 1,700.00 and 949.50, code E42, v2.1") == {"1700", "949.5"}
    # the digits of a code are no figure: "2.0" is not held by "CO2"
    assert figures("the CO2 sensor of the AQ-200, procedure CAL-STR-02") == set()
