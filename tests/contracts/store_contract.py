"""The behaviour every store backend must show, whatever its engine.

A backend's test module subclasses ``StoreContract`` and provides the ``make_store``
fixture: a callable that opens (or re-opens) *the same* empty-at-first store of dimension
``StoreContract.DIM`` for the embedder named ``StoreContract.EMBEDDER`` each time it is
called, and closes what it opened at teardown::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            ...

A registered backend is an ``expertly.store.StoreBackend``, so the suite checks every
method of every store protocol: ``Store`` (upsert, delete, search, documents, vectors),
``DocumentHashes`` (hashes), ``MetaStore`` (get_meta, set_meta), ``StoreStats`` (stats),
``DocumentReader`` (get_document, document_text, chunks) and ``close``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from expertly.errors import StoreError
from expertly.store import (
    STATS_KEYS,
    DocumentHashes,
    DocumentReader,
    MetaStore,
    Store,
    StoreBackend,
    StoreStats,
)
from expertly.types import Chunk, Document, Filters, Hit, Query

MakeStore = Callable[[], StoreBackend]

HOSTILE_QUERIES = [
    '"NEAR( AND *',
    "",
    "   ",
    "!!! ??? ...",
    "*",
    '"',
    "'",
    "(((",
    ")",
    "NOT",
    "AND OR NOT NEAR",
    "a OR",
    "title:secret",
    "^start",
    "x - y + z",
    "NEAR(a b, 3)",
    "-leading",
    "{a b}: c",
    "\x00\x01",
    "🚀🔥",
    "' OR 1=1; DROP TABLE chunks; --",
    "word " * 2000,
]


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` random unit vectors (float32), reproducible from ``seed``."""
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_doc(
    doc_id: str,
    texts: Sequence[str],
    *,
    title: str = "",
    metadata: Mapping[str, Any] | None = None,
    content_hash: str = "h1",
) -> tuple[Document, list[Chunk]]:
    """A document whose chunks are ``texts`` joined by blank lines, spans consistent."""
    chunks, pos = [], 0
    for i, text in enumerate(texts):
        chunks.append(
            Chunk(
                id=f"{doc_id}#{i}",
                doc_id=doc_id,
                index=i,
                text=text,
                start=pos,
                end=pos + len(text),
                heading_path=("Part", f"Section {i}"),
                page=i + 1,
                token_count=len(text.split()),
                metadata={"n": i},
            )
        )
        pos += len(text) + 2
    doc = Document(
        id=doc_id,
        text="\n\n".join(texts),
        source=f"/corpus/{doc_id}",
        title=title or doc_id.title(),
        format="md",
        content_hash=content_hash,
        metadata=dict(metadata or {}),
    )
    return doc, chunks


def ids(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.id for h in hits]


class StoreContract:
    """Tests every backend must pass; subclasses provide ``make_store``."""

    DIM: ClassVar[int] = 16
    EMBEDDER: ClassVar[str] = "contract-embedder"

    @pytest.fixture
    def make_store(self) -> MakeStore:
        raise NotImplementedError("a backend's test class must provide make_store")

    @pytest.fixture
    def store(self, make_store: MakeStore) -> Iterator[StoreBackend]:
        yield make_store()

    def put(
        self, store: StoreBackend, doc_id: str, texts: Sequence[str], seed: int = 0, **kw: Any
    ) -> np.ndarray:
        """Upsert a document of ``texts`` with random unit vectors; returns the vectors."""
        doc, chunks = make_doc(doc_id, texts, **kw)
        vectors = unit_vectors(len(chunks), self.DIM, seed)
        store.upsert(doc, chunks, vectors)
        return vectors

    # --------------------------------------------------------------- basic search

    @pytest.mark.parametrize(
        "protocol", [Store, DocumentHashes, MetaStore, StoreStats, DocumentReader, StoreBackend]
    )
    def test_implements_every_store_protocol(self, store: StoreBackend, protocol: type) -> None:
        assert isinstance(store, protocol)

    def test_dense_search_finds_each_chunk_by_its_vector(self, store: StoreBackend) -> None:
        texts = ["alpha one", "beta two", "gamma three", "delta four"]
        vectors = self.put(store, "doc", texts, seed=1, title="The Doc")
        for i, vector in enumerate(vectors):
            hits = store.search(Query(vector=vector), 2)
            assert len(hits) == 2
            top = hits[0]
            assert top.chunk.id == f"doc#{i}" and top.chunk.text == texts[i]
            assert top.ranks == {"dense": 1} and hits[1].ranks == {"dense": 2}
            assert top.score == pytest.approx(1.0, abs=1e-5)
            assert top.scores["dense"] == top.score and hits[1].score < top.score
            assert (top.source, top.title) == ("/corpus/doc", "The Doc")
        stored = store.chunks("doc")
        _, expected = make_doc("doc", texts)
        assert [(c.id, c.text, c.start, c.end, c.heading_path, c.page, c.token_count)
                for c in stored] == [
                (c.id, c.text, c.start, c.end, c.heading_path, c.page, c.token_count)
                for c in expected]  # fmt: skip
        assert [dict(c.metadata) for c in stored] == [{"n": i} for i in range(4)]

    def test_text_search_ranks_by_bm25(self, store: StoreBackend) -> None:
        self.put(store, "a", ["the invoice is due in thirty days", "shipping takes a week"])
        self.put(store, "b", ["invoice invoice invoice reminder", "nothing relevant here"], 2)
        hits = store.search(Query(text="invoice"), 10)
        assert set(ids(hits)) == {"a#0", "b#0"}
        assert [h.ranks for h in hits] == [{"sparse": 1}, {"sparse": 2}]
        assert all(h.score > 0 and h.scores == {"sparse": h.score} for h in hits)
        assert hits[0].score >= hits[1].score
        assert hits[0].title in ("A", "B")

    def test_question_naming_the_title_matches(self, store: StoreBackend) -> None:
        self.put(store, "p", ["employees get twenty weeks"], title="Parental Leave Policy")
        self.put(store, "q", ["passwords need fourteen characters"], 3, title="Security")
        assert ids(store.search(Query(text="parental leave"), 5)) == ["p#0"]

    def test_both_set_returns_the_union_with_ranks_of_each_method(
        self, store: StoreBackend
    ) -> None:
        vectors = self.put(store, "d", ["apples are red", "bananas are yellow", "kiwis"], 4)
        hits = store.search(Query(text="bananas", vector=vectors[0]), 1)
        assert ids(hits) == ["d#0", "d#1"]  # dense list first, then sparse-only hits
        assert hits[0].ranks == {"dense": 1} and hits[1].ranks == {"sparse": 1}
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[1].score == hits[1].scores["sparse"] > 0
        both = store.search(Query(text="apples", vector=vectors[0]), 3)
        assert both[0].ranks == {"dense": 1, "sparse": 1}
        assert both[0].score == both[0].scores["dense"] and both[0].scores["sparse"] > 0
        assert [h.ranks["dense"] for h in both] == [1, 2, 3]

    def test_k_limits_and_empty_queries(self, store: StoreBackend) -> None:
        vectors = self.put(store, "d", [f"common word {i}" for i in range(6)], 5)
        assert len(store.search(Query(vector=vectors[0]), 1)) == 1
        assert len(store.search(Query(vector=vectors[0]), 100)) == 6
        assert len(store.search(Query(text="common"), 3)) == 3
        assert store.search(Query(), 5) == []

    # ----------------------------------------------------------- replace / delete

    def test_upsert_again_replaces_everything(self, store: StoreBackend) -> None:
        old = self.put(store, "d", ["obsolete zebra text", "more zebra", "zebra again"], 6)
        self.put(store, "other", ["unrelated giraffe"], 7)
        doc, chunks = make_doc("d", ["fresh okapi text", "okapi two"], content_hash="h2")
        new = unit_vectors(2, self.DIM, 8)
        store.upsert(doc, chunks, new)
        assert [c.text for c in store.chunks("d")] == ["fresh okapi text", "okapi two"]
        assert store.search(Query(text="zebra"), 10) == []
        assert ids(store.search(Query(text="okapi"), 10)) in (["d#0", "d#1"], ["d#1", "d#0"])
        found = ids(store.search(Query(vector=old[2]), 10))
        assert sorted(found) == ["d#0", "d#1", "other#0"]  # no stale vectors
        assert ids(store.search(Query(vector=new[1]), 1)) == ["d#1"]
        infos = {i.id: i for i in store.documents()}
        assert set(infos) == {"d", "other"} and infos["d"].chunks == 2
        assert infos["d"].content_hash == "h2" and store.hashes() == {"d": "h2", "other": "h1"}

    def test_delete_makes_a_document_unfindable(self, store: StoreBackend) -> None:
        vectors = self.put(store, "gone", ["secret walrus plan"], 9)
        self.put(store, "kept", ["public walrus facts"], 10)
        assert store.delete("gone") is True
        assert store.delete("gone") is False
        assert ids(store.search(Query(text="walrus"), 10)) == ["kept#0"]
        assert ids(store.search(Query(vector=vectors[0]), 10)) == ["kept#0"]
        assert [d.id for d in store.documents()] == ["kept"]
        assert store.get_document("gone") is None and store.chunks("gone") == []
        assert store.document_text("gone") is None
        assert store.delete("never-there") is False

    def test_documents_reports_every_field(self, store: StoreBackend) -> None:
        before = time.time()
        meta = {"tenant": "acme", "groups": ["hr"], "lang": "en", "year": 2024}
        self.put(store, "b.md", ["one", "two", "three"], title="Bee", metadata=meta)
        self.put(store, "a.md", ["solo"], 11, content_hash="abc")
        infos = list(store.documents())
        assert sorted(i.id for i in infos) == ["a.md", "b.md"]
        info = store.get_document("b.md")
        assert info is not None and info in infos
        assert (info.source, info.title, info.format, info.content_hash) == (
            "/corpus/b.md", "Bee", "md", "h1")  # fmt: skip
        assert info.chunks == 3 and info.chars == len("one\n\ntwo\n\nthree")
        assert before - 1 <= info.updated_at <= time.time() + 1
        assert dict(info.metadata) == meta
        assert store.document_text("b.md") == "one\n\ntwo\n\nthree"
        assert store.hashes() == {"a.md": "abc", "b.md": "h1"}

    # --------------------------------------------------------------------- filters

    def _acl_corpus(self, store: StoreBackend) -> np.ndarray:
        """Four docs, one chunk each, all containing "policy"; returns one query vector."""
        self.put(store, "public", ["policy public"], 20)
        self.put(store, "acme-hr", ["policy acme hr"], 21,
                 metadata={"tenant": "acme", "groups": ["hr"], "lang": "en"})  # fmt: skip
        self.put(store, "acme-all", ["policy acme all"], 22,
                 metadata={"tenant": "acme", "lang": "de", "year": 2024})  # fmt: skip
        self.put(store, "globex", ["policy globex"], 23,
                 metadata={"tenant": "globex", "groups": ["hr", "it"], "flag": True})  # fmt: skip
        return unit_vectors(1, self.DIM, 99)[0]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (Filters(), {"public", "acme-hr", "acme-all", "globex"}),
            (Filters(tenant="acme"), {"public", "acme-hr", "acme-all"}),
            (Filters(tenant="nobody"), {"public"}),
            (Filters(groups=()), {"public", "acme-all"}),
            (Filters(groups=("it",)), {"public", "acme-all", "globex"}),
            (Filters(tenant="acme", groups=("sales",)), {"public", "acme-all"}),
            (Filters(tenant="acme", groups=("hr",)), {"public", "acme-hr", "acme-all"}),
            (Filters(doc_ids=("globex", "public", "missing")), {"globex", "public"}),
            (Filters(doc_ids=()), set()),
            (Filters(metadata={"lang": "en"}), {"acme-hr"}),
            (Filters(metadata={"year": 2024}), {"acme-all"}),
            (Filters(metadata={"year": "2024"}), set()),
            (Filters(metadata={"flag": True}), {"globex"}),
            (Filters(metadata={"groups": ["hr", "it"]}), {"globex"}),
            (Filters(metadata={"lang": "de", "tenant": "acme"}), {"acme-all"}),
            (Filters(metadata={"missing.key": "x"}), set()),
        ],
    )
    def test_filters_apply_to_dense_and_sparse(
        self, store: StoreBackend, filters: Filters, expected: set[str]
    ) -> None:
        vector = self._acl_corpus(store)
        dense = store.search(Query(vector=vector, filters=filters), 10)
        sparse = store.search(Query(text="policy", filters=filters), 10)
        assert {h.chunk.doc_id for h in dense} == expected
        assert {h.chunk.doc_id for h in sparse} == expected
        hybrid = store.search(Query(text="policy", vector=vector, filters=filters), 10)
        assert {h.chunk.doc_id for h in hybrid} == expected

    def test_selective_filter_still_returns_k_hits(self, store: StoreBackend) -> None:
        rng = np.random.default_rng(5)
        for d in range(199):
            doc, chunks = make_doc(f"other{d:03d}", [f"report item {d} {i}" for i in range(5)],
                                   metadata={"tenant": "other", "groups": ["g"]})  # fmt: skip
            store.upsert(doc, chunks, unit_vectors(5, self.DIM, int(rng.integers(1 << 30))))
        self.put(store, "mine", [f"report mine {i}" for i in range(5)], 42,
                 metadata={"tenant": "acme"})  # fmt: skip
        assert sum(d.chunks for d in store.documents()) == 1000
        anywhere = unit_vectors(1, self.DIM, 1)[0]  # unfiltered, its top 5 are "other" chunks
        assert {h.chunk.doc_id for h in store.search(Query(vector=anywhere), 5)} != {"mine"}
        expected = {f"mine#{i}" for i in range(5)}
        for filters in (
            Filters(tenant="acme"),
            Filters(groups=()),
            Filters(doc_ids=("mine",)),
            Filters(metadata={"tenant": "acme"}),
        ):
            assert set(ids(store.search(Query(vector=anywhere, filters=filters), 5))) == expected
            assert set(ids(store.search(Query(text="report", filters=filters), 5))) == expected

    # ---------------------------------------------------------------- robustness

    @pytest.mark.parametrize("text", HOSTILE_QUERIES)
    def test_hostile_text_queries_never_raise(self, store: StoreBackend, text: str) -> None:
        vectors = self.put(store, "d", ["near and not or word start leading title secret"])
        hits = store.search(Query(text=text), 5)
        assert all(h.chunk.doc_id == "d" for h in hits)
        assert len(store.search(Query(text=text, vector=vectors[0]), 5)) >= 1
        if not any(ch.isalnum() for ch in text):
            assert hits == []

    def test_unicode_text_round_trips_and_is_searchable(self, store: StoreBackend) -> None:
        texts = ["Grüße aus Zürich — naïve café", "Привет мир", "東京 タワー 🚀", "ﬁne ligature"]
        self.put(store, "ünï", texts, 12, title="Ünïcode Tïtle", metadata={"note": "日本"})
        assert [c.text for c in store.chunks("ünï")] == texts
        assert ids(store.search(Query(text="Zürich"), 5)) == ["ünï#0"]
        assert ids(store.search(Query(text="мир"), 5)) == ["ünï#1"]
        assert ids(store.search(Query(text="🚀 タワー"), 5)) == ["ünï#2"]
        info = store.get_document("ünï")
        assert info is not None and info.title == "Ünïcode Tïtle"
        assert dict(info.metadata) == {"note": "日本"}

    def test_document_without_chunks_is_allowed(self, store: StoreBackend) -> None:
        doc, _ = make_doc("empty", ["only text"])
        store.upsert(doc, [], np.zeros((0, self.DIM), dtype=np.float32))
        info = store.get_document("empty")
        assert info is not None and info.chunks == 0
        assert store.document_text("empty") == "only text" and store.chunks("empty") == []
        assert store.search(Query(text="only text", vector=unit_vectors(1, self.DIM, 0)[0]),
                            5) == []  # fmt: skip

    def test_bad_input_raises_value_error_and_keeps_previous_content(
        self, store: StoreBackend
    ) -> None:
        vectors = self.put(store, "d", ["kept text one", "kept text two"], 13)
        doc, chunks = make_doc("d", ["replacement a", "replacement b"], content_hash="h2")
        nan = unit_vectors(2, self.DIM, 14)
        nan[1, 3] = np.nan
        bad_vectors = [
            unit_vectors(2, self.DIM + 1, 14),
            unit_vectors(3, self.DIM, 14),
            unit_vectors(2, self.DIM, 14)[0],
            nan,
            np.array([["x"] * self.DIM] * 2),
        ]
        for bad in bad_vectors:
            with pytest.raises(ValueError):
                store.upsert(doc, chunks, bad)
        foreign = [chunks[0], Chunk(id="x#1", doc_id="x", index=1, text="t", start=0, end=1)]
        with pytest.raises(ValueError, match="doc_id"):
            store.upsert(doc, foreign, unit_vectors(2, self.DIM, 14))
        assert [c.text for c in store.chunks("d")] == ["kept text one", "kept text two"]
        assert store.hashes() == {"d": "h1"}
        assert ids(store.search(Query(vector=vectors[1]), 1)) == ["d#1"]
        assert len(store.search(Query(text="kept"), 5)) == 2
        assert store.search(Query(text="replacement"), 5) == []

    def test_reopening_keeps_the_data(self, make_store: MakeStore) -> None:
        first = make_store()
        vectors = self.put(first, "d", ["persistent heron"], 15, metadata={"tenant": "t"})
        first.close()
        second = make_store()
        assert [d.id for d in second.documents()] == ["d"]
        assert ids(second.search(Query(vector=vectors[0]), 1)) == ["d#0"]
        assert ids(second.search(Query(text="heron", filters=Filters(tenant="t")), 1)) == ["d#0"]
        assert second.search(Query(text="heron", filters=Filters(tenant="u")), 1) == []

    # ------------------------------------------------------------ many handles

    def test_a_second_handle_sees_every_write_at_once(self, make_store: MakeStore) -> None:
        writer, reader = make_store(), make_store()
        old = self.put(writer, "d", ["first heron", "second heron"], 30)
        probe = unit_vectors(1, self.DIM, 31)[0]
        for _ in range(3):  # repeated searches: a backend may start caching after the first
            assert sorted(ids(reader.search(Query(vector=probe), 10))) == ["d#0", "d#1"]
        new = self.put(writer, "e", ["third egret"], 32)
        assert ids(reader.search(Query(vector=new[0]), 1)) == ["e#0"]
        doc, chunks = make_doc("d", ["replaced ibis"], content_hash="h2")
        replacement = unit_vectors(1, self.DIM, 33)
        writer.upsert(doc, chunks, replacement)
        assert ids(reader.search(Query(vector=replacement[0]), 1)) == ["d#0"]
        assert reader.search(Query(vector=old[1]), 10)[0].chunk.text != "second heron"
        assert sorted(ids(reader.search(Query(vector=probe), 10))) == ["d#0", "e#0"]
        assert writer.delete("e") is True
        assert ids(reader.search(Query(vector=new[0]), 10)) == ["d#0"]
        assert ids(writer.search(Query(vector=new[0]), 10)) == ["d#0"]

    def test_dense_scores_are_cosine_similarities_of_the_stored_vectors(
        self, store: StoreBackend
    ) -> None:
        vectors = unit_vectors(40, self.DIM, 34) * np.linspace(0.5, 3.0, 40)[:, None]
        doc, chunks = make_doc("m", [f"chunk {i}" for i in range(40)])
        store.upsert(doc, chunks, vectors)
        query = unit_vectors(1, self.DIM, 35)[0] * 7.0
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cosine = unit @ (query / np.linalg.norm(query))
        expected = [f"m#{i}" for i in np.argsort(-cosine)[:10]]
        for _ in range(3):
            hits = store.search(Query(vector=query), 10)
            assert ids(hits) == expected
            assert [h.score for h in hits] == pytest.approx(sorted(cosine)[::-1][:10], abs=1e-5)

    def test_vectors_returns_what_was_stored_and_skips_unknown_ids(
        self, store: StoreBackend
    ) -> None:
        first = self.put(store, "v", ["one", "two", "three"], seed=41)
        assert store.vectors([]) == {}
        got = store.vectors(["v#2", "v#0", "nowhere#0"])
        assert set(got) == {"v#0", "v#2"}
        assert got["v#0"].dtype == np.float32
        assert got["v#0"] == pytest.approx(first[0]) and got["v#2"] == pytest.approx(first[2])
        replaced = self.put(store, "v", ["one again"], seed=42)
        assert set(store.vectors(["v#0", "v#1"])) == {"v#0"}
        assert store.vectors(["v#0"])["v#0"] == pytest.approx(replaced[0])
        store.delete("v")
        assert store.vectors(["v#0"]) == {}

    # ------------------------------------------------ hashes, meta, stats, close

    def test_hashes_follow_upserts_and_deletes(self, store: StoreBackend) -> None:
        assert store.hashes() == {}
        self.put(store, "a", ["first"], content_hash="ha")
        self.put(store, "b", ["second"], 1, content_hash="hb")
        self.put(store, "a", ["first, edited"], 2, content_hash="ha2")
        assert store.hashes() == {"a": "ha2", "b": "hb"}
        store.delete("b")
        assert store.hashes() == {"a": "ha2"}
        assert store.hashes() == {d.id: d.content_hash for d in store.documents()}

    def test_meta_values_round_trip_and_persist(self, make_store: MakeStore) -> None:
        store = make_store()
        assert store.get_meta("chunking") is None
        store.set_meta("chunking", '{"max_tokens": 200}')
        store.set_meta("chunking", '{"max_tokens": 100}')
        store.set_meta("note", "ünïcode ✓")
        assert store.get_meta("chunking") == '{"max_tokens": 100}'
        store.close()
        again = make_store()
        assert again.get_meta("chunking") == '{"max_tokens": 100}'
        assert again.get_meta("note") == "ünïcode ✓"

    @pytest.mark.parametrize("key", ["embedder", "dim"])
    def test_meta_keys_describing_the_index_are_refused(
        self, store: StoreBackend, key: str
    ) -> None:
        with pytest.raises(ValueError, match=key):
            store.set_meta(key, "something else")
        self.put(store, "d", ["still searchable"], 3)
        assert ids(store.search(Query(text="searchable"), 5)) == ["d#0"]

    def test_stats_count_documents_and_chunks(self, store: StoreBackend) -> None:
        empty = store.stats()
        assert set(STATS_KEYS) <= set(empty)
        assert (empty["documents"], empty["chunks"]) == (0, 0)
        assert (empty["embedder"], empty["dim"]) == (self.EMBEDDER, self.DIM)
        self.put(store, "a", ["one", "two", "three"])
        self.put(store, "b", ["four"], 1)
        doc, _ = make_doc("c", ["a document without chunks"])
        store.upsert(doc, [], np.zeros((0, self.DIM), dtype=np.float32))
        stats = store.stats()
        assert (stats["documents"], stats["chunks"]) == (3, 4)
        store.delete("a")
        assert (store.stats()["documents"], store.stats()["chunks"]) == (2, 1)

    def test_close_is_idempotent_and_a_closed_handle_refuses_use(
        self, make_store: MakeStore
    ) -> None:
        store = make_store()
        self.put(store, "d", ["closing time"])
        store.close()
        store.close()
        with pytest.raises(StoreError):
            store.search(Query(text="closing"), 1)
        with pytest.raises(StoreError):
            self.put(store, "e", ["too late"])
        assert ids(make_store().search(Query(text="closing"), 1)) == ["d#0"]
