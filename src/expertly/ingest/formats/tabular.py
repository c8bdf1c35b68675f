"""Record formats: CSV, JSON and JSON Lines. Every record becomes one "row" segment.

A row's text names each value with its column (``"Header1: v1; Header2: v2"``) or, for
JSON, its flattened key (``"address.city: Oslo"``), so that any chunk of rows can be read,
embedded and cited on its own without the header row or the enclosing object.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from expertly.ingest.formats._build import (
    FormatError,
    Parsed,
    TextBuilder,
    clean_inline,
    format_row,
    row_names,
)
from expertly.ingest.formats.encoding import decode_text

_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64_000
# Python refuses to convert integers of more digits than this (sys.int_info); a longer
# number is kept as the digits it is written with, so the file is still indexed.
_MAX_INT_DIGITS = 4300


def _parse_int(digits: str) -> int | str:
    return int(digits) if len(digits.lstrip("-")) < _MAX_INT_DIGITS else digits


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    """Sniff the dialect; trust it only if its delimiter occurs in the header line,
    otherwise take the candidate delimiter that is most frequent there (default comma)."""
    first = sample.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
        if sniffed.delimiter in first:
            return sniffed
    except csv.Error:
        pass  # no consistent delimiter in the sample: fall back to counting below
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])

    class Counted(csv.excel):
        delimiter = best if counts[best] else ","

    return Counted


def load_csv(data: bytes) -> Parsed:
    """Read a CSV/TSV file: first non-empty row is the header, each data row one segment."""
    decoded = decode_text(data)
    text = decoded.text
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:_SNIFF_CHARS]))
    builder = TextBuilder()
    names: list[str] | None = None
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if names is None:
                names = row_names(row)
            else:
                builder.block(format_row(names, row), "row")
    except csv.Error as exc:
        raise FormatError(f"malformed CSV (line {reader.line_num}: {exc})") from exc
    if names is None:
        raise FormatError("no text (the CSV has no non-empty rows)")
    parsed = builder.build(encoding=decoded.encoding)
    if not parsed.segments:
        raise FormatError("no data rows (the CSV has a header only)")
    return parsed


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, text)`` pairs of a JSON value; nulls and empty values are left out,
    lists of scalars are joined with ", ", other lists are indexed (``items.0.name``)."""
    pairs: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:  # iterative: deep nesting cannot exhaust the recursion limit
        key, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            if all(not isinstance(v, dict | list) for v in item):
                joined = ", ".join(_scalar(v) for v in item if v is not None and v != "")
                if joined:
                    pairs.append((key, joined))
            else:
                stack.extend(
                    (f"{key}.{i}" if key else str(i), v) for i, v in reversed(list(enumerate(item)))
                )
        elif item is not None and item != "":
            pairs.append((key, _scalar(item)))
    return pairs


def record_text(record: Any) -> str:
    """One record as ``"key: value; key2: value2"`` (a bare scalar as itself)."""
    return "; ".join(
        f"{k}: {clean_inline(v)}" if k else clean_inline(v) for k, v in flatten(record)
    )


def _build(records: list[Any], what: str, encoding: str) -> Parsed:
    builder = TextBuilder()
    for record in records:
        builder.block(record_text(record), "row")
    parsed = builder.build(encoding=encoding)
    if not parsed.segments:
        raise FormatError(f"no text (the {what} has no non-empty records)")
    return parsed


def load_json(data: bytes) -> Parsed:
    """A JSON object (one record) or array (one record per element)."""
    decoded = decode_text(data)
    if not decoded.text.strip():
        raise FormatError("no text (the file is only whitespace)")
    try:
        value = json.loads(decoded.text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError as exc:
        raise FormatError("invalid JSON (nested too deeply)") from exc
    return _build(value if isinstance(value, list) else [value], "JSON", decoded.encoding)


def load_jsonl(data: bytes) -> Parsed:
    """JSON Lines: one JSON value per non-blank line."""
    records: list[Any] = []
    decoded = decode_text(data)
    # split on "\n" only: JSON strings may legally hold U+2028 and friends
    for lineno, line in enumerate(decoded.text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line, parse_int=_parse_int))
        except json.JSONDecodeError as exc:
            raise FormatError(
                f"invalid JSON on line {lineno} (column {exc.colno}: {exc.msg})"
            ) from exc
        except RecursionError as exc:
            raise FormatError(f"invalid JSON on line {lineno} (nested too deeply)") from exc
    return _build(records, "JSONL file", decoded.encoding)
