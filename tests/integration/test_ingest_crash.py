"""kill -9 in the middle of `expertly ingest`: the index stays consistent, a rerun finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw

TOPICS = [
    "invoice",
    "warranty",
    "sensor",
    "calibration",
    "travel",
    "password",
    "shipping",
    "refund",
]


def _make_corpus(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        sections = "\n\n".join(
            f"## Section {s}\n\nDocument {i} explains {topic} rule {s}: item {i * 10 + s} "
            f"costs {i + s} euros and ships in {s + 2} days. " * 3
            for s in range(4)
        )
        (folder / f"doc{i:03d}.md").write_text(f"# {topic.title()} note {i}\n\n{sections}\n")


def _cli(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "expertly.cli.main", "-w", str(ws), *args]


def _count_docs(index: Path) -> int:
    if not index.exists():
        return 0
    try:
        conn = apsw.Connection(str(index), flags=apsw.SQLITE_OPEN_READONLY)
        conn.setbusytimeout(5000)
        count = conn.execute("SELECT count(*) FROM documents").fetchall()[0][0]
        assert isinstance(count, int)
        return count
    except apsw.Error:
        return 0


def test_sigkill_mid_ingest_then_rerun_completes(tmp_path: Path) -> None:
    corpus, ws = tmp_path / "corpus", tmp_path / "ws"
    n = 120
    _make_corpus(corpus, n)
    # small batches: documents are written every 64 chunks, so the kill lands mid-run
    env = {
        **os.environ,
        "EXPERTLY_EMBEDDER__BATCH_SIZE": "16",
        "EXPERTLY_INGEST__EMBED_BATCH": "64",
    }
    proc = subprocess.Popen(
        _cli(ws, "ingest", str(corpus), "--json"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    index = ws / "index.sqlite"
    deadline = time.monotonic() + 120
    while _count_docs(index) == 0:
        assert proc.poll() is None, (
            f"ingest ended before it could be killed: {proc.stderr.read()!r}"
        )
        assert time.monotonic() < deadline, "ingest wrote nothing in 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = _count_docs(index)
    assert 0 < partial < n, f"the kill should land mid-run (had {partial} of {n})"

    conn = apsw.Connection(str(index))
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()

    from expertly.ingest.loaders import load_file
    from expertly.workspace import Workspace

    with Workspace(ws) as w:
        # every document present has all of its chunks: re-chunking the file gives the same count
        for info in w.store.documents():
            doc_chunks = w.store.chunks(info.id)
            expected = w.chunker.chunk(load_file(corpus / info.id, doc_id=info.id))
            assert [c.text for c in doc_chunks] == [c.text for c in expected], info.id

    rerun = subprocess.run(
        _cli(ws, "ingest", str(corpus), "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    summary = json.loads(rerun.stdout)
    assert summary["failed"] == 0
    assert summary["unchanged"] >= partial
    assert summary["added"] + summary["unchanged"] == n
    with Workspace(ws) as w:
        assert sum(1 for _ in w.store.documents()) == n
        hits = w.retriever.search("calibration rule 2 item", k=3).hits
        assert hits, "search finds the re-ingested documents"
        assert "calibration" in hits[0].chunk.text.lower()
