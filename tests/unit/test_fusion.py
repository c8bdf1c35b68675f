"""Fusion of dense and BM25 rankings: weighted RRF and convex (min-max / z-score) fusion,
the settings that choose between them, and the derived dev/fit splits of BEIR train data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.config import RetrievalSettings
from expertly.corpora import is_dev_query, load_beir
from expertly.errors import ConfigError, ExpertlyError
from expertly.retrieve.hybrid import convex_fuse, fuse, fuse_with
from expertly.types import Chunk, Hit
from tests.unit.helpers import fake_workspace, write_corpus


def hit(cid: str, **methods: tuple[int, float]) -> Hit:
    """A hit whose per-method (rank, score) pairs are given by keyword: dense=(1, 0.9)."""
    chunk = Chunk(id=f"{cid}#0", doc_id=cid, index=0, text=cid, start=0, end=len(cid))
    return Hit(
        chunk=chunk,
        score=0.0,
        ranks={m: r for m, (r, _) in methods.items()},
        scores={m: s for m, (_, s) in methods.items()},
    )


HITS = [
    hit("a", dense=(1, 0.90), sparse=(3, 2.0)),
    hit("b", dense=(2, 0.80)),
    hit("c", dense=(3, 0.50), sparse=(1, 12.0)),
    hit("d", sparse=(2, 6.0)),
]


def ids(hits: list[Hit]) -> list[str]:
    return [h.chunk.doc_id for h in hits]


def test_rrf_matches_the_formula_and_orders_by_it() -> None:
    fused = fuse(HITS, rrf_k=60, dense_weight=1.0, sparse_weight=1.0)
    by_id = {h.chunk.doc_id: h.score for h in fused}
    assert by_id["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert by_id["b"] == pytest.approx(1 / 62)
    assert by_id["c"] == pytest.approx(1 / 63 + 1 / 61)
    # a and c tie (so do b and d): ties go to the better single rank, then the chunk id
    assert ids(fused) == ["a", "c", "b", "d"]
    assert all(h.scores["fused"] == h.score for h in fused)


def test_rrf_weights_shift_the_order() -> None:
    dense_heavy = fuse(HITS, rrf_k=1, dense_weight=5.0, sparse_weight=1.0)
    sparse_heavy = fuse(HITS, rrf_k=1, dense_weight=1.0, sparse_weight=5.0)
    assert ids(dense_heavy)[0] == "a"
    assert ids(sparse_heavy)[0] == "c"


def test_convex_minmax_scores() -> None:
    fused = convex_fuse(HITS, dense_weight=0.5, sparse_weight=0.5, normalization="minmax")
    by_id = {h.chunk.doc_id: h.score for h in fused}
    # dense: 0.9 -> 1, 0.8 -> 0.75, 0.5 -> 0 ; sparse: 12 -> 1, 6 -> 0.4, 2 -> 0
    assert by_id["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert by_id["b"] == pytest.approx(0.5 * 0.75 + 0.5 * 0.0)  # missing sparse -> list's minimum
    assert by_id["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert by_id["d"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.4)
    assert ids(fused)[:2] == ["a", "c"]
    assert ids(fused)[2:] == ["b", "d"]


def test_convex_zscore_puts_a_missing_method_at_its_lowest_value() -> None:
    fused = convex_fuse(HITS, dense_weight=1.0, sparse_weight=0.0, normalization="zscore")
    by_id = {h.chunk.doc_id: h.score for h in fused}
    mean = (0.9 + 0.8 + 0.5) / 3
    std = (((0.9 - mean) ** 2 + (0.8 - mean) ** 2 + (0.5 - mean) ** 2) / 3) ** 0.5
    assert by_id["a"] == pytest.approx((0.9 - mean) / std)
    assert by_id["d"] == pytest.approx((0.5 - mean) / std)
    assert ids(fused)[0] == "a"


def test_convex_with_equal_scores_and_a_single_method() -> None:
    flat = [hit("x", dense=(1, 0.5)), hit("y", dense=(2, 0.5))]
    minmax = convex_fuse(flat, dense_weight=1.0, sparse_weight=1.0)
    zscore = convex_fuse(flat, dense_weight=1.0, sparse_weight=1.0, normalization="zscore")
    assert [h.score for h in minmax] == [1.0, 1.0]
    assert [h.score for h in zscore] == [0.0, 0.0]
    assert ids(minmax) == ["x", "y"]  # ties keep the better rank first
    assert convex_fuse([], dense_weight=1.0, sparse_weight=1.0) == []


def test_convex_a_single_sparse_hit_still_outranks_what_bm25_missed() -> None:
    hits = [
        hit("x", dense=(1, 0.9)),
        hit("y", dense=(2, 0.89), sparse=(1, 3.0)),
        hit("z", dense=(3, 0.1)),
    ]
    for normalization in ("minmax", "zscore"):
        fused = convex_fuse(hits, dense_weight=1.0, sparse_weight=1.0, normalization=normalization)
        assert ids(fused) == ["y", "x", "z"], normalization


def test_convex_rejects_an_unknown_normalization() -> None:
    with pytest.raises(ValueError, match="minmax, zscore"):
        convex_fuse(HITS, dense_weight=1.0, sparse_weight=1.0, normalization="rank")


def test_fuse_with_follows_the_settings() -> None:
    assert RetrievalSettings().fusion == "convex"  # the default chosen on SciFact fit/dev
    rrf = fuse_with(
        HITS, RetrievalSettings(fusion="rrf", rrf_k=60, dense_weight=1.0, sparse_weight=1.0)
    )
    convex = fuse_with(
        HITS, RetrievalSettings(fusion="convex", dense_weight=0.5, sparse_weight=0.5)
    )
    assert rrf[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert convex[0].score == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fusion", "max", "retrieval.fusion"),
        ("normalization", "rank", "retrieval.normalization"),
        ("rerank_candidates", 0, "retrieval.rerank_candidates"),
    ],
)
def test_bad_fusion_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetrievalSettings(**{field: value})  # type: ignore[arg-type]


def test_retriever_uses_convex_fusion_from_settings(tmp_path: Path) -> None:
    settings = RetrievalSettings(
        min_relevance=0.0, fusion="convex", dense_weight=0.3, sparse_weight=0.7
    )
    ws = fake_workspace(tmp_path, retrieval=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    result = ws.retriever.search("parental leave weeks", k=3)
    assert result.hits
    assert result.hits[0].chunk.doc_id.endswith("leave.md")
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 + 1e-9 for s in scores)  # minmax, weights summing to 1


def _beir(folder: Path, train: str) -> Path:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "x"}\n')
    queries = "".join(f'{{"_id": "q{i}", "text": "question {i}"}}\n' for i in range(40))
    (folder / "queries.jsonl").write_text(queries)
    (folder / "qrels-train.tsv").write_text(train)
    return folder


def test_dev_and_fit_are_disjoint_parts_of_train(tmp_path: Path) -> None:
    train = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td1\t1\n" for i in range(40))
    folder = _beir(tmp_path / "data", train)
    whole = load_beir(folder, split="train").evalset.queries
    dev = load_beir(folder, split="dev").evalset
    fit = load_beir(folder, split="fit").evalset
    assert set(dev.queries) | set(fit.queries) == set(whole)
    assert not set(dev.queries) & set(fit.queries)
    assert set(dev.queries) == {q for q in whole if is_dev_query(q)}
    assert 0 < len(dev.queries) < len(fit.queries)
    assert dev.split == "dev" and fit.split == "fit"


def test_a_dev_file_wins_over_the_derived_split(tmp_path: Path) -> None:
    train = "".join(f"q{i}\td1\t1\n" for i in range(40))
    folder = _beir(tmp_path / "data", train)
    (folder / "qrels-dev.tsv").write_text("q1\td1\t1\n")
    assert list(load_beir(folder, split="dev").evalset.queries) == ["q1"]
    assert len(load_beir(folder, split="fit").evalset.queries) == 40


def test_unknown_split_lists_the_valid_ones(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "data", "q1\td1\t1\n")
    with pytest.raises(ExpertlyError, match="test, train, dev, fit"):
        load_beir(folder, split="validation")


def test_fusion_and_rerank_configurations_search_one_index(tmp_path: Path) -> None:
    from expertly.evaluate.configurations import CONFIGURATIONS, parse_configurations
    from expertly.retrieve.rerank import register_reranker, rescored

    class Reverse:
        name = "reverse-config"

        def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
            return rescored(hits, [float(i) for i in range(len(hits))], k)

    register_reranker("reverse-config", lambda s: Reverse())
    names = "hybrid,hybrid-rrf60,hybrid-convex,hybrid+rerank"
    assert parse_configurations(names) == names.split(",")
    ws = fake_workspace(
        tmp_path, retrieval=RetrievalSettings(min_relevance=0.0, rerank="reverse-config")
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    question = "parental leave vacation"
    rrf = CONFIGURATIONS["hybrid-rrf60"].build(ws)(question, 4)
    convex = CONFIGURATIONS["hybrid-convex"].build(ws)(question, 4)
    reranked = CONFIGURATIONS["hybrid+rerank"].build(ws)(question, 4)
    assert rrf[0].score == pytest.approx(sum(1 / (60 + r) for r in rrf[0].ranks.values()))
    assert all("rerank" not in h.scores for h in [*rrf, *convex])
    assert convex[0].score <= 2.0 + 1e-9
    assert [h.ranks["rerank"] for h in reranked] == [1, 2, 3, 4]
    ws.settings.retrieval.rerank = ""
    with pytest.raises(ExpertlyError, match=r"retrieval\.rerank is off"):
        CONFIGURATIONS["hybrid+rerank"].build(ws)
