"""Background ingest jobs: uploads and re-indexing, run one at a time per worker process
by a writer thread, each job's status and per-item results kept in the workspace's
``server.sqlite`` (``server.state``), so any worker answers for any job, also after a
restart. A job whose worker process died before it finished reads as failed.

Uploaded files are kept in ``<workspace>/uploads/<job>/<tenant or _public>/<name>`` and
ingested from the job's folder, so a document's id is ``<tenant or _public>/<name>``: two
tenants uploading ``policy.pdf`` get two documents, and the same tenant uploading it again
replaces its own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expertly.errors import ExpertlyError
from expertly.ingest.refresh import reindex_documents
from expertly.server.state import SharedState

if TYPE_CHECKING:
    from expertly.ingest.pipeline import Ingestor
    from expertly.workspace import Workspace

log = logging.getLogger("expertly.server")
JobKind = Literal["upload", "reindex"]
JobStatus = Literal["queued", "running", "done", "failed"]
PUBLIC = "_public"
UPLOADS = "uploads"
"""The workspace folder uploaded files are kept in."""
_KEPT_JOBS = 1000
_COLUMNS = "id, kind, owner, tenant, items, status, created, finished, results, error, pid"
Work = Callable[["Ingestor"], list[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    """One ingest job: who asked, for which files (upload) or documents (reindex), and
    what became of each."""

    id: str
    kind: JobKind
    owner: str  # the key id (or "anonymous") that started it
    tenant: str | None
    items: tuple[str, ...]
    status: JobStatus = "queued"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: tuple[dict[str, Any], ...] = ()
    error: str = ""
    pid: int = field(default_factory=os.getpid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "ingest.job",
            "kind": self.kind,
            "status": self.status,
            "tenant": self.tenant,
            "files" if self.kind == "upload" else "documents": list(self.items),
            "created": self.created,
            "finished": self.finished,
            "results": list(self.results),
            "error": self.error,
        }


class IngestJobs:
    """Ingest jobs run one at a time in this process's writer thread; their statuses are
    shared with the other worker processes through ``server.sqlite``."""

    def __init__(self, workspace: Workspace, lock: threading.RLock, state: SharedState) -> None:
        self.workspace = workspace
        self.lock = lock  # the service's lock: workspace parts are built under it
        self.state = state
        self.uploads = workspace.root / UPLOADS
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="expertly-ingest")

    def folder_for(self, tenant: str | None) -> tuple[str, Path]:
        """A new job id and the folder its files go to."""
        job_id = _new_id()
        folder = self.uploads / job_id / (tenant or PUBLIC)
        folder.mkdir(parents=True)
        return job_id, folder

    def submit_upload(
        self,
        job_id: str,
        owner: str,
        tenant: str | None,
        files: Sequence[str],
        metadata: Mapping[str, Any],
    ) -> Job:
        """Queue the ingest of the files already written to ``job_id``'s folder."""
        folder = self.uploads / job_id

        def work(ingestor: Ingestor) -> list[dict[str, Any]]:
            report = ingestor.ingest([folder], metadata=metadata)
            return [
                {"doc_id": r.doc_id, "status": r.status, "chunks": r.chunks, "reason": r.reason}
                for r in report.results
            ]

        return self._submit(Job(job_id, "upload", owner, tenant, tuple(files)), work)

    def submit_reindex(
        self, owner: str, tenant: str | None, doc_ids: Sequence[str], *, whole_index: bool
    ) -> Job:
        """Queue the re-indexing of ``doc_ids`` (``ingest.refresh``); ``whole_index``: they
        are every stored document, so the chunking settings are recorded as current."""

        def work(ingestor: Ingestor) -> list[dict[str, Any]]:
            results = [asdict(r) for r in reindex_documents(ingestor, doc_ids)]
            if whole_index:
                ingestor.record_chunking()
            return results

        return self._submit(Job(_new_id(), "reindex", owner, tenant, tuple(doc_ids)), work)

    def get(self, job_id: str) -> Job | None:
        """The job, whichever worker runs it; one whose worker is gone reads as failed."""
        with self.state.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = _job_from_row(row)
        if job.status in ("queued", "running") and not _alive(job.pid):
            return replace(
                job,
                status="failed",
                error="the server process running this job stopped before it finished: "
                "start the job again",
            )
        return job

    def _submit(self, job: Job, work: Work) -> Job:
        with self.state.transaction() as conn:
            conn.execute(f"INSERT INTO jobs({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", _row(job))
            conn.execute(
                "DELETE FROM jobs WHERE id IN "
                "(SELECT id FROM jobs ORDER BY created DESC LIMIT -1 OFFSET ?)",
                (_KEPT_JOBS,),
            )
        self._pool.submit(self._run, job, work)
        return job

    def _save(self, job: Job) -> None:
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, finished = ?, results = ?, error = ? WHERE id = ?",
                (job.status, job.finished, json.dumps(list(job.results)), job.error, job.id),
            )

    def _run(self, job: Job, work: Work) -> None:
        try:
            self._execute(job, work)
        except Exception:  # the status could not be recorded: the log must say so
            log.exception("recording the status of %s job %s failed", job.kind, job.id)

    def _execute(self, job: Job, work: Work) -> None:
        job = replace(job, status="running")
        self._save(job)
        try:
            with self.lock:
                ingestor = self.workspace.ingestor
            job = replace(job, status="done", results=tuple(work(ingestor)))
        except ExpertlyError as exc:
            job = replace(job, status="failed", error=str(exc))
        except Exception as exc:  # a bug: the job says so and the log has the trace
            job = replace(job, status="failed", error=f"internal error: {type(exc).__name__}")
            log.exception("%s job %s failed", job.kind, job.id)
        finally:
            job = replace(job, finished=time.time())
            self._save(job)
            log.info("%s job %s %s", job.kind, job.id, job.status, extra={"items": len(job.items)})

    def close(self) -> None:
        """Finish the jobs already queued, then stop."""
        self._pool.shutdown(wait=True)


def _new_id() -> str:
    return f"job_{secrets.token_hex(8)}"


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id, job.kind, job.owner, job.tenant, json.dumps(list(job.items)), job.status,
        job.created, job.finished, json.dumps(list(job.results)), job.error, job.pid,
    )  # fmt: skip


def _job_from_row(row: Sequence[Any]) -> Job:
    job_id, kind, owner, tenant, items, status, created, finished, results, error, pid = row
    return Job(
        id=job_id, kind=kind, owner=owner, tenant=tenant, items=tuple(json.loads(items)),
        status=status, created=created, finished=finished,
        results=tuple(json.loads(results)), error=error, pid=pid,
    )  # fmt: skip


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (the workers share one)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
