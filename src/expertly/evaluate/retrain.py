"""Retraining on a changed fact, for ``compare --update-cost --train-minutes M``.

A fine-tuned model learns a changed fact only by training again. For one volatile question
this module writes the *changed pairs* — the question answered with the new fact, plus the
pairs the offline generator (``finetune.synthesize.offline_pairs``) finds in the changed
document's chunks that hold the new text — and trains on them within a wall-clock budget
of M minutes:

- a ``lora`` or ``qlora`` run's adapter, or a ``prefix`` run's, is *continued* (loaded
  trainable on the full-precision base and trained further, so what it knew stays);
- any other run (``adalora``, ``full``, a merged export) gets a *fresh LoRA*: on the
  fine-tuned weights themselves for ``full`` and merged models, on the base for ``adalora``.

Training stops at the budget (``max_minutes``) or as soon as the training loss shows the
pairs are learned (``stop_at_loss``). The retrained run is written into ``OUT/retrained/``
and never replaces the user's run; ``compare`` then asks the question again with it (the
run folder's path is a model name ``Workspace.answerer`` accepts).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.evaluate.questions import Question, same_document

if TYPE_CHECKING:
    from expertly.workspace import Workspace

RETRAIN_MAX_STEPS = 200
"""Upper bound on steps; the minutes budget or the loss target normally stops it first."""
LEARNED_LOSS = 0.05
"""Training loss below which (three logged steps in a row) the changed pairs count as
learned and training stops."""
_SHAPE = ("batch_size", "grad_accum", "max_seq_len", "seed")


@dataclass(frozen=True)
class Retrained:
    """One retraining run: the model to ask (a run folder), how it was trained, how long."""

    model: str
    mode: str
    train_s: float
    steps: int
    status: str
    pairs: int
    last_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_answer(stale: str, old_answers: tuple[str, ...], new: str) -> str:
    """The model's own stale answer with the old fact replaced by ``new`` (so the training
    answer keeps the wording the model learned), or ``new`` alone when no old answer
    appears in it."""
    for old in sorted(old_answers, key=len, reverse=True):
        found = re.search(re.escape(old), stale, flags=re.IGNORECASE)
        if old and found:
            return stale[: found.start()] + new + stale[found.end() :]
    return new


def changed_pairs(ws: Workspace, question: Question, stale: str) -> list[dict[str, Any]]:
    """Chat-form training rows for the changed fact of ``question`` (which has an update):
    the question answered with the new fact, and the offline generator's pairs from the
    changed document's chunks whose answer holds the new text."""
    from expertly.finetune.synthesize import ChunkSource, offline_pairs

    assert question.update is not None
    update = question.update
    system = ws.settings.answer.closed_book_system
    head = [{"role": "system", "content": system}] if system else []

    def row(q: str, a: str) -> dict[str, Any]:
        return {
            "messages": [*head, {"role": "user", "content": q}, {"role": "assistant", "content": a}]
        }

    rows = [row(question.question, new_answer(stale, question.answers, update.answers[0]))]
    store = ws.store
    if isinstance(store, ChunkSource):
        for info in store.documents():
            if not same_document(info.source, update.document):
                continue
            for chunk in store.chunks(info.id):
                for pair in offline_pairs(chunk, info.title):
                    if update.new in pair.answer and pair.question != question.question:
                        rows.append(row(pair.question, pair.answer))
    return rows


def _plan(ws: Workspace, model: str | None) -> tuple[Any, str, str, Path | None, dict[str, Any]]:
    """(the compared model's ref, the method to train, the base to train on, the adapter
    to continue or None, the compared run's saved settings)."""
    from expertly.finetune.methods import CONTINUABLE
    from expertly.finetune.registry import resolve_model
    from expertly.finetune.rundir import read_json

    ref = resolve_model(ws.root, model or ws.settings.router.model or None)
    saved: dict[str, Any] = {}
    if ref.kind != "merged":
        saved = (read_json(Path(ref.path).parent / "config.json") or {}).get("settings", {})
    if ref.kind == "adapter":
        method = "lora" if ref.method == "qlora" else ref.method
        if method in CONTINUABLE:
            return ref, method, ref.base_model, Path(ref.path), saved
        return ref, "lora", ref.base_model, None, saved
    return ref, "lora", ref.path, None, saved  # a whole fine-tuned model: a LoRA on top


def _mode(ref: Any, method: str, adapter: Path | None) -> str:
    if adapter is not None:
        on = " on the full-precision base" if ref.method == "qlora" else ""
        return f"continued the {ref.method} adapter of {ref.name}{on}"
    on = "the base model" if ref.kind == "adapter" else f"the fine-tuned model {ref.name}"
    return f"fresh LoRA on {on} ({ref.method} cannot be continued)"


def retrain(
    ws: Workspace, question: Question, stale: str, out: Path, *, minutes: float, model: str | None
) -> Retrained:
    """Train the compared fine-tuned model (``model``, default as the finetuned route
    picks it) on the changed pairs of ``question`` for at most ``minutes``; the run goes
    to ``out/retrained/<question id>`` (an earlier one there is replaced)."""
    from expertly.finetune.config import FinetuneSettings
    from expertly.finetune.trainer import run_finetune

    started = time.perf_counter()
    ref, method, base, adapter, saved = _plan(ws, model)
    if adapter is None:  # a fresh LoRA: the method's preset, the run's data shape only
        saved = {k: saved[k] for k in _SHAPE if k in saved}
    known = {f.name for f in fields(FinetuneSettings)}
    settings = FinetuneSettings.preset(
        method,
        **{
            **{k: v for k, v in saved.items() if k in known and k != "method"},
            "max_steps": RETRAIN_MAX_STEPS,
            "eval_every": RETRAIN_MAX_STEPS,
            "max_minutes": minutes,
            "stop_at_loss": LEARNED_LOSS,
            "val_fraction": 0.0,
            "early_stopping_patience": 0,
            "forgetting_check": False,
        },
    )
    folder = out / "retrained"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", question.id)
    shutil.rmtree(folder / name, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    rows = changed_pairs(ws, question, stale)
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = run_finetune(
        data,
        settings=settings,
        runs_dir=folder,
        models_dir=ws.models_dir,
        base_model=base,
        name=name,
        threads=ws.settings.llm.threads,
        init_adapter=adapter,
    )
    return Retrained(
        model=result.run_dir,
        mode=_mode(ref, method, adapter),
        train_s=time.perf_counter() - started,
        steps=result.steps,
        status=result.status,
        pairs=len(rows),
        last_loss=result.train_loss[-1][1] if result.train_loss else None,
    )
