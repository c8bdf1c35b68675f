"""The SQLite store's cache of chunks read for searches (``store.chunk_cache``): bounded,
never stale across re-ingests by this or another handle, and the hits built from it are
ordered as before (dense rank, then the sparse-only hits by sparse rank)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from expertly.config import StoreSettings
from expertly.errors import ConfigError
from expertly.store.sqlite import SQLiteStore
from expertly.store.sqlite import search as search_module
from expertly.store.sqlite.rows import ChunkRowCache, merge_built
from expertly.types import Chunk, Filters, Query
from tests.contracts.store_contract import make_doc, unit_vectors

pytestmark = pytest.mark.unit

DIM = 8


def _put(store: SQLiteStore, doc_id: str, texts: list[str], title: str, seed: int) -> None:
    doc, chunks = make_doc(doc_id, texts, title=title)
    store.upsert(doc, chunks, unit_vectors(len(chunks), DIM, seed))


def _search(store: SQLiteStore, text: str) -> list[tuple[str, str, str]]:
    vector = unit_vectors(1, DIM, 99)[0]
    hits = store.search(Query(text=text, vector=vector, filters=Filters()), 10)
    return sorted((h.chunk.id, h.chunk.text, h.title) for h in hits)


def test_a_reingested_document_is_found_with_its_new_text_and_title(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with (
        SQLiteStore(path, dim=DIM, embedder="t") as reader,
        SQLiteStore(path, dim=DIM, embedder="t") as writer,
    ):
        _put(writer, "a.md", ["parental leave is 20 weeks", "vacation is 28 days"], "Old", 1)
        assert ("a.md#0", "parental leave is 20 weeks", "Old") in _search(reader, "leave")
        # another handle replaces the document: the reader's cached rows must not come back
        _put(writer, "a.md", ["parental leave is 22 weeks", "vacation is 30 days"], "New", 2)
        found = _search(reader, "leave")
        assert ("a.md#0", "parental leave is 22 weeks", "New") in found
        assert all(title == "New" for _, _, title in found)
        # and the reader's own re-ingest
        _put(reader, "a.md", ["parental leave is 24 weeks"], "Newer", 3)
        assert _search(reader, "leave") == [("a.md#0", "parental leave is 24 weeks", "Newer")]


def test_a_second_search_reads_no_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    real = search_module.chunk_rows

    def counting(conn: Any, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
        read.extend(rowids)
        return real(conn, rowids)

    monkeypatch.setattr(search_module, "chunk_rows", counting)
    with SQLiteStore(tmp_path / "i.sqlite", dim=DIM, embedder="t") as store:
        _put(store, "a.md", [f"leave rule {i}" for i in range(6)], "A", 1)
        first = _search(store, "leave")
        assert len(read) == len(set(read)) == 6
        assert _search(store, "leave") == first and len(read) == 6
    off = StoreSettings(chunk_cache=0)
    with SQLiteStore(tmp_path / "i.sqlite", dim=DIM, embedder="t", settings=off) as store:
        read.clear()
        _search(store, "leave")
        _search(store, "leave")
        assert len(read) == 12  # nothing kept


def test_cache_keeps_at_most_its_size_dropping_the_oldest() -> None:
    reads: list[list[int]] = []

    def read(rowids: list[int]) -> Mapping[int, Sequence[Any]]:
        reads.append(list(rowids))
        return {
            r: (f"d#{r}", "d", r, f"text {r}", 0, 1, "[]", None, 1, "{}", "src", "T")
            for r in rowids
        }

    cache = ChunkRowCache(3)
    got = cache.get([1, 2, 3], read)
    assert (
        isinstance(got[2][0], Chunk) and got[2][0].text == "text 2" and got[2][1:] == ("src", "T")
    )
    cache.get([2, 3, 4], read)  # 4 is read; 1, the oldest, is dropped
    assert reads == [[1, 2, 3], [4]]
    cache.get([1, 4], read)
    assert reads[-1] == [1]


def test_hits_are_ordered_by_dense_rank_then_sparse_only_by_sparse_rank() -> None:
    rng = random.Random(5)
    for _ in range(50):
        pool = rng.sample(range(1, 200), 60)
        dense = [(r, 1.0 - i / 100) for i, r in enumerate(rng.sample(pool, 30))]
        sparse = [(r, 30.0 - i) for i, r in enumerate(rng.sample(pool, 30))]
        rows = {r: (make_doc(f"d{r}", ["x"])[1][0], "s", "t") for r in pool}
        hits = merge_built(dense, sparse, rows)
        dense_rank = {r: i for i, (r, _) in enumerate(dense, 1)}
        sparse_rank = {r: i for i, (r, _) in enumerate(sparse, 1)}
        inf = float("inf")
        expected = sorted(
            set(dense_rank) | set(sparse_rank),
            key=lambda r: (dense_rank.get(r, inf), sparse_rank.get(r, inf)),
        )
        assert [h.chunk.doc_id for h in hits] == [f"d{r}" for r in expected]
        for hit, rowid in zip(hits, expected, strict=True):
            assert hit.score == (dict(dense).get(rowid) or dict(sparse)[rowid])
            assert dict(hit.ranks) == {
                **({"dense": dense_rank[rowid]} if rowid in dense_rank else {}),
                **({"sparse": sparse_rank[rowid]} if rowid in sparse_rank else {}),
            }


def test_chunk_cache_setting_is_checked() -> None:
    assert StoreSettings().chunk_cache == 8_192
    with pytest.raises(ConfigError, match=r"store\.chunk_cache"):
        StoreSettings(chunk_cache=-1)
