"""SQLiteStore's in-memory BM25 copy (``store.sparse_cache``) against FTS5's ``bm25()``.

The whole store contract runs again with the copy in use from the first search. The
tests below compare the copy's (rowid, score) lists with ``bm25_search``'s on random
corpora (three columns, diacritics, stemming pairs, repeated words), with filters, while
the index changes through the same handle and through another one, and check the cases
where FTS5 must answer instead (a phrase of several tokens) and when ``auto`` reads it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expertly.config import StoreSettings
from expertly.errors import ConfigError
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite import bm25 as sqlite_bm25
from expertly.store.sqlite import sparse as sqlite_sparse
from expertly.store.sqlite.query import bm25_search, chunk_filter, fts_query, query_phrases
from expertly.types import Filters, Hit, Query
from tests.contracts.store_contract import MakeStore, StoreContract, make_doc, unit_vectors

pytestmark = pytest.mark.unit

DIM = 8
ON = StoreSettings(sparse_cache="on", vector_cache="off")
OFF = StoreSettings(sparse_cache="off", vector_cache="off")

WORDS = (  # noqa: SIM905 (a sentence reads better than a 40-line list)
    "run running runs ran runner cat cats caté café cafe naïve naive résumé resume Über über "
    "policy policies leave leaving weeks week parental the of and to alpha beta gamma delta "
    "zeta Straße strasse ÉCOLE école 2024 42 x_y"
).split()


class TestSQLiteStoreWithSparseCacheContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        opened: list[SQLiteStore] = []

        def make() -> SQLiteStore:
            settings = StoreSettings(sparse_cache="on")
            store = SQLiteStore(tmp_path / "index.sqlite", dim=self.DIM, embedder=self.EMBEDDER,
                                settings=settings)  # fmt: skip
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "index.sqlite"


@pytest.fixture(autouse=True, params=["prune-when-large", "prune-always"])
def pruning(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs twice: as shipped (these corpora are too small for the
    rarest-phrases-first search) and with that search tried on every query."""
    if request.param == "prune-always":
        monkeypatch.setattr(sqlite_bm25, "PRUNE_MIN_POSTINGS", 0)


def _sentence(rng: random.Random, most: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(0, most))]
    if words and rng.random() < 0.3:
        words += [words[0]] * rng.randint(1, 4)  # a word repeated in one chunk
    return " ".join(words)


def put_random(store: SQLiteStore, rng: random.Random, doc_id: str) -> None:
    """A document of 1-6 chunks with a random title and heading paths; ACL fields vary."""
    texts = [_sentence(rng, 25) or "empty" for _ in range(rng.randint(1, 6))]
    meta: dict[str, Any] = rng.choice(
        [{}, {"tenant": "acme"}, {"tenant": "other", "groups": ["hr"]}]
    )
    doc, chunks = make_doc(doc_id, texts, title=_sentence(rng, 4), metadata=meta)
    chunks = [
        dataclasses.replace(
            c, heading_path=tuple(_sentence(rng, 3) for _ in range(rng.randint(0, 3)))
        )
        for c in chunks
    ]
    vectors = unit_vectors(len(chunks), DIM, rng.randint(0, 10**6))
    store.upsert(doc, chunks, vectors)


def random_queries(rng: random.Random, n: int) -> list[str]:
    """Single-token words only (``x_y`` is two tokens: FTS5 answers those)."""
    single = [w for w in WORDS if w != "x_y"]
    return [" ".join(rng.choice(single) for _ in range(rng.randint(1, 5))) for _ in range(n)]


def same(got: list[Hit], want: list[Hit]) -> None:
    """Same chunks in the same order, scores equal to float rounding."""
    assert [h.chunk.id for h in got] == [h.chunk.id for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-12, abs=0)


def compare(store: SQLiteStore, text: str, k: int, filters: Filters = Filters()) -> None:
    """The copy's list for ``text`` equals ``bm25_search``'s on the same snapshot."""
    filter_sql, params = chunk_filter(filters) if filters != Filters() else ("", [])
    with store._read() as conn:
        store._sparse.sync(conn)
        want = bm25_search(conn, fts_query(text), k, filter_sql, params)
        allowed = None
        if filter_sql:
            found = np.sort(np.fromiter((r[0] for r in conn.execute(filter_sql, params)), np.int64))
            allowed = store._sparse.positions(found)
        got = store._sparse.search(conn, query_phrases(text), k, allowed)
    assert got is not None, text
    assert [r for r, _ in got] == [r for r, _ in want], text
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-12, abs=0), text


def test_scores_and_order_equal_fts5_on_a_random_corpus(path: Path) -> None:
    rng = random.Random(1)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        for d in range(120):
            put_random(store, rng, f"doc{d:03d}")
        for text in random_queries(rng, 150):
            compare(store, text, int(rng.choice([1, 3, 10, 50, 1000])))
        assert len(store._sparse) == int(store.stats()["chunks"]) > 300


@pytest.mark.parametrize(
    "filters",
    [
        Filters(tenant="acme"),
        Filters(groups=()),
        Filters(groups=("hr",)),
        Filters(doc_ids=("doc001", "doc007", "missing")),
        Filters(doc_ids=()),
        Filters(metadata={"tenant": "other"}),
    ],
)
def test_filters_keep_fts5_statistics_and_restrict_the_rows(path: Path, filters: Filters) -> None:
    rng = random.Random(2)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        for d in range(60):
            put_random(store, rng, f"doc{d:03d}")
        for text in random_queries(rng, 25):
            compare(store, text, 8, filters)
            hits = store.search(Query(text=text, filters=filters), 8)
            with SQLiteStore(path, dim=DIM, embedder="t", read_only=True, settings=OFF) as fts:
                want = fts.search(Query(text=text, filters=filters), 8)
            same(hits, want)


def test_the_copy_follows_upserts_deletes_and_reupserts_of_its_own_handle(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_sparse, "MERGE_MIN_POSTINGS", 40)  # merge often
    rng = random.Random(3)
    queries = random_queries(rng, 6)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        for d in range(30):
            put_random(store, rng, f"doc{d:03d}")
        for step in range(80):
            doc_id = f"doc{rng.randrange(40):03d}"
            if rng.random() < 0.35:
                store.delete(doc_id)
            else:
                put_random(store, rng, doc_id)  # replaces: new rowids, old ones removed
            for text in queries:
                compare(store, text, 10)
            assert len(store._sparse) == store.stats()["chunks"], f"step {step}"
        assert store._sparse.rowids.size < 2 * len(store._sparse)  # removed ones were dropped


def test_the_copy_follows_writes_of_another_handle(path: Path) -> None:
    rng = random.Random(4)
    queries = random_queries(rng, 5)
    with (
        SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as writer,
        SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as reader,
    ):
        for _ in range(40):
            doc_id = f"d{rng.randrange(10)}"
            if rng.random() < 0.3:
                writer.delete(doc_id)
            else:
                put_random(writer, rng, doc_id)
            for text in queries:
                same(reader.search(Query(text=text), 7), writer.search(Query(text=text), 7))
            assert reader._sparse.loaded and len(reader._sparse) == writer.stats()["chunks"]


def test_a_read_only_handle_keeps_the_copy(path: Path) -> None:
    rng = random.Random(5)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as writer:
        for d in range(20):
            put_random(writer, rng, f"doc{d:03d}")
    with SQLiteStore(path, dim=DIM, embedder="t", read_only=True, settings=ON) as reader:
        for text in random_queries(rng, 20):
            compare(reader, text, 10)
        assert reader._sparse.loaded


def test_a_phrase_of_several_tokens_is_answered_by_fts5(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        doc, chunks = make_doc("a", ["x_y run", "x then y", "y_x", "run run"])
        store.upsert(doc, chunks, unit_vectors(4, DIM, 0))
        with store._read() as conn:
            store._sparse.sync(conn)
            assert store._sparse.search(conn, query_phrases("x_y run"), 5, None) is None
            assert store._sparse.search(conn, query_phrases("run"), 5, None) is not None
        got = store.search(Query(text="x_y run"), 5)
        with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as fts:
            want = fts.search(Query(text="x_y run"), 5)
        same(got, want)
        assert [h.chunk.id for h in got][:1] == ["a#0"]  # the phrase x y, in that order


def test_stemmed_twins_count_twice_and_wordless_phrases_add_nothing(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        doc, chunks = make_doc("s", ["running", "the runner ran", "cafe", "Café au lait"])
        store.upsert(doc, chunks, unit_vectors(4, DIM, 1))
        for text in ("running runs", "run", "_ run", "_", "CAFÉ cafe", "café"):
            compare(store, text, 10)
        with store._read() as conn:
            once = store._sparse.search(conn, ["run"], 5, None)
            twice = store._sparse.search(conn, ["running", "run"], 5, None)
            assert store._sparse.search(conn, ["_"], 5, None) == []
        assert once and twice and [r for r, _ in once] == [r for r, _ in twice]
        assert twice[0][1] == pytest.approx(2 * once[0][1])


def test_ties_break_by_rowid_at_the_cut(path: Path) -> None:
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        doc, chunks = make_doc("t", ["same words here"] * 9 + ["other"])
        store.upsert(doc, chunks, unit_vectors(10, DIM, 2))
        for k in (1, 4, 9, 20):
            compare(store, "same", k)
        hits = store.search(Query(text="words"), 3)
        assert [h.chunk.id for h in hits] == ["t#0", "t#1", "t#2"]


def test_modes_auto_on_off(path: Path) -> None:
    rng = random.Random(6)
    with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as writer:
        for d in range(10):
            put_random(writer, rng, f"doc{d:03d}")
        chunks = int(writer.stats()["chunks"])
        expected = writer.search(Query(text="run cat"), 5)

    def run(settings: StoreSettings, searches: int) -> bool:
        with SQLiteStore(path, dim=DIM, embedder="t", settings=settings) as store:
            for _ in range(searches):
                same(store.search(Query(text="run cat"), 5), expected)
            return store._sparse.loaded

    assert not run(StoreSettings(sparse_cache="off"), 3)
    assert run(StoreSettings(sparse_cache="on"), 1)  # from the first search
    assert not run(StoreSettings(sparse_cache="auto", sparse_cache_min_chunks=chunks), 1)
    assert run(StoreSettings(sparse_cache="auto", sparse_cache_min_chunks=chunks), 2)
    assert not run(StoreSettings(sparse_cache="auto", sparse_cache_min_chunks=chunks + 1), 3)
    # A dense-only search never reads the postings.
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        store.search(Query(vector=unit_vectors(1, DIM, 3)[0]), 5)
        assert not store._sparse.loaded


def test_hybrid_batches_share_the_filter_between_both_copies(path: Path) -> None:
    rng = random.Random(7)
    both = StoreSettings(sparse_cache="on", vector_cache="on")
    with SQLiteStore(path, dim=DIM, embedder="t", settings=both) as store:
        for d in range(30):
            put_random(store, rng, f"doc{d:03d}")
        vectors = unit_vectors(3, DIM, 8)
        queries = [
            Query(text="run café", vector=vectors[0], filters=Filters(tenant="acme")),
            Query(text="policy", vector=vectors[1]),
            Query(text="x_y leave", vector=vectors[2], filters=Filters(groups=())),
        ]
        got = store.search_many(queries, 6)
        with SQLiteStore(path, dim=DIM, embedder="t", settings=OFF) as fts:
            want = [fts.search(q, 6) for q in queries]
        for g, w in zip(got, want, strict=True):
            assert [(h.chunk.id, h.ranks) for h in g] == [(h.chunk.id, h.ranks) for h in w]
        assert store._sparse.loaded and store._vectors.loaded


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="sparse_cache"):
        StoreSettings(sparse_cache="always")
    with pytest.raises(ConfigError, match="sparse_cache_min_chunks"):
        StoreSettings(sparse_cache_min_chunks=-1)


def test_rarest_phrases_first_gives_the_full_scoring_bit_for_bit(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a corpus with Zipf-like word counts, with removed chunks and filters: the pruned
    search answers many queries, always exactly as scoring every row does."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(300)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    with SQLiteStore(path, dim=DIM, embedder="t", settings=ON) as store:
        for d in range(400):
            texts = [" ".join(rng.choices(vocab, weights, k=rng.randint(5, 40))) for _ in range(2)]
            doc, chunks = make_doc(f"doc{d:03d}", texts, metadata={"tenant": "a" if d % 3 else "b"})
            store.upsert(doc, chunks, unit_vectors(len(chunks), DIM, d))
        for d in range(0, 400, 9):
            store.delete(f"doc{d:03d}")  # masked rows in the copy
        answered = 0
        real = sqlite_bm25.Scorer.pruned

        def counting(self: Any, *args: Any) -> Any:
            nonlocal answered
            found = real(self, *args)
            answered += found is not None
            return found

        monkeypatch.setattr(sqlite_bm25.Scorer, "pruned", counting)
        monkeypatch.setattr(sqlite_bm25, "PRUNE_COST", 1)  # try it even where it costs more
        with store._read() as conn:
            store._sparse.sync(conn)
            rows = conn.execute(
                "SELECT rowid FROM chunks WHERE doc_id IN"
                " (SELECT id FROM documents WHERE tenant = 'b')"
            )
            tenant_b = store._sparse.positions(np.sort(np.fromiter((r[0] for r in rows), np.int64)))
            for _ in range(200):
                words = rng.sample(vocab[:5], rng.randint(0, 2)) + rng.sample(
                    vocab[50:], rng.randint(1, 3)
                )
                phrases = words + words[:1] if rng.random() < 0.2 else words  # a repeated one
                k = rng.choice([1, 5, 10, 30])
                for allowed in (None, tenant_b):
                    monkeypatch.setattr(sqlite_bm25, "PRUNE_MIN_POSTINGS", 0)
                    got = store._sparse.search(conn, phrases, k, allowed)
                    monkeypatch.setattr(sqlite_bm25, "PRUNE_MIN_POSTINGS", 10**12)
                    want = store._sparse.search(conn, phrases, k, allowed)
                    assert got == want, (phrases, k)  # rowids and scores, exactly
        assert answered > 100  # the pruned search really answered most of them
