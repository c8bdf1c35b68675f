"""What worker processes share: rate buckets and job statuses in ``server.sqlite`` (two
``SharedState`` handles on one file stand for two processes: SQLite sees no difference),
and the keys file, whose every change is seen however quickly it follows the last."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from expertly.server.errors import APIError
from expertly.server.jobs import IngestJobs
from expertly.server.keys import KeyStore
from expertly.server.limits import SharedRateLimiter
from expertly.server.state import SharedState
from tests.unit.helpers import fake_workspace


def test_one_key_has_one_bucket_across_processes(tmp_path: Path) -> None:
    now = [1000.0]
    first, second = SharedState(tmp_path), SharedState(tmp_path)
    a = SharedRateLimiter(first, per_minute=60, burst=3, clock=lambda: now[0])
    b = SharedRateLimiter(second, per_minute=60, burst=3, clock=lambda: now[0])
    a.check("key1")
    b.check("key1")
    a.check("key1")
    with pytest.raises(APIError) as refused:
        b.check("key1")  # the burst of 3 is spent, whichever process took the tokens
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
    b.check("key2")  # another key has its own bucket
    now[0] += 1.0  # a second later one token is back, for either process
    a.check("key1")
    with pytest.raises(APIError):
        b.check("key1")
    first.close()
    second.close()


def test_a_revocation_right_after_a_creation_is_seen(tmp_path: Path) -> None:
    writer, server = KeyStore(tmp_path), KeyStore(tmp_path)
    key, record = writer.create(tenant="acme", groups=(), scopes=("ask",))
    assert server.verify(key) is not None
    stat = (tmp_path / "keys.json").stat()
    writer.revoke(record.id)
    # even if the file system's clock did not tick between the two writes
    os.utime(tmp_path / "keys.json", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert server.verify(key) is None


def test_a_job_is_read_by_any_process_and_fails_when_its_worker_died(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(gone.stdout)
    ws = fake_workspace(tmp_path)
    jobs = IngestJobs(ws, threading.RLock(), SharedState(ws.root))
    other = IngestJobs(ws, threading.RLock(), SharedState(ws.root))  # another worker
    with jobs.state.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs(id, kind, owner, tenant, items, status, created, finished,"
            " results, error, pid) VALUES ('job_x', 'upload', 'k', NULL, '[\"a.md\"]',"
            " 'running', 1.0, NULL, '[]', '', ?)",
            (dead_pid,),
        )
    job = other.get("job_x")
    assert job is not None and job.status == "failed" and "stopped" in job.error
    assert other.get("job_missing") is None
    jobs.close()
    other.close()


def test_every_server_setting_reaches_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings travel as JSON in the environment: a path (``--report``) and a tuple
    (``--cors-origin``) come back as the same types, so a worker serves what the parent
    was told."""
    from expertly.server import workers
    from expertly.server.settings import ServerSettings

    report = tmp_path / "compare" / "report.html"
    settings = ServerSettings(workers=2, report=report, cors_origins=("https://a.example",))
    for name, value in workers.worker_environment(tmp_path, settings).items():
        monkeypatch.setenv(name, value)
    seen: list[ServerSettings] = []
    monkeypatch.setattr("expertly.server.app.create_app", lambda ws, s: seen.append(s))
    monkeypatch.setattr("expertly.workspace.Workspace", lambda root: root)
    workers.worker_app()
    assert seen == [settings]
