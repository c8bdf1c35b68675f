"""Shared pieces of the format loaders: the text builder, decoding and whitespace cleanup.

Every loader produces its output through ``TextBuilder``: it appends headings and blocks,
the builder lays them out as readable text (headings on their own lines, blocks separated
by blank lines, table rows and list items one per line) and records a ``Segment`` for each,
with the enclosing heading path. That way every non-blank character of ``Document.text`` is
covered by exactly one segment by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from expertly.types import Segment

BlockKind = Literal["paragraph", "row", "code", "list"]
SegmentKind = Literal["heading", "paragraph", "row", "code", "list"]

# Blocks of these kinds follow each other with a single newline (a table, a list).
_TIGHT = {"row", "list"}
_SPACES = re.compile(r"[^\S\n]+")  # whitespace other than newlines
_ANY_SPACE = re.compile(r"\s+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# category Cc but \t \n \r, and lone surrogates (a PDF or DOCX string may hold them; they
# cannot be encoded to UTF-8, so nothing downstream could store or embed them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_EXOTIC_SPACE = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")  # Zs but " "
_MARKER = re.compile(r"^(?:[-*+•▪‣◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")


class FormatError(Exception):
    """A file's content cannot be read; ``reason`` is the short, user-facing explanation.

    Raised by the format loaders and turned into ``LoadError`` (with the path) by
    ``load_file``, so that the loaders need not know the path.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Parsed:
    """What a format loader returns: the text, its segments and the title it found."""

    text: str
    segments: tuple[Segment, ...]
    title: str = ""
    encoding: str = ""  # for text formats: the encoding the bytes were decoded with


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """``"TypeName: message"`` shortened to ``limit`` characters, for error reasons."""
    msg = " ".join(str(exc).split())
    name = type(exc).__name__
    if name == "error":  # zlib.error, struct.error, binascii.Error...: name the module
        name = f"{type(exc).__module__}.error"
    text = f"{name}: {msg}" if msg else name
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_chars(text: str) -> str:
    """Drop zero-width and control characters (keep newline and tab), map exotic spaces
    (no-break, em, ideographic...) to plain ones, and normalise line ends."""
    text = text.translate(_ZERO_WIDTH).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    return _EXOTIC_SPACE.sub(" ", text)


def clean_inline(text: str) -> str:
    """Collapse every whitespace run (newlines included) to one space and strip: for
    paragraphs, list items, headings and cells whose line breaks are only wrapping."""
    return _ANY_SPACE.sub(" ", _clean_chars(text)).strip()


def clean_code(text: str) -> str:
    """Keep a code block's lines and indentation; drop trailing spaces and blank edges."""
    lines = [line.rstrip() for line in _clean_chars(text).expandtabs(4).split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def clean_lines(text: str) -> str:
    """Collapse spaces within lines but keep the line breaks (strip each line)."""
    return "\n".join(_SPACES.sub(" ", line).strip() for line in _clean_chars(text).split("\n"))


class TextBuilder:
    """Lays out headings and blocks as text and records a ``Segment`` for each.

    ``page`` is attached to the segments added while it is set (PDF loaders set it per page).
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._segments: list[Segment] = []
        self._stack: list[tuple[int, str]] = []  # (level, heading) of the enclosing headings
        self._last_kind: SegmentKind | None = None
        self.page: int | None = None
        self.first_heading = ""

    @property
    def heading_path(self) -> tuple[str, ...]:
        """Titles of the headings enclosing the next block."""
        return tuple(title for _, title in self._stack)

    @property
    def chars(self) -> int:
        """Characters laid out so far (loaders use it to stop early on huge inputs)."""
        return self._length

    def enter(self, title: str, level: int) -> tuple[str, ...]:
        """Open a section at ``level`` (closing deeper or equal ones) without emitting text;
        returns the new heading path. Used for headings known only from metadata."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        return self.heading_path

    def heading(self, text: str, level: int) -> None:
        """Add a heading of ``level`` (1 = top); its segment's path ends with itself."""
        title = clean_inline(text)
        if not title:
            return
        level = max(1, level)
        path = self.enter(title, level)
        if not self.first_heading:
            self.first_heading = title
        self._add(title, "heading", path, level)

    def block(self, text: str, kind: BlockKind = "paragraph", marker: str = "") -> None:
        """Add a paragraph, list item, table row or code block (blank text is ignored).

        Code keeps its lines; everything else has its whitespace collapsed. ``marker``
        (e.g. "- " or "2. ") is put before a list item whose text has none of its own.
        """
        cleaned = clean_code(text) if kind == "code" else clean_inline(text)
        if cleaned and marker and not _MARKER.match(cleaned):
            cleaned = marker + cleaned
        if cleaned:
            self._add(cleaned, kind, self.heading_path, 0)

    def _add(self, text: str, kind: SegmentKind, path: tuple[str, ...], level: int) -> None:
        if self._parts:
            tight = kind == self._last_kind and kind in _TIGHT
            sep = "\n" if tight else "\n\n"
            self._parts.append(sep)
            self._length += len(sep)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self._segments.append(Segment(start, self._length, kind, path, self.page, level))
        self._last_kind = kind

    def build(self, title: str = "", encoding: str = "") -> Parsed:
        """The finished text and segments; ``title`` defaults to the first heading;
        ``encoding`` is the one a text format was decoded with (see ``encoding.decode_text``)."""
        return Parsed(
            "".join(self._parts), tuple(self._segments), title or self.first_heading, encoding
        )


def row_names(header: list[str]) -> list[str]:
    """Cleaned column names of a header row, to pass to ``format_row`` (clean them once)."""
    return [clean_inline(h) for h in header]


def format_row(names: list[str], values: list[str]) -> str:
    """``"Header1: v1; Header2: v2"`` from ``row_names(header)`` and a row's raw cells: each
    row carries its header, so a chunk of rows reads (and embeds) on its own. Empty values
    are left out; cells beyond the header are named ``column N``."""
    pairs = []
    for i, value in enumerate(values):
        value = clean_inline(value)
        if not value:
            continue
        name = names[i] if i < len(names) else ""
        pairs.append(f"{name or f'column {i + 1}'}: {value}")
    return "; ".join(pairs)
