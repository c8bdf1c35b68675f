"""OpenAI-compatible ``/embeddings`` backend (OpenAI, vLLM, TEI, Ollama, LiteLLM...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from expertly.errors import LLMError
from expertly.types import EmbedKind


class OpenAICompatEmbedder:
    """Calls ``POST {base_url}/embeddings``; normalises the vectors it gets back."""

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = model
        self.dim = dim
        self.batch_size = batch_size
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prefix = self.prefixes[kind]
        for start in range(0, len(texts), self.batch_size):
            batch = [prefix + t for t in texts[start : start + self.batch_size]]
            for item in self._post(batch):
                vec = np.asarray(item["embedding"], dtype=np.float32)
                if vec.shape != (self.dim,):
                    raise LLMError(
                        f"The endpoint returned {vec.shape[0]}-d vectors but embedder.dim = "
                        f"{self.dim}: set embedder.dim to {vec.shape[0]}."
                    )
                norm = float(np.linalg.norm(vec))
                out[start + int(item["index"])] = vec / norm if norm else vec
        return out

    def _post(self, batch: list[str]) -> list[dict[str, Any]]:
        url = f"{self._client.base_url}/embeddings"
        try:
            response = self._client.post("/embeddings", json={"model": self.name, "input": batch})
        except httpx.HTTPError as exc:
            raise LLMError(
                f"Embedding endpoint {url} unreachable ({exc}): check embedder.base_url"
            ) from exc
        if response.status_code != 200:
            raise LLMError(
                f"Embedding endpoint {url} answered {response.status_code}: "
                f"{response.text[:300]!r}. Check embedder.model and the API key."
            )
        try:
            data = response.json()["data"]
            return sorted(data, key=lambda d: d["index"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LLMError(
                f"Embedding endpoint {url} sent a malformed reply: {response.text[:300]!r}"
            ) from exc
