"""The files one SQLite index is made of, named in one place.

Beside the database file ``<name>`` SQLite keeps its journals (``<name>-wal``, ``-shm``,
``-journal``), and ``StoreSettings.vector_index = hnsw`` saves its graph there
(``sqlite.hnsw_file``). ``SQLiteStore.stats`` measures the index from these files and
``Workspace.reset_index`` deletes them all, so both follow the same list.
"""

from __future__ import annotations

from pathlib import Path

from expertly.store.sqlite import hnsw_file

JOURNALS = ("-wal", "-shm", "-journal")
"""Suffixes of the files SQLite writes beside the database."""


def size_on_disk(path: Path) -> int:
    """Bytes of the database ``path`` and its write-ahead log (those that exist)."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.is_file())


def remove_index(path: Path) -> None:
    """Delete the index at ``path``: the database, its journals and the saved HNSW graph
    (missing ones are fine). Its handles must be closed first."""
    for file in (path, *(Path(f"{path}{suffix}") for suffix in JOURNALS), *hnsw_file.paths(path)):
        file.unlink(missing_ok=True)
