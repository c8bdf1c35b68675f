"""SQLiteStore: the backend contract plus what only the SQLite file store does."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import apsw
import numpy as np
import pytest

from expertly.errors import StoreError
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite.query import MAX_QUERY_TERMS, fts_query
from expertly.types import Filters, Query
from tests.contracts.store_contract import MakeStore, StoreContract, ids, make_doc, unit_vectors

pytestmark = pytest.mark.unit

DIM = StoreContract.DIM


class TestSQLiteStoreContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        opened: list[SQLiteStore] = []

        def make() -> SQLiteStore:
            opened.append(
                SQLiteStore(tmp_path / "index.sqlite", dim=self.DIM, embedder=self.EMBEDDER)
            )
            return opened[-1]

        yield make
        for store in opened:
            store.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "index.sqlite"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(path, dim=DIM, embedder="test") as s:
        yield s


def put(store: SQLiteStore, doc_id: str, texts: list[str], seed: int = 0, **kw: object) -> None:
    doc, chunks = make_doc(doc_id, texts, **kw)  # type: ignore[arg-type]
    store.upsert(doc, chunks, unit_vectors(len(chunks), DIM, seed))


def rowid_sets(path: Path) -> tuple[set[int], set[int], set[int]]:
    """The rowids of chunks, of the FTS index and of the vector table, read independently."""
    import sqlite_vec

    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    try:
        return tuple(  # type: ignore[return-value]
            {int(r[0]) for r in conn.execute(f"SELECT rowid FROM {table}")}
            for table in ("chunks", "chunks_fts", "chunks_vec")
        )
    finally:
        conn.close()


# ------------------------------------------------------------------ opening the file


def test_missing_parent_directory_is_created(path: Path) -> None:
    assert not path.parent.exists()
    with SQLiteStore(path, dim=DIM, embedder="test") as store:
        assert path.is_file() and store.stats()["documents"] == 0


def test_embedder_or_dim_mismatch_names_the_model_and_the_fix(store: SQLiteStore) -> None:
    put(store, "d", ["text"])
    store.close()
    with pytest.raises(StoreError, match=r"built with the embedder 'test' \(dim 16\)") as err:
        SQLiteStore(store.path, dim=DIM, embedder="other-model")
    assert "expertly ingest DIR --rebuild" in str(err.value) and "new workspace" in str(err.value)
    with pytest.raises(StoreError, match="dim 16"):
        SQLiteStore(store.path, dim=DIM * 2, embedder="test")
    with SQLiteStore(store.path, dim=DIM, embedder="test") as again:
        assert [d.id for d in again.documents()] == ["d"]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "index.sqlite"
    bogus.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StoreError, match="not a SQLite database"):
        SQLiteStore(bogus, dim=DIM, embedder="test")
    with pytest.raises(StoreError, match="not a SQLite database"):
        SQLiteStore(bogus, dim=DIM, embedder="test", read_only=True)
    assert bogus.read_bytes().startswith(b"this is a text file")


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    conn = apsw.Connection(str(other))
    conn.execute("CREATE TABLE users(id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(StoreError, match="not an expertly index"):
        SQLiteStore(other, dim=DIM, embedder="test")


def test_a_directory_or_missing_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot open"):
        SQLiteStore(tmp_path, dim=DIM, embedder="test")
    with pytest.raises(StoreError, match="run `expertly ingest"):
        SQLiteStore(tmp_path / "absent.sqlite", dim=DIM, embedder="test", read_only=True)


def test_connection_uses_wal_and_stats_are_complete(store: SQLiteStore) -> None:
    put(store, "d", ["one", "two"])
    stats = store.stats()
    expected = {"documents": 1, "chunks": 2, "embedder": "test", "dim": DIM, "schema_version": 2}
    assert {k: stats[k] for k in expected} == expected
    assert isinstance(stats["bytes"], int) and stats["bytes"] > 0
    conn = apsw.Connection(str(store.path), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("PRAGMA journal_mode").get == "wal"
    conn.close()


# --------------------------------------------------------------- read-only handles


def test_read_only_handle_sees_the_writers_commits(store: SQLiteStore) -> None:
    reader = SQLiteStore(store.path, dim=DIM, embedder="test", read_only=True)
    try:
        assert reader.search(Query(text="otter"), 5) == []
        put(store, "d", ["sea otter facts"])
        assert ids(reader.search(Query(text="otter"), 5)) == ["d#0"]
        store.delete("d")
        assert reader.search(Query(text="otter"), 5) == []
        doc, chunks = make_doc("x", ["x"])
        with pytest.raises(StoreError, match="read-only"):
            reader.upsert(doc, chunks, unit_vectors(1, DIM, 0))
        with pytest.raises(StoreError, match="read-only"):
            reader.delete("x")
    finally:
        reader.close()


def test_closed_store_raises_store_error(store: SQLiteStore) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.search(Query(text="a"), 1)


# ------------------------------------------------------------------- FTS and search


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello world", '"hello" OR "world"'),
        ('"NEAR( AND *', '"near" OR "and"'),
        ("Hello hello HELLO", '"hello"'),
        ("!!! ... ()", ""),
        ("", ""),
        ("ﬁle", '"file"'),  # NFKC folds the ligature
        ("col:term -x", '"col" OR "term" OR "x"'),
    ],
)
def test_fts_query_quotes_words_and_drops_syntax(text: str, expected: str) -> None:
    assert fts_query(text) == expected


def test_fts_query_caps_the_number_of_terms() -> None:
    assert fts_query(" ".join(f"w{i}" for i in range(500))).count(" OR ") == MAX_QUERY_TERMS - 1


def test_stemming_and_diacritics_fold(store: SQLiteStore) -> None:
    put(store, "d", ["the runner was running at the Café Müller"])
    for query in ("runs", "cafe", "MULLER", "café"):
        assert ids(store.search(Query(text=query), 5)) == ["d#0"], query


def test_heading_path_is_searchable(store: SQLiteStore) -> None:
    put(store, "d", ["plain body"])  # make_doc gives heading_path ("Part", "Section 0")
    assert ids(store.search(Query(text="section"), 5)) == ["d#0"]


def test_search_argument_errors(store: SQLiteStore) -> None:
    put(store, "d", ["x"])
    with pytest.raises(ValueError, match="k must be"):
        store.search(Query(text="x"), 0)
    with pytest.raises(ValueError, match=f"{DIM} values"):
        store.search(Query(vector=np.ones(DIM + 1)), 1)
    with pytest.raises(ValueError, match="NaN"):
        store.search(Query(vector=np.full(DIM, np.nan)), 1)


def test_zero_query_vector_and_huge_k_do_not_fail(store: SQLiteStore) -> None:
    put(store, "d", ["a", "b"])
    assert store.search(Query(vector=np.zeros(DIM)), 5) == []
    assert len(store.search(Query(vector=np.ones(DIM)), 100_000)) == 2


def test_acl_metadata_is_validated(store: SQLiteStore) -> None:
    for meta, field in (({"tenant": 7}, "tenant"), ({"groups": "hr"}, "groups"),
                        ({"tenant": ""}, "tenant"), ({"when": object()}, "JSON")):  # fmt: skip
        doc, chunks = make_doc("d", ["x"], metadata=meta)
        with pytest.raises(ValueError, match=field):
            store.upsert(doc, chunks, unit_vectors(1, DIM, 0))
    assert list(store.documents()) == []


def test_chunk_id_owned_by_another_document_is_refused(store: SQLiteStore) -> None:
    put(store, "a", ["first"])
    doc, chunks = make_doc("b", ["second"])
    stolen = [dataclasses.replace(chunks[0], id="a#0")]
    with pytest.raises(ValueError, match="another document"):
        store.upsert(doc, stolen, unit_vectors(1, DIM, 0))
    assert store.get_document("b") is None and [c.text for c in store.chunks("a")] == ["first"]


def test_fts_and_vector_rowids_follow_the_chunks(store: SQLiteStore) -> None:
    for round_ in range(3):
        for d in range(5):
            put(store, f"d{d}", [f"text {round_} {i}" for i in range(1 + (d + round_) % 4)], d)
        store.delete(f"d{round_}")
    chunks, fts, vec = rowid_sets(store.path)
    assert chunks == fts == vec and len(chunks) == sum(d.chunks for d in store.documents())


# -------------------------------------------------------------------- meta, threads


def test_meta_values_round_trip_and_reserved_keys_are_refused(store: SQLiteStore) -> None:
    assert store.get_meta("embedder") == "test" and store.get_meta("dim") == str(DIM)
    assert store.get_meta("chunking") is None
    store.set_meta("chunking", '{"max_tokens": 200}')
    store.set_meta("chunking", '{"max_tokens": 100}')
    assert store.get_meta("chunking") == '{"max_tokens": 100}'
    with pytest.raises(ValueError, match="cannot be changed"):
        store.set_meta("embedder", "other")


def test_one_handle_can_be_shared_by_threads(store: SQLiteStore) -> None:
    put(store, "base", ["shared thread text"])
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(50):
                found = store.search(Query(text="thread", filters=Filters(tenant="t")), 10)
                assert "base#0" in ids(found)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(30):
        put(store, f"w{i}", [f"thread writer {i}"], i)
    for t in threads:
        t.join()
    assert errors == []
    assert len(list(store.documents())) == 31


def test_a_write_lock_held_too_long_is_a_store_error(store: SQLiteStore) -> None:
    other = apsw.Connection(str(store.path))
    other.execute("BEGIN IMMEDIATE")
    try:
        assert store._conn is not None
        store._conn.setbusytimeout(50)  # instead of 10 s
        with pytest.raises(StoreError, match="locked by another process"):
            put(store, "d", ["blocked"])
        assert store.search(Query(text="blocked"), 1) == []  # readers are not blocked
    finally:
        other.execute("ROLLBACK")
        other.close()
    put(store, "d", ["unblocked"])
    assert ids(store.search(Query(text="unblocked"), 1)) == ["d#0"]


def test_handles_opened_at_once_on_a_new_file_agree(path: Path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_and_write(i: int) -> None:
        try:
            barrier.wait()
            with SQLiteStore(path, dim=DIM, embedder="test") as own:
                put(own, f"t{i}", [f"thread {i}"], i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SQLiteStore(path, dim=DIM, embedder="test") as store:
        assert sorted(store.hashes()) == ["t0", "t1", "t2", "t3"]
