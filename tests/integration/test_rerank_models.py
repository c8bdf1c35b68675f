"""The model-backed rerankers (``expertly.retrieve.rerankers``) on real models, offline: a
randomly initialised cross-encoder saved to a temporary directory, and MaxSim over the
packaged MiniLM's token embeddings, both as ``retrieval.rerank`` selects them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings
from expertly.retrieve.rerank import create_reranker
from expertly.types import Chunk, Hit
from tests.unit.helpers import fake_workspace, write_corpus


def hit(doc: str, text: str) -> Hit:
    chunk = Chunk(id=f"{doc}#0", doc_id=doc, index=0, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=0.0, title=doc, scores={"fused": 0.0})


HITS = [
    hit("bread", "Wild yeast and lactobacilli leaven sourdough bread."),
    hit("bees", "Foraging honeybees perform a waggle dance to show where nectar is."),
    hit("glacier", "Alpine glaciers lose ice mass as summer temperatures rise."),
]


@pytest.fixture(scope="module")
def tiny_cross_encoder(module_tmp: Callable[[str], Path]) -> Path:
    """A 1-layer BERT sequence classifier with random weights and MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from expertly.embed.local import packaged_model_dir

    path = module_tmp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_dir()), local_files_only=True)
    config = BertConfig(  # type: ignore[call-arg]  # num_labels: a PretrainedConfig keyword
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def test_cross_encoder_scores_every_hit_and_orders_by_score(tiny_cross_encoder: Path) -> None:
    reranker = create_reranker(
        RetrievalSettings(rerank="cross-encoder", rerank_model=str(tiny_cross_encoder))
    )
    assert reranker is not None
    out = reranker.rerank("where is the nectar?", HITS, 2)
    assert len(out) == 2
    assert {h.chunk.doc_id for h in out} <= {h.chunk.doc_id for h in HITS}
    scores = [h.scores["rerank"] for h in out]
    assert scores == sorted(scores, reverse=True)
    assert [h.ranks["rerank"] for h in out] == [1, 2]
    again = reranker.rerank("where is the nectar?", HITS, 2)
    assert [h.scores["rerank"] for h in again] == pytest.approx(scores)  # deterministic
    assert reranker.rerank("anything", [], 3) == []


def test_maxsim_prefers_the_passage_sharing_the_query_words() -> None:
    reranker = create_reranker(RetrievalSettings(rerank="maxsim"))
    assert reranker is not None
    out = reranker.rerank("honeybees waggle dance nectar", list(reversed(HITS)), 3)
    assert out[0].chunk.doc_id == "bees"
    assert all(-1.0 <= h.score <= 1.0 for h in out)


def test_retriever_uses_the_configured_cross_encoder(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    settings = RetrievalSettings(
        min_relevance=0.0,
        rerank="cross-encoder",
        rerank_model=str(tiny_cross_encoder),
        rerank_candidates=3,
    )
    ws = fake_workspace(tmp_path, retrieval=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    result = ws.retriever.search("parental leave", k=5)
    assert result.timings["rerank"] > 0
    assert [h.ranks["rerank"] for h in result.hits[:3]] == [1, 2, 3]
    assert all("rerank" not in h.ranks for h in result.hits[3:])


def test_an_incomplete_model_folder_is_a_model_not_found_error(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    from expertly.embed.st import load_cross_encoder
    from expertly.errors import ModelNotFoundError

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((tiny_cross_encoder / "config.json").read_bytes())
    with pytest.raises(ModelNotFoundError, match=r"cannot be loaded offline"):
        load_cross_encoder(broken, purpose="cross-encoder reranking")
