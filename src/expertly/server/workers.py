"""Several server processes on one port (``expertly serve --workers N``).

uvicorn starts N worker processes that accept connections on the same socket; each one
imports this module and calls ``worker_app``, which builds its own Workspace (so each loads
the models once) from what the parent put in the environment: the workspace directory and
the server settings as JSON. What the workers share and what each keeps for itself:

* shared: the index (SQLite in WAL mode: readers never wait for the ingest writer, and
  each worker's in-memory copies catch up with the file before each search), the API keys
  (``keys.json``, checked before each request), the ingest jobs' statuses and the rate
  buckets (``server.sqlite``), the answer and embedding caches (SQLite files), and the
  Prometheus metrics (files in ``PROMETHEUS_MULTIPROC_DIR``, summed by ``/metrics``);
* per process: the models in memory, the generation queue (``--concurrency`` and
  ``--max-waiting`` apply to each worker), and the ingest writer thread that runs the jobs
  this worker accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from expertly.errors import ExpertlyError
from expertly.server.settings import ServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

WORKSPACE_ENV = "EXPERTLY_SERVE_WORKSPACE"
SETTINGS_ENV = "EXPERTLY_SERVE_SETTINGS"
APP_FACTORY = "expertly.server.workers:worker_app"
"""What uvicorn imports in each worker process (a factory: called once per process)."""


def worker_environment(root: Path, settings: ServerSettings) -> dict[str, str]:
    """The environment variables that tell each worker process what to serve."""
    return {
        WORKSPACE_ENV: str(Path(root).resolve()),
        SETTINGS_ENV: json.dumps(asdict(settings), default=str),  # paths as strings
    }


def worker_app() -> FastAPI:
    """The app of one worker process, from the environment ``worker_environment`` made."""
    from expertly.server.app import create_app
    from expertly.server.observe import configure_logging
    from expertly.workspace import Workspace

    root, raw = os.environ.get(WORKSPACE_ENV), os.environ.get(SETTINGS_ENV)
    if not root or not raw:
        raise ExpertlyError(
            f"{APP_FACTORY} is started by `expertly serve --workers N`, which sets "
            f"{WORKSPACE_ENV} and {SETTINGS_ENV}; run that command instead."
        )
    fields = json.loads(raw)
    fields["cors_origins"] = tuple(fields.get("cors_origins", ()))
    if fields.get("report"):
        fields["report"] = Path(fields["report"])
    configure_logging()
    return create_app(Workspace(Path(root)), ServerSettings(**fields))
