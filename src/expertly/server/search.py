"""``POST /v1/search``: ranked passages the caller may read (filtered inside the store
search by the caller's tenant and groups), without the language model."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from expertly.server.auth import requires, service_of
from expertly.server.chat import ready
from expertly.server.errors import APIError
from expertly.server.service import Caller
from expertly.server.wire import hit_dict, jsonable
from expertly.types import Filters

router = APIRouter()


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: Literal["hybrid", "dense", "sparse"] | None = None


@router.post("/v1/search")
async def search(
    body: SearchRequest, request: Request, caller: Caller = Depends(requires("ask"))
) -> dict[str, Any]:
    service = service_of(request)
    if not body.query.strip() or "\x00" in body.query:
        raise APIError(
            400,
            "The query is empty or holds a NUL byte: search with words.",
            param="query",
            code="invalid_value",
        )
    ready(service)
    mode = body.mode or service.workspace.settings.retrieval.mode
    searcher = service.searcher(mode)
    filters = Filters.for_principal(caller.principal)
    result = await asyncio.to_thread(searcher.search, body.query, k=body.k, filters=filters)
    return {
        "object": "list",
        "query": body.query,
        "mode": mode,
        "queries": list(result.queries),
        "data": [hit_dict(i, h) for i, h in enumerate(result.hits, 1)],
        "timings": jsonable(result.timings),
    }
