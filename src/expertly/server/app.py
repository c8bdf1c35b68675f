"""``create_app(workspace, settings)``: the FastAPI app of ``expertly serve``.

One Workspace per process. The app starts at once and loads the models in the background:
``/healthz`` is 200 whenever the process answers, ``/readyz`` 503 until the models are
loaded and warmed up, then 200. ``/metrics`` is Prometheus' text format. ``/`` is the web
UI (``ui.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from expertly.server import chat, documents, embed, errors, openapi, search, ui
from expertly.server.observe import RequestMiddleware
from expertly.server.service import Service
from expertly.server.settings import ServerSettings

if TYPE_CHECKING:
    from expertly.workspace import Workspace

log = logging.getLogger("expertly.server")


def create_app(workspace: Workspace, settings: ServerSettings | None = None) -> FastAPI:
    """The app serving ``workspace`` (which it closes at shutdown) under ``settings``."""
    service = Service(workspace, settings or ServerSettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start_queue()
        if service.keys.has_active():
            log.info("API keys required", extra={"keys": len(service.keys.records())})
        else:
            log.warning(
                "no API keys exist: every request is served as the anonymous local user, "
                "who sees every document (create keys with `expertly keys create`)"
            )
        loading = asyncio.create_task(service.load())
        try:
            yield
        finally:
            if not loading.done():
                await asyncio.wait([loading])  # a loading thread cannot be cancelled
            service.close()
            log.info("stopped")

    app = FastAPI(
        title="expertly",
        summary="An OpenAI-compatible API over your documents: answers with citations.",
        lifespan=lifespan,
    )
    app.state.service = service
    errors.install(app)
    app.include_router(chat.router)
    app.include_router(embed.router)
    app.include_router(search.router)
    app.include_router(documents.router)
    app.include_router(ui.router)
    openapi.document_streams(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """200 while the process answers (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse:
        """200 once the models are loaded and warmed up; 503 before (or if they failed)."""
        if service.ready:
            return JSONResponse({"status": "ready"})
        if service.failure:
            return JSONResponse({"status": "failed", "error": service.failure}, 503)
        headers = {"Retry-After": str(service.settings.retry_after_s)}
        return JSONResponse({"status": "loading"}, 503, headers=headers)

    @app.get("/metrics", response_class=PlainTextResponse)  # documented as text, as sent
    async def metrics(_: Request) -> Response:
        """Prometheus metrics: requests, latency, tokens, queue depth, refusals."""
        return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    s = service.settings
    app.add_middleware(
        RequestMiddleware,
        metrics=service.metrics,
        max_body_bytes=s.max_body_bytes,
        max_upload_bytes=s.max_upload_bytes,
    )
    if s.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(s.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    return app
