"""The workspace's fine-tuned models: runs and merged exports, found by name.

A workspace keeps its runs in ``<root>/runs/<name>/`` and merged exports in
``<root>/exports/<name>/`` (or wherever ``--out`` put them; each run records its exports
in ``exports.json``). ``list_models`` reads only small JSON files, never a model, so
``expertly finetune models`` is instant. ``resolve_model`` turns a name into a ``ModelRef``: what
to load as the model (the base, or a standalone directory) and which adapter to put on
it, which is all ``TransformersLLM`` needs. A run's name wins over an export's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from expertly.errors import ExpertlyError
from expertly.finetune.export import MARKER
from expertly.finetune.rundir import read_json

USABLE = ("finished", "early_stopping", "max_minutes", "loss_target")  # a final output


@dataclass(frozen=True)
class ModelRef:
    """How to load one fine-tuned model.

    ``kind`` is ``adapter`` (``base_model`` + the PEFT adapter at ``path``), ``model`` (a
    full fine-tune: ``path`` is a whole model) or ``merged`` (an export). ``model`` and
    ``adapter`` are what ``TransformersLLM(model, adapter=...)`` takes.
    """

    name: str
    kind: Literal["adapter", "model", "merged"]
    method: str
    base_model: str  # as given to the run; "" = the packaged SmolLM2-135M-Instruct
    path: str

    @property
    def model(self) -> str:
        return self.base_model if self.kind == "adapter" else self.path

    @property
    def adapter(self) -> str | None:
        return self.path if self.kind == "adapter" else None


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``expertly finetune models``."""

    name: str
    kind: str
    method: str
    base: str
    created: str
    val_loss: float | None
    path: str
    status: str  # finished | early_stopping | max_minutes | incomplete | ready | missing
    run: str

    @property
    def usable(self) -> bool:
        return self.status in (*USABLE, "ready")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def base_label(base_model: str) -> str:
    """A short name for a base model as a run recorded it."""
    return Path(base_model).name if base_model else "SmolLM2-135M-Instruct (packaged)"


def list_models(root: Path) -> list[ModelInfo]:
    """Every run and export of the workspace at ``root``, oldest first."""
    rows: list[ModelInfo] = []
    export_paths: set[Path] = set()
    runs_dir = root / "runs"
    for run in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        config = read_json(run / "config.json")
        if config is None:
            continue
        rows.append(_run_row(run, config))
        export_paths.update(
            Path(p) for p in (read_json(run / "exports.json") or {}).get("paths", [])
        )
    exports_dir = root / "exports"
    if exports_dir.is_dir():
        export_paths.update(p.resolve() for p in exports_dir.iterdir() if (p / MARKER).is_file())
    taken = {r.name for r in rows}
    for path in sorted(export_paths):
        row = _export_row(path)
        if row.name not in taken:
            rows.append(row)
            taken.add(row.name)
    return sorted(rows, key=lambda r: (r.created, r.name))


def resolve_model(root: Path, name: str | None = None) -> ModelRef:
    """The fine-tuned model ``name`` (default: the newest usable one) as a ``ModelRef``.

    ``name`` may also be the path of a run folder outside the workspace (one holding a
    ``config.json``, as ``compare --train-minutes`` writes its retrained runs into OUT/)."""
    rows = list_models(root)
    if name:
        found = [r for r in rows if r.name == name]
        outside = Path(name)
        config = read_json(outside / "config.json") if not found else None
        if config is not None:
            found = [_run_row(outside, config)]
        if not found:
            known = ", ".join(r.name for r in rows) or "none yet"
            raise ExpertlyError(
                f"No fine-tuned model named {name!r} in {root} (known: {known}); "
                "`expertly finetune models` lists them"
            )
        row = found[0]
        if not row.usable:
            raise ExpertlyError(
                f"The model {name!r} is {row.status}: its output at {row.path} is not there "
                "yet; finish the run with `expertly finetune ... --resume` or pick another"
            )
    else:
        usable = [r for r in rows if r.usable]
        if not usable:
            raise ExpertlyError(
                f"No fine-tuned model in {root} yet: train one with `expertly finetune DATA.jsonl`"
            )
        row = usable[-1]
    config = read_json(Path(row.path).parent / "config.json") if row.kind != "merged" else None
    base = str((config or {}).get("base_model", "")) if row.kind == "adapter" else ""
    return ModelRef(row.name, row.kind, row.method, base, row.path)  # type: ignore[arg-type]


def _run_row(run: Path, config: dict[str, Any]) -> ModelInfo:
    metrics = read_json(run / "metrics.json") or {}
    method = str(config.get("settings", {}).get("method", "?"))
    kind = "model" if method == "full" else "adapter"
    output = run / kind
    marker = output / ("config.json" if kind == "model" else "adapter_config.json")
    status = str(metrics.get("status", "incomplete"))
    if status not in USABLE or not marker.is_file():
        status = "incomplete"
    val = [(s, v) for s, v in metrics.get("val_loss") or [] if s > 0]  # after training
    return ModelInfo(
        name=run.name,
        kind=kind,
        method=method,
        base=base_label(str(config.get("base_model", ""))),
        created=str(config.get("created", "")),
        val_loss=round(float(min(v for _, v in val)), 4) if val else None,  # the kept model
        path=str(output),
        status=status,
        run=run.name,
    )


def _export_row(path: Path) -> ModelInfo:
    marker = read_json(path / MARKER) or {}
    return ModelInfo(
        name=path.name,
        kind="merged",
        method=str(marker.get("method", "?")),
        base=base_label(str(marker.get("base_model", ""))),
        created=str(marker.get("created", "")),
        val_loss=None,
        path=str(path),
        status="ready" if (path / "config.json").is_file() and marker else "missing",
        run=str(marker.get("run", "")),
    )


def training_documents(root: Path, name: str | None = None) -> tuple[list[str], str]:
    """The documents the fine-tuned model ``name`` learned from, and where that came from.

    Read from the run's training file (its path is in the run's ``config.json``): each pair
    that ``expertly dataset build`` wrote names its document in ``metadata.doc_id``. Empty,
    with the reason, when the model is an export, the file is gone, or its pairs name no
    document (hand-written data): then only ``--trained-on`` can say what was seen.
    """
    ref = resolve_model(root, name)
    if ref.kind == "merged":
        return [], f"{ref.name} is an export; its training data is not recorded"
    config = read_json(Path(ref.path).parent / "config.json") or {}
    train = Path(str((config.get("train") or {}).get("path", "")))
    if not train.is_file():
        return [], f"the training data of {ref.name} ({train}) is not there any more"
    docs: dict[str, None] = {}
    with train.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # the run validated this file; a line changed since says nothing
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            doc = meta.get("doc_id") if isinstance(meta, dict) else None
            if isinstance(doc, str) and doc:
                docs[doc] = None
    if not docs:
        return [], f"the training data of {ref.name} ({train}) names no documents"
    return list(docs), f"{len(docs)} documents named in {train}"
