"""Training data: JSONL in three forms, validated line by line, normalised to chat messages.

Each line is one JSON object in one of these forms (detected per line)::

    {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
    {"instruction": "...", "input": "...", "output": "..."}      # "input" is optional
    {"prompt": "...", "completion": "..."}

Every form becomes a list of chat messages, rendered with the model's own chat template, and
only the assistant's tokens are learned (all other labels are -100): the model is taught to
answer, not to predict the questions. A file may not mix forms, because a mixed file is
nearly always two datasets concatenated by mistake. Any bad line stops loading with a
``DatasetError`` naming the file, the line number and what is wrong, so the user can fix it
before paying for a training run. Blank lines are skipped.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError
from expertly.jsonl import MAX_LINE_CHARS, JsonlError, read_lines

ROLES = ("system", "user", "assistant")
IGNORE = -100  # the label the loss skips (torch's CrossEntropyLoss ignore_index)


class DatasetError(ExpertlyError):
    """A training file cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Example:
    """One training conversation and where it came from (for error messages)."""

    messages: tuple[dict[str, str], ...]
    source: str
    line: int
    form: str


@dataclass(frozen=True)
class Encoded:
    """One tokenised example: ``labels`` equal ``input_ids`` on assistant tokens, else -100."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool


def _text(obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str:
    """``obj[key]`` as a non-empty string, or a DatasetError saying what is wrong."""
    if key not in obj:
        if optional:
            return ""
        raise DatasetError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str):
        raise DatasetError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    if not value.strip() and not optional:
        raise DatasetError(f"{where}: field '{key}' is empty")
    return value


def _chat(obj: dict[str, Any], where: str) -> list[dict[str, str]]:
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise DatasetError(f"{where}: 'messages' must be a non-empty list")
    out = []
    for i, msg in enumerate(messages):
        at = f"{where}: messages[{i}]"
        if not isinstance(msg, dict):
            raise DatasetError(f"{at} must be an object with 'role' and 'content'")
        role = _text(msg, "role", at)
        if role not in ROLES:
            raise DatasetError(f"{at}: unknown role {role!r}; valid: {', '.join(ROLES)}")
        if role == "system" and i != 0:
            raise DatasetError(f"{at}: a system message may only come first")
        out.append({"role": role, "content": _text(msg, "content", at)})
    if not any(m["role"] == "assistant" for m in out):
        raise DatasetError(f"{where}: no assistant message, so there is nothing to learn")
    return out


def parse_line(obj: Any, where: str) -> tuple[str, list[dict[str, str]]]:
    """The form of one decoded JSONL line and its chat messages."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        return "chat", _chat(obj, where)
    if "instruction" in obj or "output" in obj:
        instruction = _text(obj, "instruction", where)
        extra = _text(obj, "input", where, optional=True)
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        answer = _text(obj, "output", where)
        return "instruction", [{"role": "user", "content": user}, _assistant(answer)]
    if "prompt" in obj or "completion" in obj:
        prompt = _text(obj, "prompt", where)
        answer = _text(obj, "completion", where)
        return "completion", [{"role": "user", "content": prompt}, _assistant(answer)]
    keys = ", ".join(sorted(obj)) or "none"
    raise DatasetError(
        f"{where}: unknown form (keys: {keys}); use 'messages', "
        "'instruction'/'input'/'output' or 'prompt'/'completion'"
    )


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def load_jsonl(path: Path | str) -> list[Example]:
    """Every example of a JSONL file; the first bad line raises ``DatasetError`` (a line
    longer than ``jsonl.MAX_LINE_CHARS`` is refused before it is read whole)."""
    path = Path(path)
    examples: list[Example] = []
    first_form: tuple[str, int] | None = None
    for number, raw in _lines(path):
        if not raw.strip():
            continue
        where = f"{path}, line {number}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        form, messages = parse_line(obj, where)
        if first_form is None:
            first_form = (form, number)
        elif form != first_form[0]:
            raise DatasetError(
                f"{where}: {form} form, but line {first_form[1]} is {first_form[0]} form; "
                "a file must use one form (split it into two files)"
            )
        examples.append(Example(tuple(messages), str(path), number, form))
    if not examples:
        raise DatasetError(f"{path}: no examples (the file is empty)")
    return examples


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's numbered lines, each at most ``MAX_LINE_CHARS`` (a longer one, a missing
    file or non-UTF-8 text raise ``DatasetError`` naming the file and line)."""
    try:
        yield from read_lines(path, max_line_chars=MAX_LINE_CHARS)
    except JsonlError as exc:
        raise DatasetError(str(exc)) from None


def file_digest(path: Path | str) -> str:
    """SHA-256 of a data file, recorded so that ``--resume`` can refuse changed data."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split(
    examples: Sequence[Example], val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A seeded shuffle cut into (train, validation); the same seed gives the same split.

    At least one example stays in training; with ``val_fraction`` > 0 and two or more
    examples, at least one goes to validation.
    """
    if not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = list(examples)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    if val_fraction > 0 and len(order) > 1:
        n_val = min(max(n_val, 1), len(order) - 1)
    return order[n_val:], order[:n_val]


def encode(tokenizer: Any, messages: Sequence[dict[str, str]], max_seq_len: int) -> Encoded:
    """Render ``messages`` with the chat template; label only the assistant turns.

    Each assistant turn's characters are found by rendering the chat up to that turn twice,
    with the assistant header opened and with the turn written, so any template whose
    rendering only grows as messages are added works. Tokens whose first character falls
    inside an assistant turn (its text and end-of-turn marker) are learned.
    """
    chat = list(messages)
    full = _render(tokenizer, chat, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, msg in enumerate(chat):
        if msg["role"] != "assistant":
            continue
        start = len(_render(tokenizer, chat[:i], generation_prompt=True))
        upto = _render(tokenizer, chat[: i + 1], generation_prompt=False)
        if not full.startswith(upto):
            raise DatasetError(
                "the model's chat template renders a conversation differently from its "
                "prefixes, so assistant turns cannot be located; use another model"
            )
        spans.append((start, len(upto)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = [int(t) for t in enc["input_ids"]]
    labels = [
        tok if any(s <= off[0] < e for s, e in spans) else IGNORE
        for tok, off in zip(ids, enc["offset_mapping"], strict=True)
    ]
    truncated = len(ids) > max_seq_len
    return Encoded(ids[:max_seq_len], labels[:max_seq_len], truncated)


def _render(tokenizer: Any, chat: list[dict[str, str]], *, generation_prompt: bool) -> str:
    if not chat:
        return ""
    try:
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=generation_prompt
        )
    except ValueError as exc:  # no chat template, or one that rejects these roles
        raise DatasetError(f"the model cannot format this chat: {exc}") from exc
    return str(text)


def encode_all(
    tokenizer: Any, examples: Sequence[Example], max_seq_len: int
) -> tuple[list[Encoded], int]:
    """Encoded examples that keep at least one assistant token, and how many were truncated.

    An example cut so short that no assistant token is left teaches nothing and is an error:
    the message names its line and suggests a larger ``max_seq_len``.
    """
    out, truncated = [], 0
    for ex in examples:
        enc = encode(tokenizer, ex.messages, max_seq_len)
        if all(label == IGNORE for label in enc.labels):
            raise DatasetError(
                f"{ex.source}, line {ex.line}: no assistant token fits in max_seq_len = "
                f"{max_seq_len} tokens; raise --max-seq-len or shorten the prompt"
            )
        truncated += enc.truncated
        out.append(enc)
    return out, truncated
