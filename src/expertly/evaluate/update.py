"""The cost of an update, measured: a ``volatile`` question's fact changes, and each route
is asked again.

For each volatile question with an ``update``, the document's text ``old`` is replaced by
``new`` on disk, the ingested folder is ingested again (incrementally: only the changed
document is re-embedded), and every route answers the question again. The seconds until a
route gives the new answer are the re-ingest plus its answer; routes that answer without
the documents (``base``, ``finetuned``) can only learn the new fact by retraining, which this
measure does not run: they are reported as answering the new or the stale fact as they do.
The original file is always written back (and re-ingested) afterwards, and a copy is kept in
``OUT/update-backup`` until then, so a killed run can be repaired by hand.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.errors import ExpertlyError
from expertly.evaluate.qa import contains
from expertly.evaluate.questions import Question, Update

if TYPE_CHECKING:
    from expertly.workspace import Workspace

RETRIEVAL_ROUTES = ("rag", "hybrid", "agent", "auto")


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
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Per volatile question and route: the answer after the update, whether it gives the
    new or the stale fact, and the seconds until the new fact (re-ingest + answer)."""
    answerers = {route: ws.answerer(route, model=model) for route in routes}
    results = []
    for q in questions:
        if q.kind != "volatile" or q.update is None:
            continue
        update = q.update
        path, original = _apply(update, q.id, out / "update-backup")
        try:
            started = time.perf_counter()
            ws.ingestor.ingest([Path(update.root)])
            ingest_s = time.perf_counter() - started
            for route, answerer in answerers.items():
                if progress is not None:
                    progress(f"update {q.id}: {route}")
                began = time.perf_counter()
                answer = answerer.answer(q.question)
                answer_s = time.perf_counter() - began
                new = bool(contains(answer.text, update.answers))
                stale = bool(contains(answer.text, q.answers)) and not new
                retrieval = route in RETRIEVAL_ROUTES
                results.append(
                    {
                        "id": q.id,
                        "route": route,
                        "text": answer.text,
                        "answers_new": new,
                        "answers_stale": stale,
                        "ingest_s": ingest_s if retrieval else None,
                        "answer_s": answer_s,
                        "seconds_to_new": (ingest_s + answer_s) if new and retrieval else None,
                        "needs": None if retrieval else "retraining on the changed facts",
                    }
                )
        finally:
            path.write_bytes(original)
            ws.ingestor.ingest([Path(update.root)])
            (out / "update-backup" / path.name).unlink(missing_ok=True)
    return results
