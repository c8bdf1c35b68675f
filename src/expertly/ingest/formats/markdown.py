"""Markdown: ATX and setext headings, fenced and indented code, lists, pipe tables, quotes.

A small line-based reader, not a full CommonMark parser: it recovers the structure the
chunker needs (sections, code kept whole, list items, table rows with their header) and
makes the text read naturally (link targets, image markup and bold markers are dropped).
YAML front matter is not indexed; its ``title:`` becomes the document title.
"""

from __future__ import annotations

import re

from expertly.ingest.formats._build import (
    Parsed,
    TextBuilder,
    format_row,
    row_names,
)
from expertly.ingest.formats.encoding import decode_text

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST = re.compile(r"^\s*((?:[-*+]|\d{1,9}[.)])\s+.*)$")
_QUOTE = re.compile(r"^ {0,3}>[ ]?")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_HTML_NOISE = re.compile(r"<!--.*?-->|<br\s*/?>", re.IGNORECASE)
_YAML_LINE = re.compile(r"^(?:[\w.-]+\s*:|\s|-\s|#)")  # key:, indented, list item, comment
_FRONT_TITLE = re.compile(r"^title\s*:\s*(.*?)\s*$", re.IGNORECASE)


def inline(text: str) -> str:
    """Drop inline markup that only gets in the way of reading and searching."""
    text = _HTML_NOISE.sub(" ", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    return _BOLD.sub(lambda m: m.group(1) or m.group(2), text)


def _front_matter(lines: list[str]) -> tuple[str, int]:
    """(title, index of the first body line) for YAML front matter at the top."""
    if not lines or lines[0].strip() != "---":
        return "", 0
    for j in range(1, len(lines)):
        if lines[j].strip() in ("---", "..."):
            body = [line for line in lines[1:j] if line.strip()]
            if not body or not all(_YAML_LINE.match(line) for line in body):
                return "", 0  # a thematic break above ordinary text, not front matter
            title = ""
            for line in lines[1:j]:
                m = _FRONT_TITLE.match(line)
                if m:
                    title = m.group(1).strip("'\"")
                    break
            return title, j + 1
    return "", 0


def _is_table_sep(line: str) -> bool:
    return "-" in line and _TABLE_SEP.match(line) is not None


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [inline(c.replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", line)]


class _Reader:
    """Walks the lines once, keeping the paragraph or list item being collected."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.b = TextBuilder()
        self.para: list[str] = []
        self.item: list[str] | None = None

    def flush(self) -> None:
        if self.para:
            self.b.block(inline(" ".join(self.para)))
            self.para = []
        if self.item is not None:
            self.b.block(inline(" ".join(self.item)), "list")
            self.item = None

    def read(self, i: int) -> None:
        lines, n = self.lines, len(self.lines)
        while i < n:
            line = lines[i]
            fence = _FENCE.match(line)
            if fence:
                i = self._fence(i, fence.group(1))
                continue
            if not line.strip():
                self.flush()
            elif self.para and self.item is None and _SETEXT.match(line):
                level = 1 if line.strip().startswith("=") else 2
                self.b.heading(inline(" ".join(self.para)), level)
                self.para = []
            elif atx := _ATX.match(line):
                self.flush()
                self.b.heading(inline(atx.group(2) or ""), len(atx.group(1)))
            elif _THEMATIC.match(line):
                self.flush()
            elif "|" in line and i + 1 < n and _is_table_sep(lines[i + 1]):
                i = self._table(i)
                continue
            elif item := _LIST.match(line):
                self.flush()
                self.item = [item.group(1)]
            elif _INDENTED.match(line) and not self.para and self.item is None:
                i = self._indented(i)
                continue
            else:
                text = _QUOTE.sub("", line)
                while _QUOTE.match(text):
                    text = _QUOTE.sub("", text)
                (self.item if self.item is not None else self.para).append(text)
            i += 1
        self.flush()

    def _fence(self, i: int, marker: str) -> int:
        """Collect a fenced block (an unclosed fence runs to the end); returns the next line."""
        self.flush()
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
        body: list[str] = []
        i += 1
        while i < len(self.lines) and not closing.match(self.lines[i]):
            body.append(self.lines[i])
            i += 1
        self.b.block("\n".join(body), "code")
        return i + 1

    def _indented(self, i: int) -> int:
        self.flush()
        body: list[str] = []
        while i < len(self.lines) and (_INDENTED.match(self.lines[i]) or not self.lines[i].strip()):
            line = self.lines[i]
            body.append(line[4:] if line.startswith("    ") else line[1:])
            i += 1
        self.b.block("\n".join(body), "code")
        return i

    def _table(self, i: int) -> int:
        self.flush()
        header = _cells(self.lines[i])
        names = row_names(header)
        i += 2
        rows = 0
        while i < len(self.lines) and self.lines[i].strip() and "|" in self.lines[i]:
            self.b.block(format_row(names, _cells(self.lines[i])), "row")
            rows += 1
            i += 1
        if not rows:  # a header alone still carries text
            self.b.block("; ".join(c for c in header if c.strip()), "row")
        return i


def load_markdown(data: bytes) -> Parsed:
    """Decode and parse a Markdown file."""
    decoded = decode_text(data)
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    title, start = _front_matter(lines)
    reader = _Reader(lines)
    reader.read(start)
    return reader.b.build(title, decoded.encoding)
