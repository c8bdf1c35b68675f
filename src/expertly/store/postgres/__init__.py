"""The server store: PostgreSQL with pgvector (HNSW vectors) and full text (tsvector).

``store`` holds ``PostgresStore`` (transactions, search, the protocol methods); ``schema``
creates and migrates the tables and checks the embedder; ``query`` builds the SQL of a
search (filters, HNSW KNN, ranked full text). Needs the ``[postgres]`` extra (psycopg 3,
pgvector).
"""

from expertly.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
