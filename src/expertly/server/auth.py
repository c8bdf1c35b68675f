"""Who is calling: the API key in ``Authorization: Bearer ...`` becomes a ``Caller`` whose
principal every search and answer is filtered by, after the key's rate limit is taken."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from expertly.server.errors import APIError
from expertly.server.service import Caller, Service

ANONYMOUS = Caller(id="anonymous", scopes=("ask", "ingest", "admin"), principal=None)
"""The caller when no key exists (the server then listens on loopback only): the local
user, who sees every document, as with the CLI."""


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def identify(service: Service, authorization: str | None) -> Caller:
    """The caller for an ``Authorization`` header value (401 when keys exist and it is
    missing, malformed, unknown or revoked)."""
    if not service.keys.has_active():
        return ANONYMOUS
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise APIError(
            401,
            "Missing API key: send 'Authorization: Bearer <key>' (an administrator creates "
            "keys with `expertly keys create`).",
            code="missing_api_key",
        )
    record = service.keys.verify(key)
    if record is None:
        raise APIError(
            401,
            "Invalid or revoked API key: check the key, or ask for a new one "
            "(`expertly keys create`).",
            code="invalid_api_key",
        )
    return Caller(id=record.id, scopes=record.scopes, principal=record.principal())


def requires(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the caller, who must hold ``scope`` (or admin), rate limited."""

    async def dependency(request: Request) -> Caller:
        service = service_of(request)
        caller = identify(service, request.headers.get("authorization"))
        if scope not in caller.scopes and "admin" not in caller.scopes:
            raise APIError(
                403,
                f"This API key lacks the '{scope}' scope: create one with "
                f"`expertly keys create --scopes {scope} ...`.",
                code="insufficient_scope",
            )
        try:
            service.limiter.check(caller.id)
        except APIError:
            service.metrics.rejected.labels("rate_limited").inc()
            raise
        return caller

    return dependency
