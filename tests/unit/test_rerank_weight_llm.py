"""Score interpolation (``retrieval.rerank_weight``) and the LLM-as-judge reranker, with
the scripted fake LLM: the mixing formula, the wrapper every backend gets, the yes/no
parsing, the graded path for models that give log-probabilities, and the errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings
from expertly.errors import ConfigError
from expertly.generate.scripted import ScriptedLLM
from expertly.retrieve import Retriever
from expertly.retrieve.rerank import (
    ChoiceScorer,
    Interpolated,
    LLMReranker,
    create_reranker,
    parse_verdict,
    register_llm_reranker,
    register_reranker,
    reranker_names,
    rescored,
)
from expertly.types import Chunk, Hit, Message
from tests.unit.helpers import fake_workspace, write_corpus


def hit(doc: str, score: float, text: str = "") -> Hit:
    chunk = Chunk(id=f"{doc}#0", doc_id=doc, index=0, text=text or doc, start=0, end=1)
    return Hit(chunk=chunk, score=score, title="", scores={"fused": score})


def test_weight_one_is_the_reranker_order_and_weight_zero_the_fused_order() -> None:
    hits = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    reranker_scores = [0.0, 1.0, 2.0]
    only = rescored(hits, reranker_scores, 3, weight=1.0)
    assert [h.chunk.doc_id for h in only] == ["c", "b", "a"]
    assert only[0].score == 2.0  # weight 1 keeps the reranker's raw score
    fused = rescored(hits, reranker_scores, 3, weight=0.0)
    assert [h.chunk.doc_id for h in fused] == ["a", "b", "c"]


def test_mixed_score_is_the_weighted_sum_of_min_max_normalised_scores() -> None:
    hits = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    out = rescored(hits, [0.0, 10.0, 4.0], 3, weight=0.5)
    # reranker normalised: a 0, b 1, c 0.4; fused normalised: a 1, b 0.5, c 0
    by_doc = {h.chunk.doc_id: h for h in out}
    assert by_doc["a"].score == pytest.approx(0.5)
    assert by_doc["b"].score == pytest.approx(0.75)
    assert by_doc["c"].score == pytest.approx(0.2)
    assert [h.chunk.doc_id for h in out] == ["b", "a", "c"]
    assert by_doc["b"].scores["rerank"] == 10.0 and by_doc["b"].scores["fused"] == 0.5
    assert [h.ranks["rerank"] for h in out] == [1, 2, 3]


def test_equal_scores_normalise_to_one_and_bad_weights_are_refused() -> None:
    hits = [hit("a", 0.9), hit("b", 0.5)]
    out = rescored(hits, [3.0, 3.0], 2, weight=0.2)  # reranker adds nothing: fused order
    assert [h.chunk.doc_id for h in out] == ["a", "b"]
    assert out[0].score == pytest.approx(0.2 + 0.8)
    with pytest.raises(ValueError, match="weight must be between 0 and 1"):
        rescored(hits, [1.0, 2.0], 2, weight=1.5)
    with pytest.raises(ConfigError, match=r"retrieval\.rerank_weight must be between 0 and 1"):
        RetrievalSettings(rerank_weight=-0.1)


class Scores:
    """A reranker that gives fixed scores by chunk id."""

    name = "fixed"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        return rescored(hits, [self.scores[h.chunk.id] for h in hits], k)


def test_create_reranker_wraps_any_backend_when_the_weight_is_below_one() -> None:
    register_reranker("fixed", lambda s: Scores({"a#0": 0.0, "b#0": 10.0, "c#0": 4.0}))
    plain = create_reranker(RetrievalSettings(rerank="fixed"))
    assert isinstance(plain, Scores)
    mixed = create_reranker(RetrievalSettings(rerank="fixed", rerank_weight=0.5))
    assert isinstance(mixed, Interpolated) and mixed.name == "fixed"
    hits = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    out = mixed.rerank("q", hits, 2)
    assert [h.chunk.doc_id for h in out] == ["b", "a"]
    assert out[0].score == pytest.approx(0.75) and out[0].scores["rerank"] == 10.0
    assert mixed.rerank("q", [], 2) == []


def test_interpolation_refuses_a_backend_that_records_no_score() -> None:
    class Silent:
        name = "silent"

        def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
            return list(hits)[:k]

    with pytest.raises(ValueError, match="returned no 'rerank' score"):
        Interpolated(Silent(), 0.5).rerank("q", [hit("a", 1.0)], 1)


def test_retriever_applies_the_weight_from_the_settings(tmp_path: Path) -> None:
    query = "parental leave vacation passwords"
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(min_relevance=0.0))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    plain = [h.chunk.id for h in ws.retriever.search(query, k=3).hits]
    register_reranker("last-first", lambda s: Scores({c: float(i) for i, c in enumerate(plain)}))
    for weight, expected in ((1.0, plain[::-1]), (0.0, plain)):
        settings = RetrievalSettings(
            min_relevance=0.0, rerank="last-first", rerank_candidates=3, rerank_weight=weight
        )
        hits = Retriever(ws.store, ws.embedder, settings).search(query, k=3).hits
        assert [h.chunk.id for h in hits] == expected


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Yes", 1.0),
        ("yes, it does", 1.0),
        (" No.", 0.0),
        ("The answer is no", 0.0),
        ("Noted", None),
        ("Maybe", None),
        ("", None),
    ],
)
def test_parse_verdict_reads_the_first_yes_or_no_word(reply: str, verdict: float | None) -> None:
    assert parse_verdict(reply) == verdict


def test_llm_reranker_moves_accepted_passages_first_and_keeps_fused_order_in_ties() -> None:
    def judge(messages: Sequence[Message]) -> str:
        prompt = messages[-1].content.split("Question:")[0]  # the passage part
        return "Yes." if "leave" in prompt else ("Hmm" if "vacation" in prompt else "No")

    llm = ScriptedLLM(judge)
    reranker = LLMReranker(llm)
    hits = [
        hit("a", 0.9, "passwords rotate yearly"),
        hit("b", 0.8, "vacation days"),
        hit("c", 0.7, "parental leave is 20 weeks"),
        hit("d", 0.6, "sick leave"),
    ]
    out = reranker.rerank("How long is parental leave?", hits, 4)
    assert [h.chunk.doc_id for h in out] == ["c", "d", "b", "a"]
    assert [h.scores["rerank"] for h in out] == [1.0, 1.0, 0.5, 0.0]
    assert (reranker.calls, reranker.accepted, reranker.unparsed) == (4, 2, 1)
    prompt = llm.calls[0][-1].content
    assert "passwords rotate yearly" in prompt and "How long is parental leave?" in prompt
    assert reranker.rerank("q", [], 3) == []


def test_llm_reranker_cuts_long_passages_and_builds_the_model_lazily() -> None:
    built: list[ScriptedLLM] = []

    def build() -> ScriptedLLM:
        built.append(ScriptedLLM("Yes"))
        return built[-1]

    reranker = LLMReranker(build, max_chars=50)
    assert built == []
    reranker.rerank("q", [hit("a", 1.0, "x" * 500)], 1)
    assert len(built) == 1 and built[0].calls[0][-1].content.count("x") == 50


class Graded(ScriptedLLM):
    """A fake model that can give log-probabilities of answers."""

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        self.calls.append(list(messages))
        relevant = "leave" in messages[-1].content.split("Question:")[0]
        return [-0.1, -2.0] if relevant else [-3.0, -0.2]


def test_llm_reranker_uses_log_probabilities_when_the_model_gives_them() -> None:
    llm = Graded()
    assert isinstance(llm, ChoiceScorer)
    out = LLMReranker(llm).rerank("q", [hit("a", 0.9, "passwords"), hit("b", 0.1, "leave")], 2)
    assert [h.chunk.doc_id for h in out] == ["b", "a"]
    assert out[0].scores["rerank"] == pytest.approx(1.9)
    assert out[1].scores["rerank"] == pytest.approx(-2.8)


def test_the_llm_backend_needs_a_model_and_is_registered() -> None:
    assert "llm" in reranker_names()
    with pytest.raises(ConfigError, match="asks a language model"):
        create_reranker(RetrievalSettings(rerank="llm"))
    built = create_reranker(RetrievalSettings(rerank="llm"), llm=ScriptedLLM("Yes"))
    assert isinstance(built, LLMReranker)
    weighted = create_reranker(
        RetrievalSettings(rerank="llm", rerank_weight=0.5), llm=lambda: ScriptedLLM("No")
    )
    assert isinstance(weighted, Interpolated) and isinstance(weighted.inner, LLMReranker)
    register_llm_reranker("judge-x", lambda s, llm: LLMReranker(llm, max_tokens=1))
    custom = create_reranker(RetrievalSettings(rerank="judge-x"), llm=ScriptedLLM("Yes"))
    assert isinstance(custom, LLMReranker) and custom.max_tokens == 1


def test_workspace_search_and_eval_configuration_reach_the_llm_judge(tmp_path: Path) -> None:
    from expertly.evaluate.configurations import CONFIGURATIONS

    def judge(messages: Sequence[Message]) -> str:
        passage = messages[-1].content.split("Question:")[0]
        return "Yes" if "14 characters" in passage else "No"

    settings = RetrievalSettings(min_relevance=0.0, rerank="llm", rerank_candidates=4)
    ws = fake_workspace(tmp_path, judge, retrieval=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    scripted = ws.llm
    assert isinstance(scripted, ScriptedLLM)
    hits = ws.retriever.search("how long is a vacation in days", k=4).hits
    assert "14 characters" in hits[0].chunk.text  # the one passage the judge accepted
    assert len(scripted.calls) == min(4, len(hits)) > 1
    searcher = CONFIGURATIONS["hybrid+llm"].build(ws)
    before = len(scripted.calls)
    assert "14 characters" in searcher("vacation days", 3)[0].chunk.text
    assert len(scripted.calls) > before
