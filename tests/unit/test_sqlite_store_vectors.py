"""SQLiteStore's in-memory vector copy (``store.vector_cache``) and batch search.

The whole store contract runs again with the copy in use from the first search, so every
filter, replace and delete case is checked on that path too; the tests below compare it
with sqlite-vec's own KNN and check when ``auto`` switches to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import numpy as np
import pytest

from expertly.config import StoreSettings
from expertly.store.sqlite import SQLiteStore
from expertly.types import Filters, Query
from tests.contracts.store_contract import MakeStore, StoreContract, ids, make_doc, unit_vectors

pytestmark = pytest.mark.unit

DIM = StoreContract.DIM
ON = StoreSettings(vector_cache="on")
OFF = StoreSettings(vector_cache="off")


class TestSQLiteStoreWithVectorCacheContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        opened: list[SQLiteStore] = []

        def make() -> SQLiteStore:
            store = SQLiteStore(
                tmp_path / "index.sqlite", dim=self.DIM, embedder=self.EMBEDDER, settings=ON
            )
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "index.sqlite"


def fill(store: SQLiteStore, docs: int, per_doc: int, seed: int = 0) -> None:
    """``docs`` documents of ``per_doc`` chunks; every third has tenant "acme"."""
    rng = np.random.default_rng(seed)
    for d in range(docs):
        meta = {"tenant": "acme"} if d % 3 == 0 else {"tenant": "other", "groups": ["g"]}
        doc, chunks = make_doc(f"doc{d:03d}", [f"text {d} {i}" for i in range(per_doc)],
                               metadata=meta)  # fmt: skip
        store.upsert(doc, chunks, rng.standard_normal((per_doc, DIM)).astype(np.float32))


FILTERS = [
    Filters(),
    Filters(tenant="acme"),
    Filters(groups=()),
    Filters(doc_ids=("doc001", "doc002", "missing")),
    Filters(metadata={"tenant": "other"}),
    Filters(doc_ids=()),
]


@pytest.mark.parametrize("filters", FILTERS)
def test_cached_dense_search_equals_sqlite_vec(path: Path, filters: Filters) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as exact:
        fill(exact, 60, 5)
        with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as cached:
            for q in unit_vectors(20, DIM, 7):
                want = exact.search(Query(vector=q, filters=filters), 12)
                got = cached.search(Query(vector=q, filters=filters), 12)
                assert ids(got) == ids(want)
                assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
            assert cached._vectors.loaded and len(cached._vectors) == 300


def test_search_many_equals_one_search_per_query(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        fill(store, 30, 4)
        vectors = unit_vectors(6, DIM, 8)
        queries = [
            Query(vector=vectors[0]),
            Query(text="text 3", vector=vectors[1]),
            Query(text="text 5"),
            Query(vector=vectors[2], filters=Filters(tenant="acme")),
            Query(),
            Query(vector=np.zeros(DIM, dtype=np.float32)),
        ]
        batch = store.search_many(queries, 7)
        assert [ids(hits) for hits in batch] == [ids(store.search(q, 7)) for q in queries]
        assert batch[4] == [] and batch[5] == []
        assert len(batch[0]) == 7 and {h.chunk.doc_id for h in batch[3]} <= {
            f"doc{d:03d}" for d in range(0, 30, 3)
        }
        with pytest.raises(ValueError, match="k must be"):
            store.search_many(queries, 0)
        with pytest.raises(ValueError, match="values"):
            store.search_many([Query(vector=np.ones(DIM + 1))], 3)


def test_auto_keeps_the_copy_from_the_second_search_above_the_threshold(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as writer:
        fill(writer, 10, 5)
    query = Query(vector=unit_vectors(1, DIM, 9)[0])
    small = StoreSettings(vector_cache="auto", vector_cache_min_chunks=51)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=small) as store:
        first = ids(store.search(query, 5))
        for _ in range(3):
            assert ids(store.search(query, 5)) == first
        assert not store._vectors.loaded  # 50 chunks < 51
    at_threshold = StoreSettings(vector_cache="auto", vector_cache_min_chunks=50)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=at_threshold) as store:
        assert ids(store.search(query, 5)) == first
        assert not store._vectors.loaded  # a one-shot search never reads the copy
        assert ids(store.search(query, 5)) == first
        assert store._vectors.loaded and len(store._vectors) == 50
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as store:
        for _ in range(3):
            assert ids(store.search(query, 5)) == first
        assert not store._vectors.loaded


def test_zero_vectors_are_never_found(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        doc, chunks = make_doc("z", ["zero", "real"])
        vectors = np.zeros((2, DIM), dtype=np.float32)
        vectors[1] = unit_vectors(1, DIM, 10)[0]
        store.upsert(doc, chunks, vectors)
        assert ids(store.search(Query(vector=vectors[1]), 5)) == ["z#1"]
        assert store.search(Query(vector=np.zeros(DIM)), 5) == []


def _downgrade_to_version_1(path: Path) -> None:
    """Make ``path`` look like an index written before ``chunk_vectors`` existed."""
    conn = apsw.Connection(str(path))
    conn.execute("DROP TABLE chunk_vectors")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


def test_a_version_1_index_is_upgraded_when_opened_for_writing(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as store:
        fill(store, 8, 3)
        query = Query(vector=unit_vectors(1, DIM, 11)[0])
        expected = ids(store.search(query, 6))
    _downgrade_to_version_1(path)
    with SQLiteStore(path, dim=DIM, embedder="t", read_only=True, settings=ON) as old:
        assert ids(old.search(query, 6)) == expected  # sqlite-vec: no copy to read
        assert not old._vectors.loaded
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as upgraded:
        assert ids(upgraded.search(query, 6)) == expected
        assert upgraded._vectors.loaded and len(upgraded._vectors) == 24
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").get == "2"
    assert conn.execute("SELECT count(*) FROM chunk_vectors").get == 24
    conn.close()


def test_settings_are_checked() -> None:
    from expertly.errors import ConfigError

    with pytest.raises(ConfigError, match="vector_cache"):
        StoreSettings(vector_cache="sometimes")
    with pytest.raises(ConfigError, match="vector_cache_min_chunks"):
        StoreSettings(vector_cache_min_chunks=-1)


def test_copy_follows_random_writes_of_another_handle(path: Path) -> None:
    rng = np.random.default_rng(12)
    with (
        SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as writer,
        SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as reader,
    ):
        probes = unit_vectors(3, DIM, 13)
        for step in range(60):
            doc_id = f"d{int(rng.integers(12))}"
            if rng.random() < 0.25:
                writer.delete(doc_id)
            else:
                n = int(rng.integers(1, 6))
                doc, chunks = make_doc(doc_id, [f"step {step} {i}" for i in range(n)])
                writer.upsert(doc, chunks, rng.standard_normal((n, DIM)).astype(np.float32))
            for probe in probes:
                got = reader.search(Query(vector=probe), 8)
                assert ids(got) == ids(writer.search(Query(vector=probe), 8)), f"step {step}"
            assert len(reader._vectors) == sum(d.chunks for d in writer.documents())
