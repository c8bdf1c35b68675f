"""``GET /v1/models`` and ``POST /v1/embeddings`` (OpenAI's shapes).

Embeddings are the workspace's embedder's passage vectors (the ones the index holds), as
JSON floats or, with ``encoding_format="base64"`` (what the ``openai`` client asks for when
numpy is installed), little-endian float32 bytes in base64. Token-id input (LangChain's
``OpenAIEmbeddings`` default) is refused by name: expertly cannot read OpenAI's token ids.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from expertly.server.auth import requires, service_of
from expertly.server.chat import ready
from expertly.server.errors import APIError, unsupported
from expertly.server.service import EMBED_MODEL, Caller

router = APIRouter()
MAX_INPUTS = 2048


@router.get("/v1/models")
async def models(request: Request, _: Caller = Depends(requires("ask"))) -> dict[str, Any]:
    service = service_of(request)
    created = int(service.started)
    data = await asyncio.to_thread(service.models)
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": created, "owned_by": f"expertly:{route}"}
            for model, route in data
        ],
    }


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


@router.post("/v1/embeddings")
async def embeddings(
    body: EmbeddingRequest, request: Request, _: Caller = Depends(requires("ask"))
) -> dict[str, Any]:
    service = service_of(request)
    if body.model != EMBED_MODEL:
        raise APIError(
            404,
            f"The model '{body.model}' does not embed: use '{EMBED_MODEL}'.",
            param="model",
            code="model_not_found",
        )
    texts = _texts(body.input)
    ready(service)
    embedder = service.workspace.embedder
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise unsupported(
            "dimensions", f"the embedder's vectors have {embedder.dim} dimensions, no other."
        )
    started = time.perf_counter()
    vectors = await asyncio.to_thread(embedder.embed, texts, kind="passage")
    tokens = await asyncio.to_thread(_count, service, texts)
    service.metrics.tokens.labels("prompt", "embed").inc(tokens)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
        for i, v in enumerate(np.asarray(vectors, dtype=np.float32))
    ]
    return {
        "object": "list",
        "data": data,
        "model": EMBED_MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "expertly": {"embedder": embedder.name, "seconds": time.perf_counter() - started},
    }


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not value:
        raise APIError(400, "'input' is empty: give a string or a list of strings.", param="input")
    if not all(isinstance(v, str) for v in value):
        raise unsupported(
            "input",
            "token-id arrays cannot be read (they are OpenAI's tokenizer's ids); send text. "
            "LangChain: OpenAIEmbeddings(..., check_embedding_ctx_length=False).",
        )
    if len(value) > MAX_INPUTS:
        raise APIError(
            400, f"At most {MAX_INPUTS} inputs per request: split the list.", param="input"
        )
    if any(not v.strip() or "\x00" in v for v in value):
        raise APIError(
            400,
            "An input is empty or holds a NUL byte: send text.",
            param="input",
            code="invalid_value",
        )
    return list(value)


def _count(service: Any, texts: list[str]) -> int:
    """Tokens of ``texts`` by the embedder's own tokenizer (the chunker counts with it)."""
    counter = service.workspace.chunker.counter
    return sum(counter.count(t) for t in texts)


def _encode(vector: np.ndarray, fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
