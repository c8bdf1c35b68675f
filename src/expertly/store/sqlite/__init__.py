"""The embedded default store: one SQLite file, sqlite-vec for vectors, FTS5 for BM25.

``store`` holds ``SQLiteStore`` (transactions, the protocol methods); the other modules are
its parts: ``schema`` (opening and versioning the file), ``files`` (the files an index is
made of), ``txn`` (read and write transactions), ``rows`` (row <-> dataclass conversion and
input checks), ``writes`` (the SQL of a write), ``search`` (a batch of searches in one read
transaction), ``query`` (SQL for filters, KNN and BM25), ``copies`` with ``vectors``,
``sparse``, ``bm25`` and ``rowids`` (the optional in-memory copies that a long-lived handle
searches instead of SQL) and ``hnsw`` with ``hnsw_file`` (an approximate graph over the
vector copy, saved beside the file).
"""

from expertly.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
