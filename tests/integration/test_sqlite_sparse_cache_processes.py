"""The in-memory BM25 copy across processes: readers that search through it beside a
writer in another process, and a writer killed with SIGKILL mid-write.

The scripts are those of ``test_sqlite_store_processes``; here the readers open the store
with both in-memory copies on, so every sparse list they check comes from the postings
copy, synced from the file before each search (another process's commits show only
through ``PRAGMA data_version``).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

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

CACHED_READER = "from expertly.config import StoreSettings\n" + READER.replace(
    'read_only=sys.argv[2] == "ro")',
    'read_only=sys.argv[2] == "ro", settings=StoreSettings(vector_cache="on", sparse_cache="on"))',
)


def test_readers_of_the_postings_copy_never_see_a_half_written_document(tmp_path: Path) -> None:
    assert 'sparse_cache="on"' in CACHED_READER
    index, stop = tmp_path / "index.sqlite", tmp_path / "stop"
    SQLiteStore(index, dim=DIM, embedder=EMBEDDER).close()
    writer = _run(_script(tmp_path, "writer", WRITER), index, 3.0, 3)
    reader_script = _script(tmp_path, "reader", CACHED_READER)
    readers = [_run(reader_script, index, mode, stop) for mode in ("ro", "rw")]
    try:
        wrote = _finish(writer)
    finally:
        stop.touch()
    results = [_finish(r) for r in readers]
    assert wrote["writes"] > 50, wrote
    for result in results:
        assert result["searches"] > 10 and result["docs_seen"] > 0, result


def test_after_sigkill_mid_write_the_copy_ranks_as_fts5(tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite"
    script = _script(tmp_path, "killed", KILLED_WRITER)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    on = StoreSettings(sparse_cache="on", vector_cache="off")
    off = StoreSettings(sparse_cache="off", vector_cache="off")
    reader = SQLiteStore(index, dim=DIM, embedder=EMBEDDER, settings=on)
    exact = SQLiteStore(index, dim=DIM, embedder=EMBEDDER, settings=off)
    probes = ["common", "chunk 3 of 7", "doc d4 gen", "of 12"]
    try:
        for round_ in range(3):
            proc = _run(script, index, seed + round_, round_ * 1_000_000)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
            time.sleep(rng.uniform(0.05, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL, f"seed {seed}"
            for text in probes:
                got = reader.search(Query(text=text), 25)
                want = exact.search(Query(text=text), 25)
                assert [h.chunk.id for h in got] == [h.chunk.id for h in want], f"seed {seed}"
                assert [h.score for h in got] == pytest.approx([h.score for h in want])
            assert len(reader._sparse) == exact.stats()["chunks"]
    finally:
        reader.close()
        exact.close()
