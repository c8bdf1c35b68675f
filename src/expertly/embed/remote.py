"""Served embedding models: the OpenAI-compatible ``/embeddings`` route (OpenAI, vLLM, TEI,
Ollama, LiteLLM...) and Text Embeddings Inference's native ``/embed``.

Both retry a busy or failing server (429, 5xx) as ``retry`` says (``expertly.endpoints``),
and every error names the URL, the server's own message and the setting to check.
``encoding_format = "base64"`` asks the OpenAI route for little-endian float32 bytes in
base64 (a third of the JSON floats' size); a server that answers with float lists anyway
is read as well.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from expertly.endpoints import (
    RETRY_STATUSES,
    Outcome,
    RetryPolicy,
    attempts_note,
    send,
    server_message,
)
from expertly.errors import LLMError, LLMTimeoutError
from expertly.types import EmbedKind

ENCODINGS = ("float", "base64")


class OpenAICompatEmbedder:
    """Calls ``POST {base_url}/embeddings``; normalises the vectors it gets back."""

    route = "/embeddings"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        dim: int,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        query_prefix: str = "",
        passage_prefix: str = "",
        encoding_format: str = "float",
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if encoding_format not in ENCODINGS:
            raise ValueError(f"encoding_format must be one of {ENCODINGS}, not {encoding_format!r}")
        self.name = model
        self.dim = dim
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.encoding_format = encoding_format
        self.retry = retry or RetryPolicy()
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        self.url = f"{base_url.rstrip('/')}{self.route}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prefix = self.prefixes[kind]
        for start in range(0, len(texts), self.batch_size):
            batch = [prefix + t for t in texts[start : start + self.batch_size]]
            response = self._post(self._body(batch))
            try:
                vectors = self._vectors(response.json(), len(batch))
            except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
                raise LLMError(
                    f"Embedding endpoint {self.url} sent a malformed reply ({exc}): "
                    f"{response.text[:300]!r}"
                ) from exc
            for i, vec in enumerate(vectors):
                if vec.shape != (self.dim,):
                    raise LLMError(
                        f"The endpoint returned {vec.shape[0]}-d vectors but embedder.dim = "
                        f"{self.dim}: set embedder.dim to {vec.shape[0]}."
                    )
                norm = float(np.linalg.norm(vec))
                out[start + i] = vec / norm if norm else vec
        return out

    def close(self) -> None:
        self._client.close()

    # -- the route's request and reply ---------------------------------------------------

    def _body(self, batch: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.name, "input": batch}
        if self.encoding_format != "float":  # some servers reject the field altogether
            body["encoding_format"] = self.encoding_format
        return body

    def _vectors(self, data: Any, count: int) -> list[np.ndarray]:
        """``{"data": [{"index", "embedding"}, ...]}``, in input order; an embedding is a
        float list, or base64 of little-endian float32 when asked for."""
        items = sorted(data["data"], key=lambda d: int(d["index"]))
        if [int(d["index"]) for d in items] != list(range(count)):
            raise ValueError(f"expected indexes 0..{count - 1}")
        return [_vector(item["embedding"]) for item in items]

    # -- HTTP ------------------------------------------------------------------------------

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        request = self._client.build_request("POST", self.url, json=body)
        try:
            outcome = send(self._client, request, self.retry)
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(
                f"Embedding endpoint {self.url} did not answer within {self.timeout_s:g} s: "
                "check that the server is up, or raise embedder.timeout_s (or lower "
                "embedder.batch_size)."
            ) from exc
        except httpx.ConnectError as exc:
            raise LLMError(
                f"Cannot connect to the embedding endpoint {self.url} ({exc}): is the server "
                "running? Check embedder.base_url (EXPERTLY_EMBEDDER__BASE_URL)."
            ) from exc
        except httpx.HTTPError as exc:
            raise LLMError(
                f"Request to the embedding endpoint {self.url} failed "
                f"({type(exc).__name__}: {exc})."
            ) from exc
        self._check(outcome)
        return outcome.response

    def _check(self, outcome: Outcome) -> None:
        response = outcome.response
        if response.is_success:
            return
        code = response.status_code
        hint = (
            "check the API key (the variable named by embedder.api_key_env)"
            if code in (401, 403)
            else f"check embedder.model = {self.name!r} and embedder.base_url"
            if code == 404
            else "lower embedder.batch_size to the server's limit (TEI: --max-client-batch-size)"
            if code == 413
            else "the server is overloaded or failing: check its log, or raise embedder.retries"
            if code in RETRY_STATUSES
            else f"check embedder.model = {self.name!r} and the server's log"
        )
        tries = attempts_note(outcome, self.retry, "embedder")
        raise LLMError(
            f"Embedding endpoint {self.url} answered HTTP {code}{tries}: "
            f"{server_message(response)!r}; {hint}."
        )


class TEIEmbedder(OpenAICompatEmbedder):
    """Text Embeddings Inference's native ``POST {base_url}/embed``: ``{"inputs": [...]}``
    in, one float list per input out. Inputs longer than the model's limit are truncated by
    the server (``truncate``), as a local sentence-transformers model truncates them.
    ``base_url`` is the server's root (``http://localhost:8080``), without ``/v1``."""

    route = "/embed"

    def _body(self, batch: list[str]) -> dict[str, Any]:
        return {"inputs": batch, "normalize": True, "truncate": True}

    def _vectors(self, data: Any, count: int) -> list[np.ndarray]:
        if not isinstance(data, list) or len(data) != count:
            raise ValueError(f"expected a list of {count} vectors")
        return [_vector(v) for v in data]


def _vector(embedding: Any) -> np.ndarray:
    """A float list, or base64 of little-endian float32 bytes, as a float32 vector."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4").astype(
            np.float32
        )
    if not isinstance(embedding, list):
        raise TypeError(f"an embedding must be a list of floats or base64, not {type(embedding)}")
    return np.asarray(embedding, dtype=np.float32)
