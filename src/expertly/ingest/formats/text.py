"""Plain text: headings, aligned tables, paragraphs and list items.

Manuals and policies written as plain text mark their structure with characters, not
markup, and the loader reads the common conventions:

* **Headings.** A line underlined by a ruler (``=====`` opens a top-level section, ``-----``
  or another repeated character a second-level one), when it is in capitals or stands
  alone ("4. TIME LIMITS" over a line of dashes). A line in capitals standing alone between
  blank lines is a second-level heading too. A ruler under anything else (a block of
  contact details) only separates: it is dropped, like a ruler above a heading.
* **Aligned tables.** A header line over a rule of dash groups (``-------  -----  ----``),
  then the rows down to the next blank line: each dash group is a column, each row becomes
  a ``Header: value; ...`` row like a Markdown or CSV table's, and a line whose first column
  is empty continues the row above it (a wrapped cell). Joined into one paragraph, as it
  would be otherwise, a table of prices by band reads "Up to £300 £2.50 All customers
  £300.01 to £500 £4.00 ...": no row can be told from its neighbour.
* **Two-column lists.** A paragraph whose every line is a short term, two spaces or more and
  its description, all descriptions starting in one column (continuation lines indented to
  it), keeps one entry per line ("CL-3A  Theft of personal possessions away from home"):
  joined, each form's description would run into the next form's code.
* **Paragraphs** are split on blank lines; within one, lines that start like list items
  ("- ", "1. ", "• ") become separate list segments and the other lines are joined (their
  breaks are only wrapping).

The document's title is the first heading when it underlines the opening lines (a title
block); otherwise the loader leaves it to the file name.
"""

from __future__ import annotations

import re

from expertly.ingest.formats._build import Parsed, TextBuilder, format_row, row_names
from expertly.ingest.formats.encoding import decode_text

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•▪‣◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+\S")
_RULER = re.compile(r"^\s*([=\-~*#_+])\1{2,}\s*$")
"""A line of one repeated character: it underlines a heading or separates sections."""
_TABLE_RULE = re.compile(r"^\s*[-=]{3,}(?:[ \t]+[-=]{3,})+\s*$")
"""Two or more groups of dashes under a table's header, one per column."""
_DASHES = re.compile(r"[-=]{3,}")
_MAX_HEADING = 100
_TITLE_LINES = 6
"""How far down the file a ruler may underline the document's title."""


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


def _capitals(line: str) -> bool:
    """Whether ``line`` is written in capitals: letters, none lower case, three or more."""
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and not any(c.islower() for c in letters)


def _heading_like(line: str) -> bool:
    """Whether ``line`` could be a heading: short, with letters, not ending a sentence."""
    text = line.strip()
    return (
        0 < len(text) <= _MAX_HEADING
        and any(c.isalpha() for c in text)
        and not text.endswith((".", ",", ";"))
    )


def _columns(rule: str) -> list[int]:
    """Where each column of an aligned table starts: the first dash of each group."""
    return [m.start() for m in _DASHES.finditer(rule)]


def _cut(line: str, starts: list[int]) -> list[str]:
    """``line``'s cells at the column ``starts``. A cell starts where a column does, after a
    gap of two spaces or more, or up to two characters either side of it (hand-aligned
    text drifts); where text runs across a column's start with no gap, the cell spans
    that column, which is left empty ("within 30 days of a complete claim (all
    services)" across three columns)."""
    line = line.rstrip()
    cells = [""] * len(starts)
    cuts = [(0, 0)]  # (column, where its text starts)
    for column, start in enumerate(starts[1:], 1):
        at = next(
            (
                t
                for t in (start, start - 1, start + 1, start - 2, start + 2)
                if cuts[-1][1] + 2 <= t < len(line)
                and line[t - 2 : t] == "  "
                and not line[t].isspace()
            ),
            None,
        )
        if at is not None:
            cuts.append((column, at))
    ends = [at for _, at in cuts[1:]] + [len(line)]
    for (column, at), end in zip(cuts, ends, strict=True):
        cells[column] = line[at:end].strip()
    return cells


_ENTRY = re.compile(r"^(\s*)(\S+(?: \S+){0,5}?)( {2,})(\S.*)$")
"""A line of a two-column list: a short term, two spaces or more, its description."""
_DRIFT = 2
"""How far a description may start from its column: hand-aligned text drifts."""


def _entries(lines: list[str]) -> list[str]:
    """The entries of a paragraph laid out as a two-column list ("CL-3A  Theft of personal
    possessions away from the home, including" over "       theft from an unattended
    vehicle"): two lines or more with a term, two spaces or more and a description, the
    descriptions starting in one column, and every other line a continuation indented to
    that column or a term running up to it ("Room hire bookings and invoices kept for 6
    years", one space short). Each entry is one line, its continuations joined; empty
    when the paragraph is laid out otherwise."""
    starts = [len(m.group(1) + m.group(2) + m.group(3)) for m in map(_ENTRY.match, lines) if m]
    if len(starts) < 2 or max(starts) - min(starts) > 2 * _DRIFT:
        return []
    column = sorted(starts)[len(starts) // 2]
    entries: list[str] = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        cut = next(
            (
                p
                for p in sorted(
                    range(column - _DRIFT, column + _DRIFT + 1), key=lambda p: abs(p - column)
                )
                if 0 < p < len(line) and line[p - 1] == " " and line[p] != " "
            ),
            None,
        )
        if entries and abs(indent - column) <= _DRIFT:
            entries[-1] = f"{entries[-1]} {line.strip()}"
        elif cut is not None and line[:cut].strip() and len(line[:cut].split()) <= 6:
            entries.append(f"{' '.join(line[:cut].split())} {line[cut:].strip()}")
        else:
            return []
    return entries if len(entries) > 1 else []


class _Reader:
    """Walks the lines of a text file, handing headings, tables and paragraphs to the
    builder in order."""

    def __init__(self, text: str) -> None:
        self.lines = text.expandtabs(8).split("\n")
        self.b = TextBuilder()
        self.para: list[str] = []  # lines of the paragraph being read
        self.title = ""
        self.seen_text = 0  # non-blank lines read so far

    def read(self) -> None:
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            if _TABLE_RULE.match(line):
                if self.para:
                    i = self._table(i)
                    continue
                self._paragraph()  # a rule with no header over it only separates
                i += 1
                continue
            ruler = _RULER.match(line)
            if ruler:
                self._ruler(ruler.group(1))
            elif line.strip():
                self.para.append(line)
                self.seen_text += 1
            else:
                self._paragraph()
            i += 1
        self._paragraph()

    def _ruler(self, char: str) -> None:
        """A ruler: it underlines the line above it when that line is a heading (in
        capitals, or alone in its paragraph); else it only separates what is around it."""
        if self.para and _heading_like(self.para[-1]):
            line = self.para[-1]
            if _capitals(line) or len(self.para) == 1:
                self.para.pop()
                self._paragraph()
                level = 1 if char == "=" else 2
                if not self.title and level == 1 and self.seen_text <= _TITLE_LINES:
                    self.title = " ".join(line.split())
                self.b.heading(line, level)
                return
        self._paragraph()

    def _paragraph(self) -> None:
        """Hand the lines read since the last blank line, ruler or table to the builder: a
        line in capitals alone is a heading, anything else paragraphs and list items."""
        lines, self.para = self.para, []
        if not lines:
            return
        if len(lines) == 1 and _capitals(lines[0]) and _heading_like(lines[0]):
            self.b.heading(lines[0], 2)
            return
        entries = _entries(lines)
        if entries:
            for entry in entries:
                self.b.block(entry, "list")
            return
        add_paragraphs(self.b, "\n".join(lines))

    def _table(self, i: int) -> int:
        """An aligned table whose rule is line ``i``: its header is the line above it, its
        rows the lines below it down to a blank line. Returns the next line to read."""
        header_line = self.para.pop()
        self._paragraph()
        starts = _columns(self.lines[i])
        names = row_names(_cut(header_line, starts))
        rows: list[list[str]] = []
        j = i + 1
        while j < len(self.lines) and self.lines[j].strip() and not _RULER.match(self.lines[j]):
            cells = _cut(self.lines[j], starts)
            if rows and not cells[0]:  # a wrapped cell continues the row above
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
            else:
                rows.append(cells)
            self.seen_text += 1
            j += 1
        for cells in rows:
            self.b.block(format_row(names, cells), "row")
        if not rows:  # a header alone still carries text
            self.b.block("; ".join(n for n in names if n), "row")
        return j


def load_txt(data: bytes) -> Parsed:
    """Decode a text file (UTF-8, UTF-16 or a detected legacy encoding) into headings,
    table rows, paragraphs and list items."""
    decoded = decode_text(data)
    reader = _Reader(decoded.text.replace("\r\n", "\n").replace("\r", "\n"))
    reader.read()
    parsed = reader.b.build(encoding=decoded.encoding)
    return Parsed(parsed.text, parsed.segments, reader.title, parsed.encoding)
