"""Reading JSON Lines files the user gives us (evaluation sets, training data), line by line,
with errors that name the file and the line.

Lines are read in bounded pieces: a line longer than ``MAX_LINE_CHARS`` characters is
refused as soon as that many have been read, naming its number, so that a file that is one
huge JSON document (or a corrupt one) fails at once instead of being held in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError

MAX_LINE_CHARS = 4_000_000  # one record; a training example or a query is far shorter


class JsonlError(ExpertlyError):
    """A JSON Lines file cannot be read; the message names the file, the line and the fix."""


def read_lines(path: Path, *, max_line_chars: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for every line of ``path``, never holding
    more than ``max_line_chars`` characters of one line; a longer line raises ``JsonlError``."""
    if not path.is_file():
        raise JsonlError(f"{path}: no such file")
    number = 0
    with path.open(encoding="utf-8-sig") as fh:
        while True:
            try:
                line = fh.readline(max_line_chars + 1)
            except UnicodeDecodeError as exc:
                raise JsonlError(
                    f"{path}: not UTF-8 text near line {number + 1} ({exc.reason}); "
                    "save it as UTF-8"
                ) from None
            if not line:
                return
            number += 1
            text = line.rstrip("\r\n")
            if len(text) > max_line_chars:
                raise JsonlError(
                    f"{path}, line {number}: longer than {max_line_chars:,} characters, the "
                    "limit for one JSON Lines record; shorten or split that record (or, if "
                    "the file is one large JSON document, write one object per line)"
                )
            yield number, text


def read_jsonl(
    path: Path, *, max_line_chars: int = MAX_LINE_CHARS
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad or too long line raises
    ``JsonlError`` naming both."""
    for number, line in read_lines(path, max_line_chars=max_line_chars):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JsonlError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise JsonlError(f"{path}, line {number}: expected a JSON object")
        yield number, obj
