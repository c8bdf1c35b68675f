"""The server store: PostgreSQL with pgvector (HNSW vectors) and full text (tsvector).

``store`` holds ``PostgresStore`` (search, the protocol methods); ``connection`` its one
connection and transactions; ``writes`` the SQL that replaces or removes a document;
``schema`` creates and migrates the tables and checks the embedder; ``query`` builds the
SQL of a search (filters, HNSW KNN, ranked full text); ``pruning`` picks the words whose
chunks BM25 must score; ``stats`` keeps BM25's statistics. Needs the ``[postgres]`` extra
(psycopg 3, pgvector).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expertly.store.postgres.store import PostgresStore

if TYPE_CHECKING:
    from expertly.config import StoreSettings

__all__ = ["PostgresStore", "drop_index"]


def drop_index(settings: StoreSettings) -> bool:
    """Drop the index that ``settings`` (``url``, ``schema``) name: its tables, not the
    schema; False if there was none. Needs no embedder (``--rebuild`` after changing it)."""
    from expertly.store.postgres import schema
    from expertly.store.registry import require

    require("psycopg", extra="postgres", purpose="store.backend = 'postgres'")
    return schema.drop_index(settings.url.strip(), settings.schema)
