"""The reranking stage: the Reranker protocol and registry, ``rescored``, how the Retriever
applies a reranker (candidates, the untouched tail, the override), and the errors the model
backends give before any model loads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings
from expertly.errors import ConfigError, ModelNotFoundError
from expertly.retrieve.rerank import (
    Reranker,
    create_reranker,
    passage_text,
    register_reranker,
    reranker_names,
    rescored,
)
from expertly.types import Chunk, Hit
from tests.unit.helpers import fake_workspace, write_corpus


def hit(doc: str, score: float = 0.0, text: str = "") -> Hit:
    chunk = Chunk(id=f"{doc}#0", doc_id=doc, index=0, text=text or doc, start=0, end=1)
    return Hit(chunk=chunk, score=score, title=f"Title {doc}", scores={"fused": score})


class Reverse:
    """Ranks hits in reverse order and records what it was given."""

    name = "reverse"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        self.seen.append([h.chunk.id for h in hits])
        return rescored(hits, [float(i) for i in range(len(hits))], k)


def test_rescored_orders_records_and_cuts() -> None:
    hits = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)]
    out = rescored(hits, [0.1, 0.5, 0.5], 2)
    assert [h.chunk.doc_id for h in out] == ["b", "c"]  # ties keep the incoming order
    assert [h.ranks["rerank"] for h in out] == [1, 2]
    assert out[0].score == 0.5 and out[0].scores == {"fused": 0.8, "rerank": 0.5}
    with pytest.raises(ValueError, match="2 scores for 3 hits"):
        rescored(hits, [0.1, 0.2], 3)


def test_passage_text_puts_the_title_first() -> None:
    assert passage_text(hit("a", text="body")) == "Title a\nbody"


def test_registry_builds_by_name_and_rejects_unknown_names() -> None:
    register_reranker("reverse", lambda s: Reverse())
    assert "reverse" in reranker_names()
    assert {"cross-encoder", "maxsim"} <= set(reranker_names())
    built = create_reranker(RetrievalSettings(rerank="reverse"))
    assert isinstance(built, Reranker) and built.name == "reverse"
    assert create_reranker(RetrievalSettings()) is None
    with pytest.raises(ConfigError, match=r"retrieval\.rerank = 'bogus' is unknown; valid"):
        create_reranker(RetrievalSettings(rerank="bogus"))


def test_retriever_reranks_only_the_candidates_and_keeps_the_tail(tmp_path: Path) -> None:
    settings = RetrievalSettings(min_relevance=0.0, rerank="reverse", rerank_candidates=2)
    ws = fake_workspace(tmp_path, retrieval=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    plain = ws.retriever.search("parental leave vacation passwords", k=4, rerank=False).hits
    reverse = Reverse()
    ws.retriever._reranker = reverse
    result = ws.retriever.search("parental leave vacation passwords", k=4)
    ranked = [h.chunk.id for h in result.hits]
    assert reverse.seen == [[h.chunk.id for h in plain[:2]]]
    assert ranked[:2] == [plain[1].chunk.id, plain[0].chunk.id]
    assert ranked[2:] == [h.chunk.id for h in plain[2:4]]
    assert "rerank" in result.timings and "rerank" not in result.hits[2].scores


def test_retriever_without_a_reranker(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    assert ws.retriever.reranker is None
    assert "rerank" not in ws.retriever.search("vacation days").timings
    with pytest.raises(ValueError, match=r"retrieval\.rerank names no reranker"):
        ws.retriever.search("vacation days", rerank=True)


def test_cross_encoder_needs_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"retrieval\.rerank_model"):
        create_reranker(RetrievalSettings(rerank="cross-encoder"))
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        create_reranker(RetrievalSettings(rerank="cross-encoder", rerank_model=str(tmp_path)))


def test_maxsim_rejects_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError, match="is not a directory"):
        create_reranker(RetrievalSettings(rerank="maxsim", rerank_model=str(missing)))
