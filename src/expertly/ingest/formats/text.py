"""Plain text: paragraphs split on blank lines; lines that look like list items stay items."""

from __future__ import annotations

import re

from expertly.ingest.formats._build import Parsed, TextBuilder
from expertly.ingest.formats.encoding import decode_text

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•▪‣◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+\S")


def add_paragraphs(builder: TextBuilder, text: str) -> None:
    """Add ``text`` to ``builder`` as blank-line-separated paragraphs.

    Within a paragraph, lines that start like list items ("- ", "1. ", "• ") become
    separate list segments; the other lines are joined (their breaks are only wrapping).
    """
    for para in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        if not para.strip():
            continue
        lines = para.split("\n")
        if not any(LIST_ITEM.match(line) for line in lines):
            builder.block(para)
            continue
        pending: list[str] = []
        pending_kind = "paragraph"
        for line in lines:
            if LIST_ITEM.match(line):
                _flush(builder, pending, pending_kind)
                pending, pending_kind = [line], "list"
            else:
                pending.append(line)
        _flush(builder, pending, pending_kind)


def _flush(builder: TextBuilder, lines: list[str], kind: str) -> None:
    if lines:
        builder.block(" ".join(lines), "list" if kind == "list" else "paragraph")


def load_txt(data: bytes) -> Parsed:
    """Decode a text file (UTF-8, UTF-16 or a detected legacy encoding) into paragraphs."""
    decoded = decode_text(data)
    builder = TextBuilder()
    add_paragraphs(builder, decoded.text)
    return builder.build(encoding=decoded.encoding)
