"""Background ingest jobs for uploaded files: one writer thread, each job's status and
per-file results kept in memory (lost at restart; the documents themselves are indexed).

Uploaded files are kept in ``<workspace>/uploads/<job>/<tenant or _public>/<name>`` and
ingested from the job's folder, so a document's id is ``<tenant or _public>/<name>``: two
tenants uploading ``policy.pdf`` get two documents, and the same tenant uploading it again
replaces its own.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expertly.errors import ExpertlyError

if TYPE_CHECKING:
    from expertly.workspace import Workspace

log = logging.getLogger("expertly.server")
JobStatus = Literal["queued", "running", "done", "failed"]
PUBLIC = "_public"
UPLOADS = "uploads"
"""The workspace folder uploaded files are kept in."""
_KEPT_JOBS = 1000


@dataclass
class Job:
    """One upload's ingest: who asked, which files, what became of each."""

    id: str
    owner: str  # the key id (or "anonymous") that uploaded
    tenant: str | None
    files: list[str]
    status: JobStatus = "queued"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "ingest.job",
            "status": self.status,
            "tenant": self.tenant,
            "files": self.files,
            "created": self.created,
            "finished": self.finished,
            "results": self.results,
            "error": self.error,
        }


class IngestJobs:
    """A queue of ingest jobs run one at a time in a background thread."""

    def __init__(self, workspace: Workspace, lock: threading.RLock) -> None:
        self.workspace = workspace
        self.lock = lock  # the service's lock: workspace parts are built under it
        self.uploads = workspace.root / UPLOADS
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="expertly-ingest")

    def folder_for(self, tenant: str | None) -> tuple[str, Path]:
        """A new job id and the folder its files go to."""
        job_id = f"job_{secrets.token_hex(8)}"
        folder = self.uploads / job_id / (tenant or PUBLIC)
        folder.mkdir(parents=True)
        return job_id, folder

    def submit(
        self, job_id: str, owner: str, tenant: str | None, files: list[str], metadata: dict
    ) -> Job:
        job = Job(job_id, owner, tenant, files)
        self.jobs[job_id] = job
        while len(self.jobs) > _KEPT_JOBS:
            self.jobs.popitem(last=False)
        self._pool.submit(self._run, job, metadata)
        return job

    def _run(self, job: Job, metadata: dict) -> None:
        job.status = "running"
        try:
            with self.lock:
                ingestor = self.workspace.ingestor
            report = ingestor.ingest([self.uploads / job.id], metadata=metadata)
            job.results = [
                {"doc_id": r.doc_id, "status": r.status, "chunks": r.chunks, "reason": r.reason}
                for r in report.results
            ]
            job.status = "done"
        except ExpertlyError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # a bug: the job says so and the log has the trace
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}"
            log.exception("ingest job %s failed", job.id)
        finally:
            job.finished = time.time()
            log.info("ingest job %s %s", job.id, job.status, extra={"files": len(job.files)})

    def close(self) -> None:
        """Finish the jobs already queued, then stop."""
        self._pool.shutdown(wait=True)
