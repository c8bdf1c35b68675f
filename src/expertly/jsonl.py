"""Reading JSON Lines files the user gives us (evaluation sets, training pairs), line by line,
with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line raises naming both."""
    if not path.is_file():
        raise ExpertlyError(f"{path}: no such file")
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExpertlyError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ExpertlyError(f"{path}, line {number}: expected a JSON object")
            yield number, obj
