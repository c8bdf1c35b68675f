"""An ONNX Runtime copy of a sentence-transformers encoder: the same vectors, in less time.

On this project's reference CPU, all-MiniLM-L6-v2 embeds one query in about half the time
through ONNX Runtime that it takes through torch (docs/benchmarks.md), and a query's
embedding is most of a search's time. The copy is exported once from the loaded torch model
(``torch.onnx.export``, fp32, so the vectors are those of torch within float rounding),
checked against torch on probe texts before it is trusted, and kept in the converted-models
cache (``llm.cache_dir``, default ``<workspace>/models``) under a name that includes the
weights' fingerprint; ``expertly.builds.build_once`` makes it atomic. Pooling and
normalisation then run in numpy, tokenisation in the ``tokenizers`` library.

Only the common layout is copied: a Transformer module, then mean or CLS pooling, then an
optional Normalize. Anything else (a Dense layer, max pooling, lower-casing done by
sentence-transformers, a model without ``tokenizer.json``) keeps the torch path, and
``read_layout`` says why.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from expertly.builds import build_once

MODEL_FILE = "model.onnx"
LAYOUT_FILE = "layout.json"
MAX_PROBE_DIFF = 1e-4
"""Largest difference (per vector component) from torch that a fresh copy may show on the
probe texts; fp32 exports measure ~1e-7."""

_PROBES = (
    "How long is the warranty on the indoor gateway?",
    "A longer passage, so that the probe batch is padded: the second text has many more "
    "tokens than the first, and the attention mask must keep the pads out of the mean.",
    "x",
)
_POOLING_FLAGS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
}


@dataclass(frozen=True)
class EncoderLayout:
    """What the ONNX path needs to know of a sentence-transformers folder, read without torch."""

    pooling: Literal["mean", "cls"]
    normalize: bool
    max_seq_length: int


def available() -> bool:
    """Whether ONNX Runtime is installed (the ``fast`` extra)."""
    return importlib.util.find_spec("onnxruntime") is not None


def read_layout(folder: Path) -> EncoderLayout | str:
    """The folder's encoder layout, or the reason (a sentence) it cannot take the ONNX path."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"no readable modules.json in {folder} ({exc})"
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its modules are {kinds}; the ONNX copy covers Transformer, Pooling[, Normalize]"
    if str(modules[0].get("path", "")) not in ("", "."):
        return "its Transformer module is not at the folder's root"
    if not (folder / "tokenizer.json").is_file():
        return "it has no tokenizer.json (a fast tokenizer)"
    try:
        pooling = json.loads(
            (folder / str(modules[1]["path"]) / "config.json").read_text(encoding="utf-8")
        )
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        return f"its pooling or sentence_bert_config.json cannot be read ({exc})"
    chosen = [mode for flag, mode in _POOLING_FLAGS.items() if pooling.get(flag)]
    others = [
        k
        for k, v in pooling.items()
        if k.startswith("pooling_mode_") and k not in _POOLING_FLAGS and v
    ]
    if len(chosen) != 1 or others:
        return f"its pooling ({pooling}) is not exactly one of mean or CLS"
    if config.get("do_lower_case"):
        return "sentence-transformers lower-cases its input (do_lower_case)"
    length = config.get("max_seq_length")
    if not isinstance(length, int) or length <= 0:
        return "sentence_bert_config.json gives no max_seq_length"
    return EncoderLayout(
        pooling="mean" if chosen[0] == "mean" else "cls",
        normalize=kinds[-1] == "Normalize",
        max_seq_length=length,
    )


def copy_dir(cache_dir: Path, name: str, fingerprint: str) -> Path:
    """Where the ONNX copy of the model ``name`` with weights ``fingerprint`` lives."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "encoder"
    return cache_dir / "onnx-embed" / f"{slug}-{fingerprint}"


def export(load: Callable[[], Any], layout: EncoderLayout, target: Path) -> Path:
    """The copy in ``target``; made once (~3 s for MiniLM), atomically, from the
    ``SentenceTransformer`` that ``load`` returns (called only then), after checking the
    copy's vectors against torch's."""

    def write(tmp: Path) -> None:
        model = load()
        _export_transformer(model, tmp / MODEL_FILE)
        (tmp / LAYOUT_FILE).write_text(json.dumps(layout.__dict__), encoding="utf-8")
        tokenizer = model.tokenizer
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        copy = OnnxEncoder(tmp, threads=1)
        expected = model.encode(list(_PROBES), convert_to_numpy=True, show_progress_bar=False)
        diff = float(np.abs(copy.encode(list(_PROBES)) - expected).max())
        if not diff <= MAX_PROBE_DIFF:
            raise ValueError(
                f"the ONNX copy's vectors differ from torch's by {diff:.2e} "
                f"(more than {MAX_PROBE_DIFF:g}) on the probe texts"
            )

    return build_once(target, write, {"probe_max_diff_limit": MAX_PROBE_DIFF})


def _export_transformer(model: Any, path: Path) -> None:
    """The Transformer module's network as an fp32 ONNX graph with dynamic batch and length."""
    import inspect

    import torch

    network = model[0].auto_model.eval()
    with_types = "token_type_ids" in inspect.signature(network.forward).parameters
    names = ["input_ids", "attention_mask", *(["token_type_ids"] if with_types else [])]

    class _Hidden(torch.nn.Module):
        """Keyword arguments in, the last hidden state out (the exporter passes positionals)."""

        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.network(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(list(_PROBES[:2]), padding=True, return_tensors="pt")
    inputs = tuple(
        sample[n] if n in sample else torch.zeros_like(sample["input_ids"]) for n in names
    )
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter's tracer warns about every Python condition on a shape;
        # the probe check above is what tells whether the graph is right.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden().eval(),
            inputs,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


class OnnxEncoder:
    """Embeds texts through an exported copy (``export``): tokenizers, ONNX Runtime, numpy.

    ``threads`` is ONNX Runtime's intra-op count for this session (fixed when it is made);
    its workers sleep between runs instead of spinning (``expertly.config.threads``,
    ``query_onnx``: spinning workers slowed a query 1.7x once another process had a core).
    A session may be run from several threads at once.
    """

    def __init__(self, folder: Path, *, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        layout = json.loads((folder / LAYOUT_FILE).read_text(encoding="utf-8"))
        self.layout = EncoderLayout(**layout)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.layout.max_seq_length)
        pad = tokenizer.padding or {}
        tokenizer.enable_padding(
            pad_id=int(pad.get("pad_id", 0)),
            pad_type_id=int(pad.get("pad_type_id", 0)),
            pad_token=str(pad.get("pad_token", "[PAD]")),
        )  # to the longest text of the batch, as sentence-transformers pads
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 vectors, one row per text, pooled and (if the model says so) normalised."""
        encodings = self._tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self._session.run(None, {n: arrays[n] for n in self._inputs})[0]
        if self.layout.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            mask = arrays["attention_mask"][..., None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self.layout.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.clip(norms, 1e-12, None)
        return np.ascontiguousarray(vectors, dtype=np.float32)
