from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings, Settings
from expertly.errors import ConfigError, ExpertlyError
from expertly.evaluate.hotpot import evaluate_hotpot, load_hotpot, supporting_recall
from expertly.generate.scripted import ScriptedLLM
from expertly.retrieve.multihop import (
    DECOMPOSE_PROMPT,
    FOLLOWUP_PROMPT,
    MultiHopMode,
    MultiHopRetriever,
    bridge_entities,
    names_in,
    question_parts,
)
from expertly.types import Chunk, Hit, Message
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace

QUESTION = "What office did the actress who played Corliss Archer in Kiss and Tell hold?"
PASSAGES = {
    "kiss": ("Kiss and Tell", "Kiss and Tell is a 1945 comedy film in which Shirley Temple "
             "plays Corliss Archer, a teenage girl from Ohio."),
    "temple": ("Shirley Temple", "Shirley Temple Black was a child star of the 1930s who "
               "later served as Chief of Protocol of the United States."),
    "meet": ("Meet Corliss Archer", "Meet Corliss Archer is a radio comedy about a teenage "
             "girl, first broadcast in 1943."),
    "ohio": ("Ohio River", "The Ohio River flows west through six states."),
    "alpha": ("Alpha Corp", "Alpha Corp is a bakery founded in Lyon in 1921."),
    "beta": ("Beta Works", "Beta Works is a foundry founded in Lyon in 1911."),
}  # fmt: skip


def _hit(doc: str, text: str, title: str = "") -> Hit:
    chunk = Chunk(id=f"{doc}#0", doc_id=doc, index=0, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=1.0, title=title)


def _workspace(tmp_path: Path, replies: Sequence[str] = ("ok",), **retrieval: object) -> Workspace:
    settings = RetrievalSettings(mode="sparse", min_relevance=0.0, **retrieval)  # type: ignore[arg-type]
    ws = fake_workspace(tmp_path, replies, retrieval=settings)
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, (title, text) in PASSAGES.items():
        (folder / f"{name}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    ws.ingestor.ingest([folder])
    return ws


def _docs(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.doc_id for h in hits]


def test_names_are_capitalised_spans_split_at_sentence_ends() -> None:
    text = (
        "The film stars Johnny Depp as Ed Wood. In Paris, Wood's friend met Martin Landau. "
        'Sarah Jessica Parker joined the Bank of England and "Live Like a Suicide" aired.'
    )
    assert names_in(text) == [
        "Live Like a Suicide", "Johnny Depp", "Ed Wood", "Paris", "Wood", "Martin Landau",
        "Sarah Jessica Parker", "Bank of England", "Live Like", "Suicide",
    ]  # fmt: skip
    assert names_in("# Meet Corliss Archer\n\nMeet Corliss Archer is a show") == [
        "Meet Corliss Archer"
    ]
    assert names_in("he said it was over.") == []
    assert question_parts("Were Alpha Corp and Beta Works founded in the same city?") == [
        "Alpha Corp",
        "Beta Works",
    ]


def test_bridge_entities_skip_what_the_question_and_read_titles_name() -> None:
    hits = [
        _hit("kiss", PASSAGES["kiss"][1], "Kiss and Tell"),
        _hit("meet", PASSAGES["meet"][1], "Meet Corliss Archer"),
        _hit("ohio", PASSAGES["ohio"][1], "Ohio River"),
    ]
    assert bridge_entities(QUESTION, hits, read=2, limit=5) == ["Shirley Temple", "Ohio"]
    assert bridge_entities(QUESTION, hits, read=2, limit=1) == ["Shirley Temple"]
    # "Ohio River" is the title of a passage read: it leads nowhere new.
    assert bridge_entities(QUESTION, hits, read=3, limit=5) == ["Shirley Temple", "Ohio"]
    assert names_in(PASSAGES["ohio"][1])[0] == "Ohio River"


def test_iterate_reaches_the_passage_only_the_first_one_names(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, multihop="iterate")
    single = ws.retriever.search(QUESTION, k=4).hits
    assert "temple.md" not in _docs(single)
    result = MultiHopRetriever(ws.retriever, ws.settings.retrieval).search(QUESTION, k=4)
    assert "temple.md" in _docs(result.hits) and result.llm_calls == 0
    assert result.hits[0].chunk.doc_id == single[0].chunk.doc_id  # the question's best stays
    assert "Shirley Temple" in result.queries
    hop = result.steps[-1]
    assert hop["hop"] == 2 and hop["source"] == "bridge entities"
    assert "temple.md#0" in hop["reached"]
    ws.close()


def test_decompose_searches_the_question_parts(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, multihop="decompose", multihop_hops=2)
    question = "Were Alpha Corp and Beta Works founded in the same city?"
    result = MultiHopRetriever(ws.retriever, ws.settings.retrieval).search(question, k=3)
    assert result.queries[:2] == ("Alpha Corp", "Beta Works")
    assert set(_docs(result.hits)[:2]) == {"alpha.md", "beta.md"}
    ws.close()


def test_llm_follow_up_is_asked_once_and_cached(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, multihop="iterate", multihop_llm=True, multihop_hops=3)
    prompts: list[str] = []

    def reply(messages: Sequence[Message]) -> str:
        prompts.append(messages[0].content)
        return "Shirley Temple" if len(prompts) == 1 else "Ohio River"

    llm = ScriptedLLM(reply)
    expander = MultiHopRetriever(ws.retriever, ws.settings.retrieval, llm=llm)
    first = expander.search(QUESTION, k=4)
    assert first.queries[:2] == ("Shirley Temple", "Ohio River") and first.llm_calls == 2
    assert prompts == [FOLLOWUP_PROMPT, FOLLOWUP_PROMPT] and "temple.md" in _docs(first.hits)
    again = expander.search(QUESTION, k=4)
    assert again.queries == first.queries and len(llm.calls) == 2
    with pytest.raises(ValueError, match="needs a language model"):
        MultiHopRetriever(ws.retriever, ws.settings.retrieval)
    ws.close()


def test_llm_decomposition_uses_the_sub_questions(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, multihop="decompose", multihop_llm=True, multihop_hops=2)
    llm = ScriptedLLM(["Where was Alpha Corp founded?\nWhere was Beta Works founded?"])
    question = "Were the bakery and the foundry founded in the same city?"
    result = MultiHopRetriever(ws.retriever, ws.settings.retrieval, llm=llm).search(question, k=3)
    assert llm.calls[0][0].content == DECOMPOSE_PROMPT
    assert result.queries == ("Where was Alpha Corp founded?", "Where was Beta Works founded?")
    assert {"alpha.md", "beta.md"} <= set(_docs(result.hits))
    ws.close()


def test_modes_and_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="valid: off, iterate, decompose"):
        MultiHopMode.from_str("sideways")
    with pytest.raises(ConfigError, match=r"retrieval\.multihop"):
        Settings.from_dict({"retrieval": {"multihop": "sideways"}})
    with pytest.raises(ConfigError, match="multihop_hops must be between 1 and 3"):
        RetrievalSettings(multihop_hops=4)
    with pytest.raises(ConfigError, match="multihop_weight"):
        RetrievalSettings(multihop_weight=-1.0)


def test_rag_answer_lists_follow_up_queries(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, ["1], Chief of Protocol."], multihop="iterate", k=4)
    answer = ws.answerer().answer(QUESTION)
    assert "Shirley Temple" in answer.rewrites
    assert "temple.md" in {h.chunk.doc_id for h in answer.hits}
    steps = [s.name for s in answer.trace]
    assert steps.index("multihop") < steps.index("retrieve") < steps.index("generate")
    assert len(ws.llm.calls) == 1  # type: ignore[attr-defined]  # the answer only
    ws.close()


# ------------------------------------------------------------ HotpotQA-format evaluation


def _hotpot_folder(tmp_path: Path, gold: Sequence[str] = ("kiss", "temple")) -> Path:
    folder = tmp_path / "hotpot"
    folder.mkdir()
    passages = [{"id": k, "title": t, "text": x} for k, (t, x) in PASSAGES.items()]
    questions = [
        {"id": "q1", "question": QUESTION, "gold_passage_ids": list(gold), "type": "bridge"},
        {"id": "q2", "question": "Were Alpha Corp and Beta Works founded in the same city?",
         "gold_passage_ids": ["alpha", "beta"], "type": "comparison"},
    ]  # fmt: skip
    for name, rows in (("passages", passages), ("questions", questions)):
        text = "\n".join(json.dumps(r) for r in rows)
        (folder / f"{name}.jsonl").write_text(text + "\n", encoding="utf-8")
    return folder


def test_supporting_recall_counts_gold_passages_in_the_top_k() -> None:
    assert supporting_recall(["a", "x", "b"], ["a", "b"], 2) == 0.5
    assert supporting_recall(["a", "x", "b"], ["a", "b"], 3) == 1.0
    assert supporting_recall([], ["a", "b"], 10) == 0.0


def test_hotpot_folder_errors_name_the_file_and_line(tmp_path: Path) -> None:
    folder = _hotpot_folder(tmp_path, gold=("kiss", "nowhere"))
    with pytest.raises(ExpertlyError, match=r"questions.jsonl, line 1: gold passage 'nowhere'"):
        load_hotpot(folder)
    with pytest.raises(ExpertlyError, match="no such folder"):
        load_hotpot(tmp_path / "missing")


def test_hotpot_evaluation_scores_every_configuration(tmp_path: Path) -> None:
    from expertly.evaluate.beir import index_corpus
    from expertly.evaluate.hotpot import passage_documents

    hotpot = load_hotpot(_hotpot_folder(tmp_path))
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(mode="sparse", min_relevance=0.0))
    index_corpus(ws, list(passage_documents(hotpot.passages_path)))
    sparse, multihop = evaluate_hotpot(
        ws, hotpot, ["sparse", "multihop-iterate"], cutoffs=(2, 6), chunk_k=6
    )
    assert set(multihop.by_type) == {"bridge", "comparison"}
    # Six passages in all: the top 6 holds every gold passage whatever the order.
    assert multihop.metrics["recall@6"] == 1.0 and multihop.metrics["both@6"] == 1.0
    single = sparse.per_question[0]
    assert "temple" not in single["top10"] and single["recall@2"] == 0.5
    assert "temple" in multihop.per_question[0]["top10"]
    assert multihop.metrics["recall@2"] >= sparse.metrics["recall@2"]
    ws.close()
