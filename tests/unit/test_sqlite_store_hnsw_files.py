"""The HNSW graph on disk (``sqlite.hnsw_file``): saved beside the SQLite file, loaded by the
next handle, and rebuilt from the file whenever it cannot be trusted.

A process killed with ``kill -9`` while saving (before the graph is renamed into place,
and between the graph's rename and the header's) must leave an index that the next open
loads or rebuilds, with searches as good as before. Torn, foreign, outdated and
differently configured files are rebuilt; a folder that cannot be written is logged.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from expertly.store.sqlite import SQLiteStore, hnsw_file
from expertly.types import Query
from tests.contracts.store_contract import ids, make_doc
from tests.unit.test_sqlite_store_hnsw import DIM, EXACT, clustered, fill, graph, hnsw

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """3,000 clustered chunks and their graph, saved beside the file."""
    path = tmp_path / "index.sqlite"
    with SQLiteStore(path, dim=DIM, embedder="t", settings=hnsw()) as store:
        fill(store, 30, 100)
        store.search(Query(vector=clustered(1, seed=1)[0]), 5)
        assert graph(store).builds == 1 and graph(store).saves == 1
    return path


def recall(path: Path, seed: int = 20) -> tuple[float, int, bool]:
    """Recall@10 against exact of a fresh handle, its builds, whether it loaded the file."""
    queries = clustered(40, seed=seed)
    with (
        SQLiteStore(path, dim=DIM, embedder="t", settings=EXACT) as exact,
        SQLiteStore(path, dim=DIM, embedder="t", settings=hnsw()) as approx,
    ):
        shared = 0
        for q in queries:
            got, want = approx.search(Query(vector=q), 10), exact.search(Query(vector=q), 10)
            assert len(got) == 10
            shared += len(set(ids(got)) & set(ids(want)))
        index = graph(approx)
        return shared / (10 * len(queries)), index.builds, index.loaded_from_disk


def test_the_next_handle_loads_the_saved_graph(saved: Path) -> None:
    graph_file, meta_file = hnsw_file.paths(saved)
    assert graph_file.stat().st_size > 3000 * DIM * 4 and meta_file.is_file()
    header, rowids = hnsw_file.read(saved)
    assert header.count == rowids.size == 3000 and header.dim == DIM
    assert header.library.startswith("hnswlib ") and header.last_rowid == rowids[-1]
    value, builds, loaded = recall(saved)
    assert value >= 0.95 and builds == 0 and loaded


def test_an_outdated_graph_catches_up_and_a_mostly_outdated_one_is_rebuilt(saved: Path) -> None:
    with SQLiteStore(saved, dim=DIM, embedder="t", settings=EXACT) as writer:
        writer.delete("d001")
        fill(writer, 2, 100, seed=4, prefix="late")
    with SQLiteStore(saved, dim=DIM, embedder="t", settings=hnsw()) as store:
        target = clustered(1, seed=21)[0]
        doc, chunks = make_doc("target", ["target"])
        store.upsert(doc, chunks, target[None, :])
        assert ids(store.search(Query(vector=target), 1)) == ["target#0"]
        hits = store.search(Query(vector=target), 3000)
        assert "d001" not in {h.chunk.doc_id for h in hits}
        index = graph(store)
        assert index.loaded_from_disk and index.builds == 0 and index.rowids.size == 3101
    value, builds, loaded = recall(saved)  # the catch-up was saved on close
    assert value >= 0.95 and builds == 0 and hnsw_file.read(saved)[0].count == 3101
    with SQLiteStore(saved, dim=DIM, embedder="t", settings=EXACT) as writer:
        for d in range(2, 30):
            writer.delete(f"d{d:03d}")
    value, builds, loaded = recall(saved)
    assert value >= 0.95 and builds == 1 and not loaded


def test_a_graph_of_another_file_is_rebuilt(saved: Path, tmp_path: Path) -> None:
    # Same rowids, other vectors: a fresh file written in the same way.
    other = tmp_path / "other" / "index.sqlite"
    with SQLiteStore(other, dim=DIM, embedder="t", settings=EXACT) as store:
        fill(store, 30, 100, seed=9)
    for source in hnsw_file.paths(saved):
        Path(f"{other}{source.name.removeprefix(saved.name)}").write_bytes(source.read_bytes())
    value, builds, loaded = recall(other)
    assert value >= 0.95 and builds == 1 and not loaded


@pytest.mark.parametrize(
    "damage",
    ["truncated graph", "garbage graph", "garbage header", "torn rowids", "no header"],
)
def test_an_unreadable_graph_is_rebuilt(
    saved: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    graph_file, meta_file = hnsw_file.paths(saved)
    if damage == "truncated graph":
        graph_file.write_bytes(graph_file.read_bytes()[: graph_file.stat().st_size // 2])
    elif damage == "garbage graph":
        graph_file.write_bytes(os.urandom(graph_file.stat().st_size))
    elif damage == "garbage header":
        meta_file.write_bytes(b"\x00\xffnot json\n")
    elif damage == "torn rowids":
        meta_file.write_bytes(meta_file.read_bytes()[:-8])
    else:
        meta_file.unlink()
    with caplog.at_level(logging.INFO, logger="expertly.store.sqlite.hnsw"):
        value, builds, loaded = recall(saved)
    assert value >= 0.95 and builds == 1 and not loaded
    (record,) = [r for r in caplog.records if "building the HNSW index" in r.message]
    assert record.levelno == (logging.INFO if damage == "no header" else logging.WARNING)
    assert hnsw_file.read(saved)[0].count == 3000  # the rebuilt graph was saved


def test_other_settings_rebuild_the_graph(saved: Path) -> None:
    with SQLiteStore(saved, dim=DIM, embedder="t", settings=hnsw(hnsw_m=8)) as store:
        assert len(store.search(Query(vector=clustered(1, seed=2)[0]), 10)) == 10
        assert graph(store).builds == 1
    assert hnsw_file.read(saved)[0].m == 8


def test_a_folder_that_cannot_be_written_is_logged_and_search_goes_on(
    saved: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hnsw_file.paths(saved)[1].unlink()

    def refuse(*_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(hnsw_file, "write", refuse)
    with (
        caplog.at_level(logging.WARNING, logger="expertly.store.sqlite.hnsw"),
        SQLiteStore(saved, dim=DIM, embedder="t", settings=hnsw()) as store,
    ):
        assert len(store.search(Query(vector=clustered(1, seed=3)[0]), 10)) == 10
        assert graph(store).saves == 0
    assert "cannot save the HNSW index" in caplog.text and "writable" in caplog.text


_SAVER = """
import os, sys, time
from pathlib import Path
from expertly.store.sqlite import SQLiteStore, hnsw_file
from expertly.types import Query
from tests.contracts.store_contract import make_doc
from tests.unit.test_sqlite_store_hnsw import DIM, clustered, hnsw

path, stage = Path(sys.argv[1]), sys.argv[2]
fsync, replace = hnsw_file._fsync, hnsw_file.os.replace

def pause(where):
    print(where, flush=True)
    time.sleep(60)

def slow_fsync(p):
    fsync(p)
    if stage == "before rename" and ".tmp-" in str(p):
        pause(stage)

def slow_replace(src, dst):
    replace(src, dst)
    if stage == "between renames" and str(dst).endswith(".hnsw"):
        pause(stage)

hnsw_file._fsync = slow_fsync
hnsw_file.os.replace = slow_replace
store = SQLiteStore(path, dim=DIM, embedder="t", settings=hnsw())
store.search(Query(vector=clustered(1, seed=1)[0]), 5)
doc, chunks = make_doc("late", ["late 0", "late 1"])
store.upsert(doc, chunks, clustered(2, seed=30))
store.search(Query(vector=clustered(1, seed=1)[0]), 5)
store.close()
"""


@pytest.mark.parametrize("stage", ["before rename", "between renames"])
def test_kill_9_while_saving_leaves_an_index_that_loads_or_rebuilds(
    saved: Path, stage: str
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SAVER), str(saved), stage],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()  # the child is now inside the save
        assert line == stage, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert list(saved.parent.glob("*.tmp-*")) or stage == "between renames"
    value, builds, loaded = recall(saved)
    assert value >= 0.95
    if stage == "before rename":  # the old files are intact: loaded, then caught up
        assert loaded and builds == 0
    else:  # a new graph under the old header: its checksum fails, so it is rebuilt
        assert builds == 1 and not loaded
    assert not list(saved.parent.glob("*.tmp-*"))  # the killed writer's leftovers are gone
    header, rowids = hnsw_file.read(saved)
    assert header.count == rowids.size == 3002
