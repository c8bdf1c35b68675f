"""SQLiteStore's approximate dense index (``store.vector_index = ivf``, ``sqlite.ivf``).

The whole store contract runs with the index in use from the first chunk and one list
probed per query: its stores are small, so many of its searches find fewer than k vectors
in the probed list and take the exact fallback, which is what keeps every contract
result exact. The tests below use a few thousand clustered vectors, where the index
really approximates: recall against exact search, probing every list, filters (and their
fallback), writes through this handle and another one, retraining, settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expertly.config import StoreSettings
from expertly.errors import ConfigError
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite.ivf import IVFIndex
from expertly.types import Filters, Query
from tests.contracts.store_contract import MakeStore, StoreContract, ids, make_doc

pytestmark = pytest.mark.unit

DIM = 32
EXACT = StoreSettings(vector_cache="on")


def ivf(probe: int = 4, **kw: Any) -> StoreSettings:
    """The IVF index in use from the first chunk."""
    return StoreSettings(
        vector_cache="on", vector_index="ivf", ivf_min_chunks=0, ivf_probe=probe, **kw
    )


class TestSQLiteStoreWithIVFContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        opened: list[SQLiteStore] = []

        def make() -> SQLiteStore:
            path = tmp_path / "index.sqlite"
            store = SQLiteStore(path, dim=self.DIM, embedder=self.EMBEDDER, settings=ivf(probe=1))
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


CENTRES = np.random.default_rng(100).standard_normal((40, DIM)).astype(np.float32)


def clustered(n: int, seed: int, centres: np.ndarray = CENTRES, noise: float = 1.0) -> np.ndarray:
    """``n`` vectors around random centres (noise about ``noise`` times a centre's length:
    the clusters overlap, so one probed list misses some of the true neighbours)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(centres), size=n)
    scale = noise * np.linalg.norm(centres[picks], axis=1)[:, None] / np.sqrt(DIM)
    return np.asarray(centres[picks] + rng.standard_normal((n, DIM)) * scale, dtype=np.float32)


def fill(store: SQLiteStore, docs: int, per_doc: int, seed: int = 0, prefix: str = "d") -> None:
    """``docs`` documents of clustered vectors; every third has tenant "acme"."""
    vectors = clustered(docs * per_doc, seed)
    for d in range(docs):
        meta = {"tenant": "acme"} if d % 3 == 0 else {"tenant": "other"}
        doc, chunks = make_doc(f"{prefix}{d:03d}", [f"t {d} {i}" for i in range(per_doc)],
                               metadata=meta)  # fmt: skip
        store.upsert(doc, chunks, vectors[d * per_doc : (d + 1) * per_doc])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "index.sqlite"


@pytest.fixture
def filled(path: Path) -> Path:
    """3,000 clustered chunks in 30 documents."""
    with SQLiteStore(path, dim=DIM, embedder="t", settings=EXACT) as store:
        fill(store, 30, 100)
    return path


def recall_at_10(path: Path, settings: StoreSettings, queries: np.ndarray) -> float:
    with (
        SQLiteStore(path, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(path, dim=DIM, embedder="t", settings=settings) as approx,
    ):
        shared = [
            len(set(ids(approx.search(Query(vector=q), 10)))
                & set(ids(exact.search(Query(vector=q), 10))))
            for q in queries
        ]  # fmt: skip
        index = approx._copies.ivf
        assert index is not None and index.trainings == 1
        assert len(index.centroids) == round(np.sqrt(3000))  # type: ignore[arg-type]
    return sum(shared) / (10 * len(queries))


def test_recall_against_exact_rises_with_the_probes(filled: Path) -> None:
    queries = clustered(60, seed=5)
    one = recall_at_10(filled, ivf(probe=1), queries)
    eight = recall_at_10(filled, ivf(probe=8), queries)
    assert one < 0.9  # one list of 55 really is approximate here
    assert eight >= 0.97


def test_probing_every_list_gives_the_exact_result(filled: Path) -> None:
    every = ivf(probe=10_000)
    filters = [Filters(), Filters(tenant="acme"), Filters(doc_ids=("d004", "d017"))]
    queries = clustered(25, seed=6)
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=every) as approx,
    ):
        for f in filters:
            batch = [Query(vector=q, filters=f) for q in queries]
            want = exact.search_many(batch, 20)
            got = approx.search_many(batch, 20)
            for w, g in zip(want, got, strict=True):
                assert ids(g) == ids(w)
                assert [h.score for h in g] == pytest.approx([h.score for h in w], abs=1e-5)
        assert approx._copies.ivf is not None and approx._copies.ivf.trainings == 1


def test_a_batch_finds_what_single_searches_find(filled: Path) -> None:
    with SQLiteStore(filled, dim=DIM, embedder="t", settings=ivf(probe=3)) as store:
        queries = [Query(vector=q) for q in clustered(30, seed=7)]
        queries += [Query(vector=clustered(1, seed=8)[0], filters=Filters(tenant="acme"))]
        queries += [Query(vector=np.zeros(DIM, dtype=np.float32)), Query(text="t 4")]
        batch = store.search_many(queries, 10)
        assert [ids(hits) for hits in batch] == [ids(store.search(q, 10)) for q in queries]
        assert batch[-2] == [] and all(len(hits) == 10 for hits in batch[:-2])


def test_filters_are_respected_and_a_selective_one_falls_back_to_exact(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = {f"d{d:03d}" for d in range(0, 30, 3)}
    queries = clustered(20, seed=9)
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=ivf(probe=2)) as approx,
    ):
        exact_scans: list[int] = []
        scan = approx._vectors.search

        def counted(q: Any, *a: Any) -> Any:
            exact_scans.append(len(q))
            return scan(q, *a)

        monkeypatch.setattr(approx._vectors, "search", counted)
        for q in queries:
            hits = approx.search(Query(vector=q, filters=Filters(tenant="acme")), 10)
            assert len(hits) == 10 and {h.chunk.doc_id for h in hits} <= acme
        assert exact_scans == []  # a third of the chunks: the probed lists hold enough
        # A document whose chunks all sit in one far, tight cluster (all assigned to one
        # list): a query that does not probe that list finds them only by the fallback.
        far = np.full((1, DIM), 8.0, dtype=np.float32)
        doc, chunks = make_doc("far", [f"far {i}" for i in range(12)])
        approx.upsert(doc, chunks, clustered(12, seed=10, centres=far, noise=0.1))
        only_far = Filters(doc_ids=("far",))
        for q in queries[:5]:
            got = approx.search(Query(vector=q, filters=only_far), 10)
            want = exact.search(Query(vector=q, filters=only_far), 10)
            assert len(got) == 10 and ids(got) == ids(want)
        assert 1 <= len(exact_scans) <= 5 and set(exact_scans) == {1}
        missing = approx.search(Query(vector=queries[0], filters=Filters(doc_ids=("x",))), 5)
        assert missing == []


def test_writes_of_this_handle_and_of_another_are_followed(filled: Path) -> None:
    target = clustered(1, seed=11)[0]
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as writer,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=ivf(probe=2)) as reader,
    ):
        assert "new#0" not in ids(reader.search(Query(vector=target), 5))
        index = reader._copies.ivf
        assert index is not None
        for store in (reader, writer):
            doc, chunks = make_doc("new", ["new 0", "new 1"])
            store.upsert(doc, chunks, np.stack([target, -target]))
            assert ids(reader.search(Query(vector=target), 5))[0] == "new#0"
            assert ids(reader.search(Query(vector=-target), 1)) == ["new#1"]
            assert int(index.list_sizes().sum()) == len(reader._vectors) == 3002
            store.delete("new")
            assert "new#0" not in ids(reader.search(Query(vector=target), 5))
            assert int(index.list_sizes().sum()) == len(reader._vectors) == 3000
        writer.delete("d000")  # another handle removes a document of the trained set
        hits = reader.search(Query(vector=target), 50)
        assert len(hits) == 50 and all(h.chunk.doc_id != "d000" for h in hits)
        assert int(index.list_sizes().sum()) == 2900
        assert index.trainings == 1  # small changes never retrain


def test_the_index_is_trained_again_when_it_grew_or_shrank_twofold(path: Path) -> None:
    query = Query(vector=clustered(1, seed=12)[0])
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ivf()) as store:
        fill(store, 10, 100)
        store.search(query, 5)
        index = store._copies.ivf
        assert index is not None and index.trainings == 1 and len(index.centroids) == 32  # type: ignore[arg-type]
        fill(store, 10, 100, seed=1, prefix="more")  # 2,000: not more than twice 1,000
        store.search(query, 5)
        assert index.trainings == 1 and int(index.list_sizes().sum()) == 2000
        fill(store, 5, 100, seed=2, prefix="extra")  # 2,500
        store.search(query, 5)
        assert index.trainings == 2 and len(index.centroids) == 50  # type: ignore[arg-type]
        for d in range(10):
            store.delete(f"d{d:03d}")
            store.delete(f"more{d:03d}")
        store.search(query, 5)  # 500 left, less than half of 2,500
        assert index.trainings == 3 and len(index.centroids) == 22  # type: ignore[arg-type]
        assert int(index.list_sizes().sum()) == 500


def test_fixed_lists_and_the_exact_scan_below_the_minimum(filled: Path) -> None:
    queries = clustered(10, seed=13)
    small = StoreSettings(vector_cache="on", vector_index="ivf", ivf_min_chunks=3001)
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=small) as below,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=ivf(ivf_lists=7)) as seven,
    ):
        for q in queries:
            want = ids(exact.search(Query(vector=q), 10))
            assert ids(below.search(Query(vector=q), 10)) == want
            assert len(seven.search(Query(vector=q), 10)) == 10
        assert below._copies.ivf is not None and below._copies.ivf.trainings == 0
        index = seven._copies.ivf
        assert index is not None and len(index.centroids) == 7  # type: ignore[arg-type]
        assert int(index.list_sizes().sum()) == 3000 and index.list_sizes().min() > 0


def test_zero_vectors_are_never_found(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ivf(probe=1)) as store:
        fill(store, 3, 100)
        doc, chunks = make_doc("z", ["zero", "zero too"])
        store.upsert(doc, chunks, np.zeros((2, DIM), dtype=np.float32))
        hits = store.search(Query(vector=clustered(1, seed=14)[0]), 302)
        assert len(hits) == 300 and "z" not in {h.chunk.doc_id for h in hits}
        assert store.search(Query(vector=np.zeros(DIM)), 5) == []


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="vector_index"):
        StoreSettings(vector_index="hnsw")
    with pytest.raises(ConfigError, match=r"set store\.vector_cache = auto or on"):
        StoreSettings(vector_index="ivf", vector_cache="off")
    with pytest.raises(ConfigError, match="ivf_lists"):
        StoreSettings(vector_index="ivf", ivf_lists=-1)
    with pytest.raises(ConfigError, match="ivf_probe"):
        StoreSettings(ivf_probe=0)
    with pytest.raises(ConfigError, match="ivf_min_chunks"):
        StoreSettings(ivf_min_chunks=-5)
    assert StoreSettings(vector_index="ivf", vector_cache="auto").vector_index == "ivf"
    with pytest.raises(ValueError, match="probe >= 1"):
        IVFIndex(probe=0)


def test_the_default_is_exact_and_builds_no_index(filled: Path) -> None:
    assert StoreSettings().vector_index == "exact"
    with SQLiteStore(filled, dim=DIM, embedder="t") as store:
        assert store._copies.ivf is None
