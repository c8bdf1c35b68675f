"""SQLiteStore's approximate dense index (``store.vector_index = hnsw``, ``sqlite.hnsw``).

The whole store contract runs with the graph in use from the first chunk: its stores are
small, so most filtered searches take the exact path, and the unfiltered ones must still
find what exact search finds. The tests below use a few thousand clustered vectors:
recall against exact search, filters (graph walk and exact fallback), writes through this
handle and another one, settings. What is saved on disk is tested in
``test_sqlite_store_hnsw_files``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expertly.config import Settings, StoreSettings
from expertly.errors import ConfigError
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite.hnsw import EXACT_SHARE, HNSWIndex, auto_ef_search
from expertly.types import Filters, Query
from tests.contracts.store_contract import MakeStore, StoreContract, ids, make_doc

pytestmark = pytest.mark.unit

DIM = 32
EXACT = StoreSettings(vector_cache="on")


def hnsw(**kw: Any) -> StoreSettings:
    """The HNSW graph in use from the first chunk."""
    return StoreSettings(vector_cache="on", vector_index="hnsw", hnsw_min_chunks=0, **kw)


class TestSQLiteStoreWithHNSWContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        opened: list[SQLiteStore] = []

        def make() -> SQLiteStore:
            path = tmp_path / "index.sqlite"
            store = SQLiteStore(path, dim=self.DIM, embedder=self.EMBEDDER, settings=hnsw())
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


CENTRES = np.random.default_rng(100).standard_normal((40, DIM)).astype(np.float32)


def clustered(n: int, seed: int, centres: np.ndarray = CENTRES, noise: float = 1.0) -> np.ndarray:
    """``n`` vectors around random centres (noise about ``noise`` times a centre's length:
    the clusters overlap, as the topics of real documents do)."""
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


def graph(store: SQLiteStore) -> HNSWIndex:
    index = store._copies.hnsw
    assert index is not None
    return index


def recall_at_10(
    path: Path, settings: StoreSettings, queries: np.ndarray, filters: Filters = Filters()
) -> float:
    with (
        SQLiteStore(path, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(path, dim=DIM, embedder="t", settings=settings) as approx,
    ):
        shared = []
        for q in queries:
            got = approx.search(Query(vector=q, filters=filters), 10)
            want = exact.search(Query(vector=q, filters=filters), 10)
            assert len(got) == len(want) == 10
            shared.append(len(set(ids(got)) & set(ids(want))))
    return sum(shared) / (10 * len(queries))


def test_recall_against_exact_is_high_and_rises_with_ef_search(filled: Path) -> None:
    queries = clustered(60, seed=5)
    low = recall_at_10(filled, hnsw(hnsw_m=2, hnsw_ef_construction=4, hnsw_ef_search=1), queries)
    default = recall_at_10(filled, hnsw(), queries)
    assert low < default and default >= 0.95


def test_scores_and_order_are_those_of_exact_search(filled: Path) -> None:
    queries = clustered(20, seed=6)
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw(hnsw_ef_search=400)) as approx,
    ):
        for q in queries:
            want, got = exact.search(Query(vector=q), 20), approx.search(Query(vector=q), 20)
            assert ids(got) == ids(want)
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)
        assert graph(approx).builds == 1


def test_a_batch_finds_what_single_searches_find(filled: Path) -> None:
    with SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw()) as store:
        queries = [Query(vector=q) for q in clustered(30, seed=7)]
        queries += [Query(vector=clustered(1, seed=8)[0], filters=Filters(tenant="acme"))]
        queries += [Query(vector=np.zeros(DIM, dtype=np.float32)), Query(text="t 4")]
        batch = store.search_many(queries, 10)
        assert [ids(hits) for hits in batch] == [ids(store.search(q, 10)) for q in queries]
        assert batch[-2] == [] and all(len(hits) == 10 for hits in batch[:-2])


def test_filters_return_k_hits_by_the_graph_or_exactly(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = {f"d{d:03d}" for d in range(0, 30, 3)}
    queries = clustered(20, seed=9)
    assert recall_at_10(filled, hnsw(), queries, Filters(tenant="acme")) >= 0.95
    with SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw()) as approx:
        exact_scans: list[int] = []
        scan = approx._vectors.search

        def counted(q: Any, *a: Any) -> Any:
            exact_scans.append(len(q))
            return scan(q, *a)

        monkeypatch.setattr(approx._vectors, "search", counted)
        for q in queries:  # a third of the chunks: the graph walks with the filter
            hits = approx.search(Query(vector=q, filters=Filters(tenant="acme")), 10)
            assert len(hits) == 10 and {h.chunk.doc_id for h in hits} <= acme
        assert exact_scans == []
        one_doc = Filters(doc_ids=("d004",))  # 100 of 3,000 chunks: under EXACT_SHARE
        assert EXACT_SHARE * 3000 > 100
        for q in queries[:5]:
            hits = approx.search(Query(vector=q, filters=one_doc), 10)
            assert len(hits) == 10 and {h.chunk.doc_id for h in hits} == {"d004"}
        assert exact_scans == [1] * 5
        few = approx.search(Query(vector=queries[0], filters=one_doc), 500)
        assert len(few) == 100
        missing = approx.search(Query(vector=queries[0], filters=Filters(doc_ids=("x",))), 5)
        assert missing == []


def test_a_walk_that_finds_too_few_falls_back_to_exact(filled: Path) -> None:
    # M 2 and a candidate list of 1 leave the graph badly connected: a filtered walk
    # over half the chunks often ends short of k; the exact scan then answers.
    weak = hnsw(hnsw_m=2, hnsw_ef_construction=4, hnsw_ef_search=1)
    half = Filters(doc_ids=tuple(f"d{d:03d}" for d in range(15)))
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=weak) as approx,
    ):
        for q in clustered(10, seed=15):
            got = approx.search(Query(vector=q, filters=half), 200)
            want = exact.search(Query(vector=q, filters=half), 200)
            assert len(got) == len(want) == 200


def test_writes_of_this_handle_and_of_another_are_followed(filled: Path) -> None:
    target = clustered(1, seed=11)[0]
    with (
        SQLiteStore(filled, dim=DIM, embedder="t", settings=EXACT) as writer,
        SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw()) as reader,
    ):
        assert "new#0" not in ids(reader.search(Query(vector=target), 5))
        index = graph(reader)
        for store in (reader, writer):
            doc, chunks = make_doc("new", ["new 0", "new 1"])
            store.upsert(doc, chunks, np.stack([target, -target]))
            assert ids(reader.search(Query(vector=target), 5))[0] == "new#0"
            assert ids(reader.search(Query(vector=-target), 1)) == ["new#1"]
            assert index.rowids.size == len(reader._vectors) == 3002
            store.delete("new")
            assert "new#0" not in ids(reader.search(Query(vector=target), 5))
            assert index.rowids.size == len(reader._vectors) == 3000
        writer.delete("d000")
        hits = reader.search(Query(vector=target), 50)
        assert len(hits) == 50 and all(h.chunk.doc_id != "d000" for h in hits)
        assert index.rowids.size == 2900 and index.builds == 1
        fill(writer, 20, 100, seed=3, prefix="more")  # grows past the graph's room
        assert len(reader.search(Query(vector=target), 10)) == 10
        assert index.rowids.size == 4900 and index.builds == 1
    assert recall_at_10(filled, hnsw(), clustered(30, seed=16)) >= 0.95


def test_zero_vectors_are_never_found(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=hnsw()) as store:
        fill(store, 3, 100)
        doc, chunks = make_doc("z", ["zero", "zero too"])
        store.upsert(doc, chunks, np.zeros((2, DIM), dtype=np.float32))
        hits = store.search(Query(vector=clustered(1, seed=14)[0]), 302)
        assert len(hits) == 300 and "z" not in {h.chunk.doc_id for h in hits}
        assert store.search(Query(vector=np.zeros(DIM)), 5) == []
        assert graph(store).rowids.size == 300


def test_the_exact_scan_answers_below_the_minimum(filled: Path) -> None:
    small = StoreSettings(vector_cache="on", vector_index="hnsw", hnsw_min_chunks=3001)
    with SQLiteStore(filled, dim=DIM, embedder="t", settings=small) as below:
        assert len(below.search(Query(vector=clustered(1, seed=13)[0]), 10)) == 10
        assert graph(below).builds == 0
    assert not Path(f"{filled}.hnsw").exists()


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"set store\.vector_cache = auto or on"):
        StoreSettings(vector_index="hnsw", vector_cache="off")
    with pytest.raises(ConfigError, match="hnsw_min_chunks"):
        StoreSettings(hnsw_min_chunks=-5)
    with pytest.raises(ConfigError, match="hnsw_ef_construction"):
        StoreSettings(vector_index="hnsw", hnsw_m=16, hnsw_ef_construction=20)
    with pytest.raises(ConfigError, match="choose one of: exact, hnsw"):
        StoreSettings(vector_index="annoy")
    with pytest.raises(ConfigError, match=r"replaced by 'hnsw'.*set store\.vector_index = hnsw"):
        StoreSettings(vector_index="ivf")
    with pytest.raises(ConfigError, match="has no setting 'ivf_probe'"):
        Settings.from_dict({"store": {"ivf_probe": 16}})
    assert StoreSettings(vector_index="hnsw", vector_cache="auto").vector_index == "hnsw"


def test_the_auto_candidate_list_grows_with_the_graph(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert StoreSettings().hnsw_ef_search == 0  # auto is the default
    assert [auto_ef_search(n) for n in (0, 1_000, 250_000, 300_000, 1_000_000, 10**7)] == [
        100, 100, 100, 120, 400, 1000,
    ]  # fmt: skip

    class Recording:  # hnswlib's methods are read-only: wrap the graph instead
        def __init__(self, real: Any) -> None:
            self.real = real
            self.asked: list[int] = []

        def set_ef(self, ef: int) -> None:
            self.asked.append(ef)
            self.real.set_ef(ef)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    with SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw()) as store:
        store.search(Query(vector=clustered(1, seed=9)[0]), 10)  # builds the graph
        recording = Recording(graph(store)._graph)
        monkeypatch.setattr(graph(store), "_graph", recording)
        store.search(Query(vector=clustered(1, seed=10)[0]), 10)
        store.search(Query(vector=clustered(1, seed=11)[0]), 150)
        size = recording.element_count
    assert recording.asked == [auto_ef_search(size), 150]  # raised to k
    with SQLiteStore(filled, dim=DIM, embedder="t", settings=hnsw(hnsw_ef_search=30)) as fixed:
        fixed.search(Query(vector=clustered(1, seed=9)[0]), 10)
        assert graph(fixed).ef_search == 30


def test_the_default_is_exact_and_builds_no_index(filled: Path) -> None:
    assert StoreSettings().vector_index == "exact"
    with SQLiteStore(filled, dim=DIM, embedder="t") as store:
        assert store._copies.hnsw is None
