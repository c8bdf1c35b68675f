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
import pytest

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


@pytest.mark.parametrize("after_docs", [1, 3, 7])
def test_sigkill_between_and_during_writes_then_rerun_completes(
    tmp_path: Path, after_docs: int
) -> None:
    """Documents are written every 4 chunks (about one per document), so the kill after the
    N-th committed document lands among the writes, not before the first."""
    corpus, ws = tmp_path / "corpus", tmp_path / "ws"
    n = 16
    _make_corpus(corpus, n)
    env = {
        **os.environ,
        "EXPERTLY_EMBEDDER__BATCH_SIZE": "4",
        "EXPERTLY_INGEST__EMBED_BATCH": "4",
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
    while _count_docs(index) < after_docs:
        if proc.poll() is not None:
            stderr = proc.stderr.read()
            pytest.fail(f"ingest ended before it could be killed: {stderr!r}")
        assert time.monotonic() < deadline, f"ingest wrote {after_docs} documents in 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = _count_docs(index)
    assert after_docs <= partial < n, f"the kill should land mid-run (had {partial} of {n})"

    conn = apsw.Connection(str(index))
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()

    from expertly.ingest.loaders import load_file
    from expertly.workspace import Workspace

    with Workspace(ws) as w:
        # every document present has all of its chunks: re-chunking the file gives them all
        infos = list(w.store.documents())
        assert len(infos) == partial
        for info in infos:
            doc_chunks = w.store.chunks(info.id)
            expected = w.chunker.chunk(load_file(corpus / info.id, doc_id=info.id))
            assert [c.text for c in doc_chunks] == [c.text for c in expected], info.id
            assert info.chunks == len(expected), info.id

    rerun = subprocess.run(  # default batches: the rerun only has to finish the job
        _cli(ws, "ingest", str(corpus), "--json"),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    summary = json.loads(rerun.stdout)
    assert summary["failed"] == 0
    assert summary["unchanged"] == partial
    assert summary["added"] == n - partial
    with Workspace(ws) as w:
        assert sum(1 for _ in w.store.documents()) == n
        hits = w.retriever.search("calibration rule 2 item", k=3).hits
        assert hits, "search finds the re-ingested documents"
        assert "calibration" in hits[0].chunk.text.lower()
