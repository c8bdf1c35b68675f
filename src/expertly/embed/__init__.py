"""Embedders turn text into normalised vectors. Backends are looked up by name, lazily."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from expertly.types import EmbedKind

if TYPE_CHECKING:
    import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray: ...


@runtime_checkable
class Loadable(Protocol):
    """An embedder whose model loads lazily and can be loaded on request, so that the
    one-off start-up cost does not land in the first timed search."""

    def load(self) -> object:
        """Load the model now, if not yet loaded; returns it."""
        ...


@runtime_checkable
class LocalModel(Protocol):
    """An embedder whose model is a local folder, loaded on first use.

    The folder's ``tokenizer.json`` lets chunking count tokens exactly as the model will;
    ``load`` pays the loading cost up front (``Workspace.warmup``).
    """

    path: Path

    def load(self) -> object:
        """Load the model now (and run one tiny encoding); returns the loaded model."""
        ...
