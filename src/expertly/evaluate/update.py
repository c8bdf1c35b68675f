"""The cost of an update, measured: a ``volatile`` question's fact changes, and each route
is asked again.

For each volatile question with an ``update``, the document's text ``old`` is replaced by
``new`` on disk, the ingested folder is ingested again (incrementally: only the changed
document is re-embedded), and every route answers the question again. The seconds until a
route gives the new answer are the re-ingest plus its answer. A fine-tuned model learns
the new fact only by training again: with ``train_minutes`` > 0, a ``finetuned`` or
``hybrid`` route that still answers the stale fact is retrained on the changed pairs
within that budget (``evaluate.retrain``) and asked again, and its time to the new fact is
the retraining plus the answer (plus the re-ingest for ``hybrid``, which reads the
documents too); with 0 they are reported as answering the new or the stale fact as they do,
needing retraining. ``base`` cannot learn it at all.
The original file is always written back (and re-ingested) afterwards, and a copy is kept in
``OUT/update-backup`` until then, so a killed run can be repaired by hand.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.errors import ExpertlyError
from expertly.evaluate.qa import contains
from expertly.evaluate.questions import Question, Update
from expertly.evaluate.retrain import Retrained, retrain

if TYPE_CHECKING:
    from expertly.workspace import Workspace

RETRIEVAL_ROUTES = ("rag", "hybrid", "agent", "auto")
TRAINED_ROUTES = ("finetuned", "hybrid")
NEEDS_RETRAINING = "retraining on the changed facts"

Retrainer = Callable[[Question, str], Retrained]
"""(volatile question, the stale answer) → the retrained model; see ``evaluate.retrain``."""


class UpdateError(ExpertlyError):
    """An update cannot be applied; the message names the question and the document."""


def _apply(update: Update, qid: str, backup: Path) -> tuple[Path, bytes]:
    path = Path(update.root) / update.document
    if not path.is_file():
        raise UpdateError(
            f"question {qid}: update document {path} not found; fix update.root/document"
        )
    original = path.read_bytes()
    text = original.decode("utf-8")
    if update.old not in text:
        raise UpdateError(
            f"question {qid}: {path} does not contain update.old {update.old!r}; "
            "write the text exactly as the document has it"
        )
    backup.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, backup / path.name)
    path.write_text(text.replace(update.old, update.new), encoding="utf-8")
    return path, original


def measure_updates(
    ws: Workspace,
    questions: Sequence[Question],
    routes: Sequence[str],
    out: Path,
    *,
    model: str | None = None,
    train_minutes: float = 0.0,
    retrainer: Retrainer | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Per volatile question and route: the answer after the update, whether it gives the
    new or the stale fact, and the seconds until the new fact (re-ingest + answer, or
    retraining + answer for a retrained route). ``train_minutes`` > 0 retrains fine-tuned
    routes that answer the stale fact (``retrainer``, default ``evaluate.retrain.retrain``
    into ``out/retrained``), once per question for all of them."""
    if train_minutes < 0:
        raise UpdateError(f"--train-minutes must be >= 0, got {train_minutes}")
    answerers = {route: ws.answerer(route, model=model) for route in routes}
    train = retrainer or partial(_retrain, ws, out=out, minutes=train_minutes, model=model)
    results = []
    for q in questions:
        if q.kind != "volatile" or q.update is None:
            continue
        update = q.update
        path, original = _apply(update, q.id, out / "update-backup")
        retrained: Retrained | None = None
        try:
            started = time.perf_counter()
            ws.ingestor.ingest([Path(update.root)])
            ingest_s = time.perf_counter() - started
            for route, answerer in answerers.items():
                if progress is not None:
                    progress(f"update {q.id}: {route}")
                row = _ask(answerer, q, update)
                retrieval = route in RETRIEVAL_ROUTES
                record: dict[str, Any] = {
                    "id": q.id,
                    "route": route,
                    **row,
                    "ingest_s": ingest_s if retrieval else None,
                    "seconds_to_new": (ingest_s + row["answer_s"])
                    if row["answers_new"] and retrieval
                    else None,
                    "train_s": None,
                    "retrained": None,
                    "before_training": None,
                    "needs": None if retrieval else NEEDS_RETRAINING,
                }
                if route in TRAINED_ROUTES and not row["answers_new"]:
                    if train_minutes <= 0:
                        record["needs"] = f"{NEEDS_RETRAINING} (not run: --train-minutes 0)"
                    else:
                        if retrained is None:
                            if progress is not None:
                                progress(f"update {q.id}: retraining ({train_minutes:g} min)")
                            retrained = train(q, row["text"])
                        extra = ingest_s if retrieval else 0.0
                        record.update(_after_training(ws, q, route, row, retrained, extra))
                        if not record["answers_new"]:
                            record["needs"] = (
                                f"more than {train_minutes:g} training minutes "
                                "(still answers without the new fact)"
                            )
                results.append(record)
        finally:
            if retrained is not None:
                ws.forget_finetuned(retrained.model)
            path.write_bytes(original)
            ws.ingestor.ingest([Path(update.root)])
            (out / "update-backup" / path.name).unlink(missing_ok=True)
    return results


def _ask(answerer: Any, q: Question, update: Update) -> dict[str, Any]:
    """One answer after the update: its text, new or stale, and its seconds."""
    began = time.perf_counter()
    answer = answerer.answer(q.question)
    answer_s = time.perf_counter() - began
    new = bool(contains(answer.text, update.answers))
    return {
        "text": answer.text,
        "answers_new": new,
        "answers_stale": bool(contains(answer.text, q.answers)) and not new,
        "answer_s": answer_s,
    }


def _after_training(
    ws: Workspace,
    q: Question,
    route: str,
    before: dict[str, Any],
    done: Retrained,
    ingest_s: float,
) -> dict[str, Any]:
    """The retrained model's answer for ``route`` (the answer before training kept) and,
    when it gives the new fact, the seconds to it: ``ingest_s`` (0 for a route that reads
    no documents) + retraining + this answer, model loading included."""
    assert q.update is not None
    answer = _ask(ws.answerer(route, model=done.model, cache=False), q, q.update)
    return {
        **answer,
        "seconds_to_new": ingest_s + done.train_s + answer["answer_s"]
        if answer["answers_new"]
        else None,
        "train_s": done.train_s,
        "retrained": done.to_dict(),
        "before_training": {k: before[k] for k in ("text", "answers_new", "answers_stale")},
        "needs": None,
    }


def _retrain(
    ws: Workspace, q: Question, stale: str, *, out: Path, minutes: float, model: str | None
) -> Retrained:
    return retrain(ws, q, stale, out, minutes=minutes, model=model)
