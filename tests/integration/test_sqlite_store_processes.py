"""SQLiteStore across processes: readers beside a writer, and a writer killed with SIGKILL.

Every document these tests write says how many chunks it has (``n`` in its metadata and in
each chunk's text, plus a generation number), so a reader can tell a half-written or
mixed document from a whole one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
import sqlite_vec

from expertly.store.sqlite import SQLiteStore
from expertly.types import Query

pytestmark = pytest.mark.integration

DIM = 8
EMBEDDER = "proc-test"

COMMON = f"""
import json, random, sys, time
import numpy as np
from expertly.store.sqlite import SQLiteStore
from expertly.types import Query
from expertly.types import Chunk, Document, Query

DIM, EMBEDDER = {DIM}, {EMBEDDER!r}


def write(store, rng, doc_id, gen):
    n = rng.randint(1, 12)
    texts = [f"common chunk {{i + 1}} of {{n}} gen {{gen}} doc {{doc_id}}" for i in range(n)]
    chunks = [
        Chunk(id=f"{{doc_id}}#{{i}}", doc_id=doc_id, index=i, text=t, start=0, end=len(t),
              metadata={{"n": n, "gen": gen}})
        for i, t in enumerate(texts)
    ]
    doc = Document(id=doc_id, text="\\n".join(texts), title=f"Doc {{doc_id}}",
                   content_hash=str(gen), metadata={{"n": n, "gen": gen}})
    vectors = np.asarray([[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(n)])
    store.upsert(doc, chunks, vectors)


def check_hits(hits):
    # Every document among the hits must be whole: n chunks of one generation.
    by_doc = {{}}
    for h in hits:
        by_doc.setdefault(h.chunk.doc_id, []).append(h.chunk)
    for doc_id, chunks in by_doc.items():
        gens = {{c.metadata["gen"] for c in chunks}}
        n = chunks[0].metadata["n"]
        assert len(gens) == 1, f"{{doc_id}} mixes generations {{gens}}"
        assert sorted(c.index for c in chunks) == list(range(n)), (
            f"{{doc_id}}: {{len(chunks)}} chunks of {{n}}"
        )
    return len(by_doc)
"""

WRITER = """
store = SQLiteStore(sys.argv[1], dim=DIM, embedder=EMBEDDER)
rng = random.Random(int(sys.argv[3]))
deadline = time.monotonic() + float(sys.argv[2])
gen = 0
while time.monotonic() < deadline:
    gen += 1
    doc_id = f"d{rng.randrange(10)}"
    if rng.random() < 0.2:
        store.delete(doc_id)
    else:
        write(store, rng, doc_id, gen)
    if gen == 1:
        print("ready", flush=True)
store.close()
print(json.dumps({"writes": gen}), flush=True)
"""

READER = """
from pathlib import Path
store = SQLiteStore(sys.argv[1], dim=DIM, embedder=EMBEDDER, read_only=sys.argv[2] == "ro")
stop = Path(sys.argv[3])
rng = random.Random(7)
searches = seen = 0
while True:
    last = stop.exists()
    vector = np.asarray([rng.gauss(0, 1) for _ in range(DIM)])
    # k exceeds the largest possible index (10 docs x 12 chunks): every chunk comes back
    hits = store.search(Query(text="common", vector=vector), 500)
    seen += check_hits([h for h in hits if "dense" in h.ranks])
    seen += check_hits([h for h in hits if "sparse" in h.ranks])
    assert {h.chunk.id for h in hits if "dense" in h.ranks} == {
        h.chunk.id for h in hits if "sparse" in h.ranks}, "dense and sparse disagree"
    for info in store.documents():
        assert info.chunks == info.metadata["n"], f"{info.id}: {info.chunks} chunks"
    searches += 1
    if last:
        break
print(json.dumps({"searches": searches, "docs_seen": seen}), flush=True)
"""

KILLED_WRITER = """
store = SQLiteStore(sys.argv[1], dim=DIM, embedder=EMBEDDER)
rng = random.Random(int(sys.argv[2]))
first = gen = int(sys.argv[3])
while True:
    gen += 1
    doc_id = f"d{rng.randrange(30)}"
    if rng.random() < 0.15:
        store.delete(doc_id)
    else:
        write(store, rng, doc_id, gen)
    if gen == first + 1:
        print("ready", flush=True)
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(COMMON + body, encoding="utf-8")
    return path


def _run(script: Path, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, int]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_readers_never_see_a_half_written_document(tmp_path: Path) -> None:
    index, stop = tmp_path / "index.sqlite", tmp_path / "stop"
    SQLiteStore(index, dim=DIM, embedder=EMBEDDER).close()  # schema exists before readers
    writer = _run(_script(tmp_path, "writer", WRITER), index, 4.0, 1)
    reader_script = _script(tmp_path, "reader", READER)
    readers = [_run(reader_script, index, mode, stop) for mode in ("ro", "rw")]
    try:
        wrote = _finish(writer)
    finally:
        stop.touch()
    results = [_finish(r) for r in readers]
    assert wrote["writes"] > 50, wrote
    for result in results:
        assert result["searches"] > 10 and result["docs_seen"] > 0, result


def _consistency(index: Path) -> dict[str, int]:
    """Check the file after a crash; returns counts. Raises AssertionError on any damage."""
    conn = apsw.Connection(str(index))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        rowids = [
            {int(r[0]) for r in conn.execute(f"SELECT rowid FROM {table}")}
            for table in ("chunks", "chunks_fts", "chunks_vec")
        ]
        assert rowids[0] == rowids[1] == rowids[2], "chunks, FTS and vectors disagree"
        orphans = conn.execute(
            "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).get
        assert orphans == 0
        return {"chunks": len(rowids[0])}
    finally:
        conn.close()


def test_sigkill_mid_write_leaves_whole_documents(tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite"
    script = _script(tmp_path, "killed", KILLED_WRITER)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for round_ in range(3):
        proc = _run(script, index, seed + round_, round_ * 1_000_000)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr
        time.sleep(rng.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"seed {seed}"
        counts = _consistency(index)
        with SQLiteStore(index, dim=DIM, embedder=EMBEDDER) as store:
            infos = list(store.documents())
            assert infos, f"seed {seed}: nothing survived"
            assert sum(i.chunks for i in infos) == counts["chunks"]
            for info in infos:
                chunks = store.chunks(info.id)
                assert len(chunks) == info.metadata["n"] == info.chunks, f"seed {seed}"
                assert {c.metadata["gen"] for c in chunks} == {info.metadata["gen"]}
                assert [c.index for c in chunks] == list(range(len(chunks)))
            # and it is still a working index
            hits = store.search(Query(text="common"), 3)
            assert len(hits) == 3 or len(hits) == counts["chunks"]
