"""Chunk rowids as numpy arrays, for both in-memory copies of a SQLite index.

The vector copy (``sqlite.vectors``) and the postings copy (``sqlite.sparse``) each keep
their chunks sorted by rowid and sync alike: both read the live rowids to find the chunks
removed since their last sync, and both turn the rowids a filter allows into positions in
their own arrays. One implementation serves both, so they drop and filter the same rows.
"""

from __future__ import annotations

import apsw
import numpy as np


def live_rowids(conn: apsw.Connection) -> np.ndarray:
    """Every chunk rowid (any order), read as one text parsed in C: 3x faster than a
    Python row loop at 100k chunks."""
    joined = conn.execute("SELECT group_concat(rowid, ',') FROM chunks").get
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(str(joined), dtype=np.int64, sep=",")


def positions_of(rowids: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Positions in ``rowids`` (sorted) of the chunk rowids ``allowed``, ascending
    (unknown ones dropped)."""
    if not rowids.size or not allowed.size:
        return np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(rowids, allowed)
    pos = pos[pos < rowids.size]
    return np.unique(pos[np.isin(rowids[pos], allowed)])
