"""Loading sentence-transformers models: offline, from a local directory, with clear errors.

Every place that loads a ``SentenceTransformer`` or a ``CrossEncoder`` (the local embedder,
the MaxSim and cross-encoder rerankers, embedder and reranker training) comes through
here, so that all of them keep the hub offline, read local files only, and fail alike: a
missing package raises ``MissingDependencyError``, a missing or broken model directory
``ModelNotFoundError``, each saying what to install or set. sentence-transformers (and so
torch) is imported only when a model loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from expertly.config.hub import offline_hub
from expertly.errors import MissingDependencyError, ModelNotFoundError

__all__ = ["load_cross_encoder", "load_sentence_transformer", "offline"]


def offline() -> None:
    """Keep Hugging Face libraries from reaching a hub (``expertly.config.hub``)."""
    offline_hub()


def load_sentence_transformer(
    path: Path | str, *, device: str = "cpu", purpose: str, **kwargs: Any
) -> Any:
    """A ``sentence_transformers.SentenceTransformer`` from the local directory ``path``.

    ``purpose`` says what the model is for, in the error when a package is missing;
    ``kwargs`` go to the constructor.
    """
    return _load("sentence-transformer", path, device, purpose, kwargs)


def load_cross_encoder(
    path: Path | str, *, device: str = "cpu", purpose: str, **kwargs: Any
) -> Any:
    """A ``sentence_transformers.CrossEncoder`` from the local directory ``path`` (a
    CrossEncoder, or any Hugging Face encoder: ``num_labels=1`` adds a scoring head)."""
    return _load("cross-encoder", path, device, purpose, kwargs)


def _load(
    kind: Literal["sentence-transformer", "cross-encoder"],
    path: Path | str,
    device: str,
    purpose: str,
    kwargs: dict[str, Any],
) -> Any:
    folder = Path(path).expanduser()
    if not any((folder / name).is_file() for name in ("config.json", "modules.json")):
        raise ModelNotFoundError(
            f"{folder} is not a model directory (no config.json or modules.json), needed "
            f"for {purpose}. "
            "expertly never downloads models: point the setting at a local "
            "sentence-transformers or Hugging Face model directory."
        )
    offline()
    try:
        from sentence_transformers import CrossEncoder, SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", purpose=purpose) from exc
    model_class = CrossEncoder if kind == "cross-encoder" else SentenceTransformer
    try:
        return model_class(str(folder), device=device, local_files_only=True, **kwargs)
    except OSError as exc:  # a file missing from the directory: it would have to be fetched
        raise ModelNotFoundError(
            f"The model in {folder} cannot be loaded offline ({exc}). Reinstall or re-save "
            "it as a complete local directory."
        ) from exc
