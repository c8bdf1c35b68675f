"""The in-memory vector copy across processes: readers that search through it beside a
writer in another process, and a writer killed with SIGKILL mid-write.

The scripts are those of ``test_sqlite_store_processes``; here the readers open the
store with ``vector_cache = "on"`` (and, in a second run, ``sparse_cache = "on"`` as well),
so every dense (and sparse) list they check comes from the in-memory copies.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import apsw
import numpy as np
import pytest

from expertly.config import StoreSettings
from expertly.store.sqlite import SQLiteStore
from expertly.types import Query
from tests.integration.test_sqlite_store_processes import (
    DIM,
    EMBEDDER,
    KILLED_WRITER,
    READER,
    WRITER,
    _finish,
    _run,
    _script,
)

pytestmark = pytest.mark.integration

COPIES = {
    "vectors": 'StoreSettings(vector_cache="on")',
    "vectors and postings": 'StoreSettings(vector_cache="on", sparse_cache="on")',
}


def cached_reader(settings: str) -> str:
    """The reader script of test_sqlite_store_processes opening the store with ``settings``."""
    script = "from expertly.config import StoreSettings\n" + READER.replace(
        'read_only=sys.argv[2] == "ro")', f'read_only=sys.argv[2] == "ro", settings={settings})'
    )
    assert settings in script
    return script


@pytest.mark.parametrize("copies", list(COPIES))
def test_cached_readers_never_see_a_half_written_document(tmp_path: Path, copies: str) -> None:
    index, stop = tmp_path / "index.sqlite", tmp_path / "stop"
    SQLiteStore(index, dim=DIM, embedder=EMBEDDER).close()
    writer = _run(_script(tmp_path, "writer", WRITER), index, 4.0, 2)
    reader_script = _script(tmp_path, "reader", cached_reader(COPIES[copies]))
    readers = [_run(reader_script, index, mode, stop) for mode in ("ro", "rw")]
    try:
        wrote = _finish(writer)
    finally:
        stop.touch()
    results = [_finish(r) for r in readers]
    assert wrote["writes"] > 50, wrote
    for result in results:
        assert result["searches"] > 10 and result["docs_seen"] > 0, result


def test_sigkill_mid_write_leaves_the_vector_table_whole(tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite"
    script = _script(tmp_path, "killed", KILLED_WRITER)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    on, off = StoreSettings(vector_cache="on"), StoreSettings(vector_cache="off")
    reader = SQLiteStore(index, dim=DIM, embedder=EMBEDDER, settings=on)
    exact = SQLiteStore(index, dim=DIM, embedder=EMBEDDER, settings=off)
    probes = np.random.default_rng(seed).standard_normal((5, DIM)).astype(np.float32)
    try:
        for round_ in range(3):
            proc = _run(script, index, seed + round_, round_ * 1_000_000)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
            time.sleep(rng.uniform(0.05, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL, f"seed {seed}"
            conn = apsw.Connection(str(index), flags=apsw.SQLITE_OPEN_READONLY)
            try:
                chunks, vectors = (
                    {int(r[0]) for r in conn.execute(f"SELECT rowid FROM {table}")}
                    for table in ("chunks", "chunk_vectors")
                )
            finally:
                conn.close()
            assert chunks == vectors and chunks, f"seed {seed}: chunk_vectors disagrees"
            for probe in probes:  # the copy, synced after the crash, ranks as sqlite-vec does
                got = [h.chunk.id for h in reader.search(Query(vector=probe), 20)]
                assert got == [h.chunk.id for h in exact.search(Query(vector=probe), 20)]
            assert len(reader._vectors) == len(chunks)
    finally:
        reader.close()
        exact.close()
