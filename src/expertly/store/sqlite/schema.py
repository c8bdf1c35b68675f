"""Schema and connection set-up of the SQLite store (one file: tables, FTS5, sqlite-vec).

Tables::

    meta        key → value: schema_version, embedder, dim (checked on every open)
    documents   one row per Document (text included); tenant copied out of metadata
    doc_groups  (doc_id, grp) for metadata["groups"]: ACL groups are per document
    chunks      rowid INTEGER PRIMARY KEY AUTOINCREMENT: the key shared with the two
                virtual tables below; AUTOINCREMENT so a deleted rowid is never reused
    chunks_fts  FTS5 over chunk text + document title + heading path (contentless: the
                text lives in ``chunks``; contentless_delete lets a row be removed by rowid)
    chunks_vec  sqlite-vec vec0, float[dim], cosine distance, rowid = chunks.rowid
    chunk_vectors  rowid = chunks.rowid → the same vector as a float32 blob; a plain table
                so that a handle can read all vectors, or those added since it last looked
                (a rowid range), fast: it keeps them in memory for exact search
                (``sqlite.vectors``). sqlite-vec's own table reads ~40x slower row by row.

``apsw`` is used instead of the standard library's ``sqlite3`` because the latter cannot
load extensions on many Python builds, and apsw bundles a recent SQLite with FTS5.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import sqlite_vec

from expertly.databases import switch_to_wal
from expertly.errors import StoreError

SCHEMA_VERSION = 2
"""2 added ``chunk_vectors``; a version-1 index is upgraded in place when opened for writing."""
BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another process's write lock before failing."""

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
BM25_WEIGHTS = (1.0, 0.5, 0.5)
"""bm25() column weights for (chunk text, document title, heading path): a match in the
chunk's own text counts twice as much as one in the title or headings it inherits."""

CHUNK_VECTORS_SQL = (
    "CREATE TABLE IF NOT EXISTS chunk_vectors (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
)

RESERVED_META = frozenset({"schema_version", "embedder", "dim"})


def schema_sql(dim: int) -> list[str]:
    """The statements that create the schema; each is idempotent (IF NOT EXISTS)."""
    return [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE IF NOT EXISTS documents (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            format TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            chars INTEGER NOT NULL,
            metadata TEXT NOT NULL,          -- JSON object, keys sorted
            tenant TEXT,                     -- metadata["tenant"]; NULL = public
            updated_at REAL NOT NULL         -- Unix time of the last upsert
        )""",
        "CREATE INDEX IF NOT EXISTS documents_tenant ON documents(tenant)",
        "CREATE TABLE IF NOT EXISTS doc_groups (doc_id TEXT NOT NULL, grp TEXT NOT NULL,"
        " PRIMARY KEY (doc_id, grp)) WITHOUT ROWID",
        """CREATE TABLE IF NOT EXISTS chunks (
            rowid INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            doc_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            heading_path TEXT NOT NULL,      -- JSON list of str
            page INTEGER,
            token_count INTEGER NOT NULL,
            metadata TEXT NOT NULL,          -- JSON object
            UNIQUE (doc_id, idx)
        )""",
        "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, title, headings,"
        f" content='', contentless_delete=1, tokenize='{FTS_TOKENIZER}')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0("
        f"embedding float[{int(dim)}] distance_metric=cosine)",
        CHUNK_VECTORS_SQL,
    ]


def connect(path: Path, *, read_only: bool) -> apsw.Connection:
    """Open ``path`` with sqlite-vec loaded, WAL journaling and a busy timeout.

    Raises ``StoreError`` when the file cannot be opened or is not a SQLite database.
    """
    if read_only and not path.is_file():
        raise StoreError(
            f"No index at {path}: run `expertly ingest <folder>` first (read-only open)."
        )
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the index directory {path.parent}: {exc}") from exc
    flags = (
        apsw.SQLITE_OPEN_READONLY
        if read_only
        else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    )
    try:
        conn = apsw.Connection(str(path), flags=flags)
    except apsw.Error as exc:
        raise StoreError(f"Cannot open the index {path}: {exc}") from exc
    try:
        conn.setbusytimeout(BUSY_TIMEOUT_MS)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        # The first statement that reads the file is where a non-database fails.
        mode = str(conn.execute("PRAGMA journal_mode").get).lower()
        if not read_only and mode != "wal":
            # WAL: readers in other processes never block the writer and see only
            # committed transactions. The setting is stored in the file.
            switch_to_wal(conn, BUSY_TIMEOUT_MS / 1000)
        # NORMAL (not FULL) in WAL mode: a commit is durable against the process being
        # killed (kill -9, a crash) because the WAL is in the OS page cache; only a power
        # loss or OS crash can lose the last transactions, and never corrupts the file.
        # The index is derived data that an incremental `expertly ingest` re-creates
        # (content hashes), so we do not pay an fsync per document for that case.
        conn.execute("PRAGMA synchronous=NORMAL")
    except apsw.NotADBError as exc:
        conn.close()
        raise StoreError(
            f"{path} is not a SQLite database, so it cannot be an expertly index. "
            "Move or delete it, or point store.path at another file."
        ) from exc
    except apsw.ExtensionLoadingError as exc:
        conn.close()
        raise StoreError(
            f"Cannot load the sqlite-vec extension ({exc}); reinstall it: pip install sqlite-vec"
        ) from exc
    except apsw.Error as exc:
        conn.close()
        raise StoreError(f"Cannot open the index {path}: {exc}") from exc
    return conn


def ensure_schema(
    conn: apsw.Connection, path: Path, *, dim: int, embedder: str, read_only: bool
) -> dict[str, str]:
    """Create the schema if the file is new, then check it matches ``embedder``/``dim``.

    Returns the meta table. Creation runs in one ``BEGIN IMMEDIATE`` transaction, so two
    processes opening a new file at once cannot interleave.
    """
    try:
        tables = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")
        }
        if "meta" not in tables:
            if tables:
                raise StoreError(
                    f"{path} is a SQLite database but not an expertly index (it has tables "
                    f"{sorted(tables)[:5]} and no 'meta'). Point store.path at another file."
                )
            if read_only:
                raise StoreError(
                    f"The index {path} is empty: run `expertly ingest <folder>` first."
                )
            _create(conn, dim=dim, embedder=embedder)
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        if meta.get("schema_version") == "1" and not read_only:
            _upgrade_from_1(conn)
            meta["schema_version"] = str(SCHEMA_VERSION)
    except apsw.Error as exc:
        raise StoreError(f"Cannot read the schema of the index {path}: {exc}") from exc
    _check_meta(meta, path, dim=dim, embedder=embedder)
    return meta


def _create(conn: apsw.Connection, *, dim: int, embedder: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in schema_sql(dim):
            conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
            [("schema_version", str(SCHEMA_VERSION)), ("embedder", embedder), ("dim", str(dim))],
        )
        conn.execute("COMMIT")
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise


def _upgrade_from_1(conn: apsw.Connection) -> None:
    """Version 1 → 2: copy every vector into ``chunk_vectors``, in one transaction.

    Another process may have upgraded the file meanwhile: the version is checked again
    under the write lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").get
        if str(version) == "1":
            conn.execute(CHUNK_VECTORS_SQL)
            conn.execute(
                "INSERT OR REPLACE INTO chunk_vectors(rowid, embedding)"
                " SELECT rowid, embedding FROM chunks_vec"
            )
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
        conn.execute("COMMIT")
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise


def _check_meta(meta: dict[str, str], path: Path, *, dim: int, embedder: str) -> None:
    version = meta.get("schema_version", "")
    if not version.isdigit():
        raise StoreError(f"The index {path} has no valid schema_version; it is damaged.")
    if int(version) > SCHEMA_VERSION:
        raise StoreError(
            f"The index {path} has schema version {version}, newer than this expertly "
            f"understands ({SCHEMA_VERSION}). Upgrade expertly."
        )
    if int(version) < 1:
        raise StoreError(
            f"The index {path} has the old schema version {version} (now {SCHEMA_VERSION}). "
            "Rebuild it with `expertly ingest DIR --rebuild`."
        )
    built_with, built_dim = meta.get("embedder", "?"), meta.get("dim", "?")
    if built_with != embedder or built_dim != str(dim):
        raise StoreError(
            f"The index {path} was built with the embedder '{built_with}' (dim {built_dim}), "
            f"but the settings now use '{embedder}' (dim {dim}); vectors of different models "
            "cannot be mixed. Re-embed everything with `expertly ingest DIR --rebuild`, restore "
            "the [embedder] settings, or use a new workspace for the new model."
        )
