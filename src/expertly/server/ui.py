"""The web UI of ``expertly serve`` and the compare report it opens.

``GET /`` is the UI's page and ``GET /ui/<file>`` its scripts and styles: static files
shipped in the package (``server/static/``), served without a key because they hold no
data. Everything the page shows comes from the ``/v1`` API, called with the key the user
signs in with. The page and its files are served with a Content-Security-Policy that
allows nothing but this origin, so the UI works without any CDN and a script injected
through a document's text would not run.

``GET /v1/reports/latest`` serves the newest ``report.html`` that ``expertly compare``
wrote (or the one ``expertly serve --report`` names). A compare run reads every document,
so the report is only given to callers who may read every document.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from expertly.server.auth import requires, service_of
from expertly.server.errors import APIError
from expertly.server.jobs import UPLOADS
from expertly.server.service import Caller

router = APIRouter()
STATIC = Path(__file__).parent / "static"
REPORT_NAME = "report.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
UI_CSP = (
    "default-src 'self'; "
    # inline styles only for the compare report, shown in a sandboxed frame of this page
    # (a frame made from fetched HTML inherits this policy); scripts stay 'self' only
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The UI's Content-Security-Policy: this origin only, no CDN, no inline script."""
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""The report's own policy, should it be opened directly: styles and inline SVG, no script."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")


def ui_headers(csp: str = UI_CSP) -> dict[str, str]:
    """Headers of every UI response: the policy, no sniffing, no referrer, revalidate."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@cache
def _assets() -> dict[str, bytes]:
    """Every file of ``static/`` by name, read once: only these names are ever served (a
    request names a key of this dict, never a path)."""
    return {
        p.name: p.read_bytes()
        for p in STATIC.iterdir()
        if p.is_file() and p.suffix in CONTENT_TYPES and _NAME.match(p.name)
    }


def _serve(name: str) -> Response:
    data = _assets().get(name)
    if data is None:
        raise APIError(404, f"No UI file {name!r}: open / for the web UI.", code="not_found")
    return Response(data, media_type=CONTENT_TYPES[Path(name).suffix], headers=ui_headers())


@router.get("/", include_in_schema=False)
async def index() -> Response:
    """The web UI's page."""
    return _serve("index.html")


@router.get("/ui/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    """A script, stylesheet or icon of the web UI (a flat folder: no sub-paths)."""
    return _serve(name)


def find_report(root: Path, configured: Path | None) -> Path | None:
    """The compare report to serve: ``configured`` (a report or a folder holding one)
    when given, else the newest ``report.html`` in ``root`` or one folder below it
    (``expertly compare --out <workspace>/compare``), never among uploaded files."""
    if configured is not None:
        path = configured / REPORT_NAME if configured.is_dir() else configured
        return path if path.is_file() else None
    found = [root / REPORT_NAME, *root.glob(f"*/{REPORT_NAME}")]
    reports = [p for p in found if p.is_file() and p.parent.name != UPLOADS]
    return max(reports, key=lambda p: p.stat().st_mtime, default=None)


@router.get("/v1/reports/latest", response_model=None)
async def latest_report(request: Request, caller: Caller = Depends(requires("ask"))) -> Response:
    """The newest compare report (HTML), for callers who may read every document."""
    service = service_of(request)
    if caller.principal is not None:
        raise APIError(
            403,
            "The compare report holds answers drawn from every document: only a key that "
            "reads every document (an admin key without a tenant) may open it.",
            code="insufficient_scope",
        )
    configured = service.settings.report
    path = await asyncio.to_thread(find_report, service.workspace.root, configured)
    if path is None:
        where = configured or f"{service.workspace.root} or a folder in it"
        raise APIError(
            404,
            f"No compare report in {where}: run `expertly compare QUESTIONS --out "
            f"{service.workspace.root / 'compare'}`, or start the server with --report PATH.",
            code="not_found",
        )
    data = await asyncio.to_thread(path.read_bytes)
    headers = {**ui_headers(REPORT_CSP), "Content-Disposition": f'inline; filename="{REPORT_NAME}"'}
    return Response(data, media_type=CONTENT_TYPES[".html"], headers=headers)
