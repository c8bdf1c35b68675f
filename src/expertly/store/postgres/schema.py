"""Schema, versions and connections of the PostgreSQL store (psycopg 3 + pgvector).

All tables live in one PostgreSQL schema (``store.schema``, default ``expertly``), so that
several workspaces can share a database::

    schema_version  one row per applied migration (version, applied_at)
    meta            key → value: embedder and dim (checked on every open), ingest's notes
    documents       one row per Document (text included); ``tenant`` and ``groups`` copied
                    out of the metadata (jsonb) for the access filters
    chunks          one row per Chunk: ``rowid`` (bigint identity, never reused), the chunk's
                    fields, ``embedding vector(dim)``, ``tsv tsvector`` (chunk text at
                    weight A, document title and heading path at weight B, written by the
                    same INSERT as the chunk, since the title lives in ``documents``; kept
                    in the row, ``STORAGE MAIN``) and ``tsv_length`` (BM25's document
                    length, generated from ``tsv``); ``ON DELETE CASCADE`` from documents
    term_stats      lexeme → number of chunks whose ``tsv`` holds it (BM25's idf)
    corpus_stats    one row: number of chunks and the sum of their ``tsv_length`` (N, avgdl)
    english_words   the text-search configuration of ``tsv`` (``TS_CONFIG``)
    indexes         ``chunks_embedding_hnsw`` (HNSW, ``vector_cosine_ops``), ``chunks_tsv``
                    (GIN), ``documents_groups`` (GIN), ``documents_tenant``, chunks(doc_id, idx)

``term_stats`` and ``corpus_stats`` change in the transaction of each upsert and delete
(``postgres.stats``), so a search sees statistics that agree with the chunks it ranks.

Versions: 1 documents, chunks, meta and the indexes; 2 the BM25 statistics and the
configuration without stop words (built from the stored chunks when a version-1 index is
opened for writing: ``tsv`` is computed again and the chunks table rewritten).

Migrations: ``MIGRATIONS[v]`` turns version ``v - 1`` into ``v``. Opening a store applies
the missing ones in one transaction under an advisory lock (two processes opening a new
database at once cannot interleave), each recorded in ``schema_version``; a database whose
version is newer than ``SCHEMA_VERSION`` is refused (this expertly does not understand it).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from expertly.errors import StoreError

SCHEMA_VERSION = 2
"""The newest version ``MIGRATIONS`` reaches."""

TS_CONFIG = "english_words"
"""Text-search configuration of ``tsv`` and of queries (version 2 on), created in the
store's schema: PostgreSQL's ``english`` with its Snowball stemmer kept and its stop-word
list left out, the counterpart of the SQLite store's porter tokenizer, which indexes every
word. BM25 gives a word found in most chunks a weight near zero, and a less common
"stop word" (between, after, during) the weight it earns, as FTS5 does. Words of other
languages are indexed as written (lower-cased). Version 1 used ``english``."""

_STEM_DICTIONARY = "english_stem_words"

_PUNCTUATION = string.punctuation
_AS_SPACES = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))


def index_text(text: str) -> str:
    """``text`` as ``tsv`` reads it: ASCII punctuation turned into spaces.

    FTS5's unicode61 tokenizer cuts words at every punctuation character, while
    PostgreSQL's parser keeps ``covid-19`` (besides its parts), ``3.5``, ``-19`` or
    ``mg/kg`` whole; a question's words (``query_phrases``) are cut as FTS5 cuts them, so
    without this the two would not meet. ``index_text_sql`` does the same in SQL.
    """
    return text.translate(_AS_SPACES)


def index_text_sql(expression: str) -> str:
    """SQL for ``index_text(expression)`` (``translate``, character for character)."""
    escaped = _PUNCTUATION.replace("'", "''")
    return f"translate({expression}, '{escaped}', '{' ' * len(_PUNCTUATION)}')"


def ts_config(s: str) -> str:
    """SQL for the configuration of the store in schema ``s`` (quoted), as a regconfig."""
    return f"'{s}.{TS_CONFIG}'::regconfig"


TEXT_WEIGHT, CONTEXT_WEIGHT = 1.0, 0.5
"""BM25 term-frequency weights of an occurrence in the chunk's own text (tsvector weight A)
and in the title or heading path it inherits (weight B): the SQLite store's FTS5 column
weights (``sqlite.schema.BM25_WEIGHTS``)."""

MAX_HNSW_DIM = 2000
"""pgvector indexes ``vector`` columns of at most this many dimensions."""

RESERVED_META = frozenset({"schema_version", "embedder", "dim"})
"""Meta keys that describe the index; ``set_meta`` refuses them."""

HNSW_INDEX = "chunks_embedding_hnsw"


def _version_1(s: str, dim: int, m: int, ef_construction: int) -> list[str]:
    """Documents, chunks (vector + tsvector), meta and their indexes."""
    return [
        f"CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {s}.documents (
            id text PRIMARY KEY,
            source text NOT NULL,
            title text NOT NULL,
            format text NOT NULL,
            content_hash text NOT NULL,
            text text NOT NULL,
            chars integer NOT NULL,
            metadata jsonb NOT NULL,
            tenant text,                          -- metadata tenant; NULL = public
            groups text[] NOT NULL DEFAULT '{{}}',  -- metadata groups; empty = everyone
            updated_at double precision NOT NULL  -- Unix time of the last upsert
        )""",
        f"CREATE INDEX IF NOT EXISTS documents_tenant ON {s}.documents (tenant)",
        f"CREATE INDEX IF NOT EXISTS documents_groups ON {s}.documents USING gin (groups)",
        f"""CREATE TABLE IF NOT EXISTS {s}.chunks (
            rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            doc_id text NOT NULL REFERENCES {s}.documents (id) ON DELETE CASCADE,
            idx integer NOT NULL,
            text text NOT NULL,
            start integer NOT NULL,
            "end" integer NOT NULL,
            heading_path jsonb NOT NULL,
            page integer,
            token_count integer NOT NULL,
            metadata jsonb NOT NULL,
            embedding vector({int(dim)}) NOT NULL,
            tsv tsvector NOT NULL,
            UNIQUE (doc_id, idx)
        )""",
        # Keep each tsvector in its row (compressed), and let the text and vector move out
        # instead: ranking reads the tsvector of every matching row, and fetching it from
        # the TOAST table tripled the time of a full-text search (SciFact, 29 -> 10 ms).
        f"ALTER TABLE {s}.chunks ALTER COLUMN tsv SET STORAGE MAIN",
        f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON {s}.chunks USING hnsw"
        f" (embedding vector_cosine_ops) WITH (m = {int(m)},"
        f" ef_construction = {int(ef_construction)})",
        f"CREATE INDEX IF NOT EXISTS chunks_tsv ON {s}.chunks USING gin (tsv)",
    ]


def _version_2(s: str, dim: int, m: int, ef_construction: int) -> list[str]:
    """BM25's statistics: each chunk's length, and per lexeme the chunks holding it; the
    text-search configuration without stop words (``TS_CONFIG``), and ``tsv`` rebuilt with it.

    The length is the largest position in ``tsv``: the chunk text's words then the title's
    and headings' (``||`` shifts the right operand's positions past the left's), as FTS5
    counts every token of the three columns. PostgreSQL caps positions at
    16,383, so a longer chunk counts as that long. Built from the stored rows; other
    writers wait (``SHARE`` lock) until the statistics are committed.
    """
    config = ts_config(s)
    headings = (
        "coalesce((SELECT string_agg(h.value, ' > ' ORDER BY h.n) FROM"
        " jsonb_array_elements_text(c.heading_path) WITH ORDINALITY AS h(value, n)), '')"
    )
    context = f"d.title || ' ' || {headings}"  # what upsert indexes at weight B
    return [
        f"LOCK TABLE {s}.chunks IN SHARE MODE",
        f"CREATE TEXT SEARCH DICTIONARY {s}.{_STEM_DICTIONARY}"
        " (TEMPLATE = pg_catalog.snowball, Language = english)",
        f"CREATE TEXT SEARCH CONFIGURATION {s}.{TS_CONFIG} (COPY = pg_catalog.english)",
        f"ALTER TEXT SEARCH CONFIGURATION {s}.{TS_CONFIG} ALTER MAPPING FOR asciiword,"
        f" asciihword, hword_asciipart, word, hword, hword_part WITH {s}.{_STEM_DICTIONARY}",
        # The stored vectors again, with every word (what upsert writes from now on).
        f"UPDATE {s}.chunks c SET tsv = setweight(to_tsvector({config},"
        f" {index_text_sql('c.text')}), 'A') || setweight(to_tsvector({config},"
        f" {index_text_sql(context)}), 'B')"
        f" FROM {s}.documents d WHERE d.id = c.doc_id",
        f"""CREATE OR REPLACE FUNCTION {s}.tsv_length(tsv tsvector) RETURNS integer
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
            'SELECT coalesce(max(p), 0)::integer FROM unnest(tsv) AS u, unnest(u.positions) AS p'
        """,
        f"ALTER TABLE {s}.chunks ADD COLUMN IF NOT EXISTS tsv_length integer NOT NULL"
        f" GENERATED ALWAYS AS ({s}.tsv_length(tsv)) STORED",
        f"""CREATE TABLE IF NOT EXISTS {s}.term_stats (
            term text PRIMARY KEY,
            chunks bigint NOT NULL  -- > 0: a write deletes the rows it brings to 0
        )""",
        f"INSERT INTO {s}.term_stats (term, chunks) SELECT t.term, count(*) FROM {s}.chunks c,"
        " unnest(tsvector_to_array(c.tsv)) AS t(term) GROUP BY t.term",
        f"""CREATE TABLE IF NOT EXISTS {s}.corpus_stats (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            chunks bigint NOT NULL CHECK (chunks >= 0),
            tokens bigint NOT NULL CHECK (tokens >= 0)
        )""",
        f"INSERT INTO {s}.corpus_stats (one, chunks, tokens)"
        f" SELECT true, count(*), coalesce(sum(tsv_length), 0) FROM {s}.chunks",
    ]


MIGRATIONS: dict[int, Callable[[str, int, int, int], list[str]]] = {
    1: _version_1,
    2: _version_2,
}
"""version → the statements (given schema, dim, hnsw m, ef_construction) that reach it."""


def quoted(schema: str) -> str:
    """``schema`` as a quoted identifier (``store.schema`` is checked to need no escaping)."""
    return f'"{schema}"'


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and ``repr``)."""
    url = re.sub(r"(://[^:/@]*:)[^@]+@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


def connect(url: str, schema: str) -> Any:
    """An autocommit psycopg connection to ``url`` (transactions are explicit); StoreError
    naming the server (never the password) when it cannot be reached."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(
            f"Cannot connect to the PostgreSQL index at {redact(url)} (schema {schema}): "
            f"{str(exc).strip()}\nCheck store.url (or EXPERTLY_STORE__URL) and that the "
            "server is running."
        ) from exc


def ensure_schema(
    conn: Any,
    schema: str,
    *,
    dim: int,
    embedder: str,
    read_only: bool,
    hnsw_m: int,
    hnsw_ef_construction: int,
) -> int:
    """Apply the missing migrations (unless read-only), then check ``embedder``/``dim``.

    Returns the schema version. Raises ``StoreError`` for a newer version, a schema that
    holds other tables, a missing pgvector, or an index built with another embedder.
    """
    if dim > MAX_HNSW_DIM:
        raise StoreError(
            f"pgvector's HNSW index holds vectors of at most {MAX_HNSW_DIM} dimensions; the "
            f"embedder gives {dim}. Use an embedder of at most {MAX_HNSW_DIM} dimensions, or "
            "store.backend = 'sqlite'."
        )
    q = quoted(schema)
    version = _version(conn, schema)
    if version < SCHEMA_VERSION and not read_only:
        with conn.transaction():
            # One creator at a time (also of the extension, which all schemas share); the
            # version is read again under the lock.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("expertly.schema",))
            _ensure_vector_extension(conn)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
            version = _version(conn, schema, create=True)
            _refuse_foreign(conn, schema, version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target](q, dim, hnsw_m, hnsw_ef_construction):
                    conn.execute(statement)
                conn.execute(f"INSERT INTO {q}.schema_version (version) VALUES (%s)", (target,))
            conn.execute(
                f"INSERT INTO {q}.meta (key, value) VALUES ('embedder', %s), ('dim', %s)"
                " ON CONFLICT (key) DO NOTHING",
                (embedder, str(dim)),
            )
            version = SCHEMA_VERSION
    if version == 0:
        raise StoreError(
            f"The PostgreSQL schema {schema} holds no expertly index yet: run "
            "`expertly ingest <folder>` first (read-only open)."
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The PostgreSQL index (schema {schema}) has schema version {version}, newer than "
            f"this expertly understands ({SCHEMA_VERSION}). Upgrade expertly."
        )
    if version < SCHEMA_VERSION:  # read-only: this handle may not upgrade it
        raise StoreError(
            f"The PostgreSQL index (schema {schema}) has schema version {version}; this "
            f"expertly needs {SCHEMA_VERSION}, which a writer creates when it opens the index "
            "(e.g. `expertly ingest <folder>` or `expertly migrate`). Open it once for writing."
        )
    meta = dict(conn.execute(f"SELECT key, value FROM {q}.meta").fetchall())
    built_with, built_dim = meta.get("embedder", "?"), meta.get("dim", "?")
    if built_with != embedder or built_dim != str(dim):
        raise StoreError(
            f"The PostgreSQL index (schema {schema}) was built with the embedder "
            f"'{built_with}' (dim {built_dim}), but the settings now use '{embedder}' (dim "
            f"{dim}); vectors of different models cannot be mixed. Re-embed everything with "
            "`expertly ingest DIR --rebuild` into a new store.schema, restore the [embedder] "
            "settings, or use a new workspace for the new model."
        )
    return version


def _version(conn: Any, schema: str, *, create: bool = False) -> int:
    """The newest applied migration (0 when none); ``create`` makes the version table."""
    q = quoted(schema)
    if create:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q}.schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    elif conn.execute("SELECT to_regclass(%s)", (f"{q}.schema_version",)).fetchone()[0] is None:
        return 0
    row = conn.execute(f"SELECT max(version) FROM {q}.schema_version").fetchone()
    return int(row[0] or 0)


def _refuse_foreign(conn: Any, schema: str, version: int) -> None:
    """A schema without expertly's version rows but with other tables is someone else's."""
    if version:
        return
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> "
            "'schema_version' ORDER BY tablename LIMIT 5",
            (schema,),
        )
    ]
    if tables:
        raise StoreError(
            f"The PostgreSQL schema {schema} already holds tables {tables} that are not an "
            "expertly index. Set store.schema to another name."
        )


def _ensure_vector_extension(conn: Any) -> None:
    """Install pgvector in the database unless it is there; a clear error when not allowed."""
    import psycopg

    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():  # a savepoint: the failure must not end the outer one
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise StoreError(
            f"The PostgreSQL database has no pgvector extension and it cannot be installed "
            f"({str(exc).strip()}). Install pgvector on the server and run "
            "`CREATE EXTENSION vector;` in the database as its owner or a superuser."
        ) from exc


def drop_index(url: str, schema: str) -> bool:
    """Drop the index's tables in ``schema`` (``expertly ingest --rebuild``), in one
    transaction; the schema itself and anything else in it are kept. False if there was
    no index."""
    q = quoted(schema)
    with connect(url, schema) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("expertly.schema",))
        if _version(conn, schema) == 0:
            return False
        conn.execute(
            f"DROP TABLE IF EXISTS {q}.chunks, {q}.documents, {q}.meta, {q}.term_stats,"
            f" {q}.corpus_stats, {q}.schema_version"
        )
        conn.execute(f"DROP FUNCTION IF EXISTS {q}.tsv_length(tsvector)")
        conn.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {q}.{TS_CONFIG}")
        conn.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS {q}.{_STEM_DICTIONARY}")
        return True
