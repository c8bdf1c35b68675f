"""The JSON Lines reader: numbered objects, and errors naming the file, the line and the fix,
with over-long lines refused before they are held in memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from expertly.errors import ExpertlyError
from expertly.finetune.datasets import DatasetError, load_jsonl
from expertly.jsonl import MAX_LINE_CHARS, JsonlError, read_jsonl, read_lines


def test_objects_are_numbered_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('\ufeff{"a": 1}\n\n{"a": 2}\r\n{"a": 3}', encoding="utf-8")
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (3, {"a": 2}), (4, {"a": 3})]


def test_the_line_limit_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('"abcd"\n"abcde"\n', encoding="utf-8")
    assert [n for n, _ in read_lines(path, max_line_chars=7)] == [1, 2]
    with pytest.raises(JsonlError) as info:
        list(read_lines(path, max_line_chars=6))
    message = str(info.value)
    assert f"{path}, line 2: longer than 6 characters" in message
    assert "shorten or split that record" in message
    assert isinstance(info.value, ExpertlyError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[1, 2]\n", "line 1: expected a JSON object"), ('{"a": 1}\n{oops\n', "line 2: not valid")],
)
def test_bad_lines_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(JsonlError, match=expected):
        list(read_jsonl(path))


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(JsonlError, match="no such file"):
        list(read_jsonl(tmp_path / "absent.jsonl"))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"q": "caf\xe9"}\n')
    with pytest.raises(JsonlError, match="not UTF-8 text near line 1"):
        list(read_jsonl(latin))


_CHILD = """
import resource, sys, time
from pathlib import Path
from expertly.finetune.datasets import DatasetError, load_jsonl
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    load_jsonl(Path(sys.argv[1]))
except DatasetError as exc:
    print(exc)
print(time.monotonic() - started)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_a_huge_training_line_fails_fast_without_being_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    row = json.dumps({"prompt": "q", "completion": "a"})
    with path.open("w", encoding="utf-8") as fh:
        fh.write(row + "\n")
        fh.write('{"prompt": "' + "x" * (40 * MAX_LINE_CHARS // 4) + '", "completion": "a"}\n')
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    message, seconds, growth_mb = proc.stdout.strip().splitlines()
    assert message.startswith(f"{path}, line 2: longer than {MAX_LINE_CHARS:,} characters")
    assert float(seconds) < 2.0
    assert float(growth_mb) < 4 * MAX_LINE_CHARS / 1e6 + 16  # a few copies of the limit


def test_datasets_use_the_same_limit(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "' + "x" * MAX_LINE_CHARS + '", "completion": "a"}\n')
    with pytest.raises(DatasetError, match="line 1: longer than"):
        load_jsonl(path)
