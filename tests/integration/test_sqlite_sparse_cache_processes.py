"""The in-memory BM25 copy after a writer in another process is killed with SIGKILL
mid-write: the synced copy still ranks and scores as FTS5. (Readers searching through the
copy beside a live writer: ``test_sqlite_vector_cache_processes``, run with both copies.)
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
    _run,
    _script,
)

pytestmark = pytest.mark.integration


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
