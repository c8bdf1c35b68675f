"""Question sets for ``expertly compare``: JSON Lines, one question a line.

Fields: ``question`` (required); ``answers`` (a list of references; ``answer``, one string,
is accepted too, as ``examples/questions.jsonl`` writes it); optional ``relevant`` (document
ids or source paths that hold the answer; ``source``, one path, is accepted too); ``kind``
(``factual | style | multi-step | unanswerable | volatile``); ``choices`` (e.g. ``["yes",
"no", "maybe"]``); ``id``; ``seen`` (true when the fine-tuning data came from this
question's documents); ``must_contain`` (terms a correct answer must hold); ``pattern`` (a
regular expression the answer must match, the template of a ``style`` question: scored as
*adherence*); ``update`` (for a ``volatile`` question: how its fact changes, see
``Update``). ``seen`` may also be derived: pass the documents the fine-tuning data was
built from (``--trained-on``) and a question is *seen* when one of its ``relevant``
documents is among them, so that the report never mixes facts the model was trained on
with facts it never saw. A training pair as
``expertly dataset build`` writes it is read as a question too (``from_pair``).
Every error names the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertly.jsonl import JsonlError, read_jsonl

KINDS = ("factual", "style", "multi-step", "unanswerable", "volatile")


@dataclass(frozen=True)
class Update:
    """How a ``volatile`` question's fact changes: in ``document`` (a path relative to
    ``root``, the folder that was ingested) the text ``old`` becomes ``new``, after which
    ``answers`` are the right answers."""

    root: str
    document: str
    old: str
    new: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    """One question of a compare set; ``seen`` is None when nothing says either way."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    relevant: tuple[str, ...] = ()
    kind: str = "factual"
    choices: tuple[str, ...] = ()
    seen: bool | None = None
    must_contain: tuple[str, ...] = ()
    update: Update | None = None
    pattern: str = ""


def _strings(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise JsonlError(f"{where}: {field!r} must be a string or a list of strings")


def parse_update(value: Any, where: str, base: Path) -> Update:
    """An ``update`` object; ``root`` is relative to ``base`` (the question file's folder)."""
    if not isinstance(value, dict):
        raise JsonlError(
            f"{where}: 'update' must be an object with root, document, old, new, answers"
        )
    missing = [k for k in ("root", "document", "old", "new", "answers") if not value.get(k)]
    if missing:
        raise JsonlError(f"{where}: 'update' lacks {', '.join(missing)}")
    for key in ("root", "document", "old", "new"):
        if not isinstance(value[key], str):
            raise JsonlError(f"{where}: update.{key} must be a string")
    return Update(
        root=str((base / value["root"]).resolve()),
        document=value["document"],
        old=value["old"],
        new=value["new"],
        answers=_strings(value["answers"], "update.answers", where),
    )


def from_pair(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """A training pair as ``expertly dataset build`` writes it (``messages`` with one user
    and one assistant turn, ``metadata`` with ``doc_id`` and the answer's ``span``) as a
    question record: the user turn is the question, the span (else the assistant's reply)
    the reference, the document the relevant one. So its ``val.jsonl`` (documents the model
    was not trained on) or ``train.jsonl`` (documents it was) is a compare set as it is."""
    messages = obj["messages"]
    turns = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    users = [m.get("content") for m in turns if m.get("role") == "user"]
    replies = [m.get("content") for m in turns if m.get("role") == "assistant"]
    if len(users) != 1 or len(replies) != 1:
        raise JsonlError(
            f"{where}: a 'messages' line must hold one user and one assistant turn to be a "
            "question; write question/answers lines for longer conversations"
        )
    found = obj.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    record = {k: v for k, v in obj.items() if k not in ("messages", "metadata")}
    record.setdefault("question", users[0])
    record.setdefault("answers", meta.get("span") or replies[0])
    if meta.get("doc_id"):
        record.setdefault("relevant", meta["doc_id"])
    return record


def parse_question(
    obj: dict[str, Any], where: str, number: int, base: Path = Path(".")
) -> Question:
    """One record to a ``Question``; ``where`` ("FILE, line N") prefixes every error and
    ``base`` is the folder relative paths (an ``update``'s root) start from. A training pair
    (``messages``) is read as ``from_pair`` says."""
    if "messages" in obj and "question" not in obj:
        obj = from_pair(obj, where)
    text = obj.get("question")
    if not isinstance(text, str) or not text.strip():
        raise JsonlError(f"{where}: 'question' is missing or empty; every line needs one")
    answers = _strings(obj.get("answers", obj.get("answer")), "answers", where)
    kind = obj.get("kind", "factual")
    if kind not in KINDS:
        raise JsonlError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not answers and kind != "unanswerable":
        raise JsonlError(
            f"{where}: no 'answers'; give the reference answer(s), or set "
            '"kind": "unanswerable" for a question the documents cannot answer'
        )
    choices = _strings(obj.get("choices"), "choices", where)
    if choices and len(choices) < 2:
        raise JsonlError(f"{where}: 'choices' needs at least two entries")
    seen = obj.get("seen")
    if seen is not None and not isinstance(seen, bool):
        raise JsonlError(f"{where}: 'seen' must be true or false")
    relevant = _strings(obj.get("relevant", obj.get("source")), "relevant", where)
    pattern = obj.get("pattern", "")
    if not isinstance(pattern, str):
        raise JsonlError(f"{where}: 'pattern' must be a string (a regular expression)")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise JsonlError(
            f"{where}: 'pattern' is not a valid regular expression ({exc}); escape literal "
            "characters such as ( [ . * + ? with a backslash"
        ) from None
    return Question(
        id=str(obj.get("id", f"line{number}")),
        question=text.strip(),
        answers=answers,
        relevant=relevant,
        kind=kind,
        choices=choices,
        seen=seen,
        must_contain=_strings(obj.get("must_contain"), "must_contain", where),
        update=parse_update(obj["update"], where, base) if "update" in obj else None,
        pattern=pattern,
    )


def load_questions(
    path: Path, *, limit: int | None = None, trained_on: Sequence[str] = ()
) -> list[Question]:
    """The questions of ``path`` (the first ``limit``), with ``seen`` derived from
    ``trained_on`` where the line does not say; duplicate ids are an error."""
    questions: list[Question] = []
    ids: dict[str, int] = {}
    for number, obj in read_jsonl(path):
        q = parse_question(obj, f"{path}, line {number}", number, path.parent)
        if q.id in ids:
            raise JsonlError(
                f"{path}, line {number}: id {q.id!r} already used on line {ids[q.id]}; "
                "ids must be unique (results are resumed by id)"
            )
        ids[q.id] = number
        if q.seen is None and trained_on:
            q = Question(**{**q.__dict__, "seen": matches_any(q.relevant, trained_on)})
        questions.append(q)
        if limit is not None and len(questions) >= limit:
            break
    if not questions:
        raise JsonlError(f"{path}: no questions; write one JSON object per line")
    return questions


def matches_any(documents: Iterable[str], names: Iterable[str]) -> bool:
    """Whether a document (id or source path) matches one of ``names``: equal, or one is a
    path suffix of the other (``handbook/leave.md`` matches ``/data/docs/handbook/leave.md``)."""
    names = list(names)
    return any(same_document(d, n) for d in documents for n in names)


def same_document(a: str, b: str) -> bool:
    """Equal, or one ends with ``/`` + the other: ids and sources are written both ways."""
    a, b = a.replace("\\", "/"), b.replace("\\", "/")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)
