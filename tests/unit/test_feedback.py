"""Pseudo-relevance feedback in hybrid search (``retrieval.feedback``): the second dense
search, what it is given, how its list is joined with the BM25 list, and when it is off."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expertly.config import RetrievalSettings
from expertly.errors import ConfigError
from expertly.retrieve.hybrid import Retriever, with_dense
from expertly.types import Filters, Hit, Query
from tests.unit.helpers import fake_workspace, write_corpus
from tests.unit.test_fusion import hit


class RecordingStore:
    """Wraps a real store and records every search it is asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.queries: list[Query] = []

    def search(self, query: Query, k: int) -> list[Hit]:
        self.queries.append(query)
        return self.inner.search(query, k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_with_dense_keeps_bm25_and_takes_the_new_dense_list() -> None:
    first = [
        hit("a", dense=(1, 0.9), sparse=(2, 5.0)),
        hit("b", dense=(2, 0.8)),  # dense only: gone unless the new dense list has it
        hit("c", sparse=(1, 9.0)),
    ]
    new = [hit("c", dense=(1, 0.95)), hit("d", dense=(2, 0.7))]
    joined = {h.chunk.doc_id: h for h in with_dense(first, new)}
    assert set(joined) == {"a", "c", "d"}
    assert joined["a"].ranks == {"sparse": 2} and joined["a"].scores == {"sparse": 5.0}
    assert joined["c"].ranks == {"sparse": 1, "dense": 1}
    assert joined["c"].scores == {"sparse": 9.0, "dense": 0.95}
    assert joined["d"].ranks == {"dense": 2}


def test_feedback_searches_dense_again_with_the_moved_vector(tmp_path: Path) -> None:
    settings = RetrievalSettings(min_relevance=0.0, feedback=0.4, feedback_chunks=1)
    ws = fake_workspace(tmp_path, retrieval=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    store = RecordingStore(ws.store)
    retriever = Retriever(store, ws.embedder, settings)
    filters = Filters(doc_ids=("leave.md", "prices.csv"))
    result = retriever.search("parental leave weeks", k=3, filters=filters)
    assert len(store.queries) == 2 and "feedback" in result.timings
    first, second = store.queries
    assert first.vector is not None and first.text
    assert second.text == "" and second.filters == filters  # dense only, same filters
    # The moved vector: the unit question plus 0.4 x the unit vector of the best fused chunk.
    without = Retriever(ws.store, ws.embedder, replace(settings, feedback=0.0))
    best = without.search("parental leave weeks", k=1, filters=filters).hits[0]
    stored = ws.store.vectors([best.chunk.id])[best.chunk.id]
    q = first.vector / np.linalg.norm(first.vector)
    expected = q + 0.4 * stored / np.linalg.norm(stored)
    assert second.vector == pytest.approx(expected, abs=1e-6)
    assert {h.chunk.doc_id for h in result.hits} <= {"leave.md", "prices.csv"}
    assert result.hits[0].chunk.doc_id == "leave.md"
    assert all("dense" in h.ranks or "sparse" in h.ranks for h in result.hits)


def test_feedback_off_or_dense_only_searches_once(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(min_relevance=0.0))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    for settings, mode in (
        (replace(ws.settings.retrieval, feedback=0.0), "hybrid"),
        (ws.settings.retrieval, "dense"),
        (ws.settings.retrieval, "sparse"),
    ):
        store = RecordingStore(ws.store)
        result = Retriever(store, ws.embedder, settings).search("vacation days", k=2, mode=mode)
        assert len(store.queries) == 1, (settings.feedback, mode)
        assert "feedback" not in result.timings


def test_feedback_is_on_by_default_beside_equal_convex_weights() -> None:
    settings = RetrievalSettings()
    assert (settings.feedback, settings.feedback_chunks) == (0.2, 1)
    assert (settings.fusion, settings.dense_weight, settings.sparse_weight) == ("convex", 1.0, 1.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("feedback", -0.1, "retrieval.feedback"), ("feedback_chunks", 0, "feedback_chunks")],
)
def test_bad_feedback_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetrievalSettings(**{field: value})  # type: ignore[arg-type]
