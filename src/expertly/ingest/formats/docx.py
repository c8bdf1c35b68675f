"""DOCX via python-docx: body paragraphs and tables in document order.

"Title" and "Heading N" styles become headings (a Title sits above the Heading 1s), list
styles and numbered paragraphs become list items, and each table row after the first
becomes a row segment "Header1: v1; Header2: v2". Text in headers, footers, footnotes,
comments and text boxes is not read.

Before python-docx opens the file, the zip directory is checked so that a zip bomb is
refused without being inflated: python-docx would decompress every part into memory.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from typing import Any

from expertly.ingest.formats._build import (
    FormatError,
    Parsed,
    TextBuilder,
    clean_inline,
    describe_exception,
    format_row,
    row_names,
)

MAX_UNCOMPRESSED = 200 * 2**20  # total uncompressed size above this is refused
MAX_RATIO = 100  # ... as is more than this many times the compressed size
RATIO_FLOOR = 10 * 2**20  # ... once the uncompressed size is above this
MAX_MEMBERS = 20_000

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def check_zip(data: bytes) -> None:
    """Refuse archives that are not a DOCX or that would inflate to a dangerous size.

    Sizes come from the zip directory; ``zipfile`` never returns more than a member's
    declared size, so a lying directory cannot smuggle a larger payload past this check.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        ValueError,
        OSError,
        struct.error,
    ) as exc:  # what zipfile raises on bad input
        raise FormatError(f"corrupt DOCX (not a zip archive: {describe_exception(exc)})") from exc
    if len(members) > MAX_MEMBERS:
        raise FormatError(f"suspicious DOCX: {len(members)} files in the archive (zip bomb?)")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED or (total > RATIO_FLOOR and total > MAX_RATIO * len(data)):
        raise FormatError(f"suspicious DOCX: expands to {total / 2**20:.0f} MB (zip bomb?)")
    if "word/document.xml" not in {m.filename for m in members}:
        raise FormatError("corrupt DOCX (no word/document.xml: not a Word document)")


def _style_name(paragraph: Any) -> str:
    style = paragraph.style
    return str(style.name or "") if style is not None else ""


def _is_list(paragraph: Any, style: str) -> bool:
    if style.lower().startswith("list"):
        return True
    ppr = paragraph._p.pPr  # python-docx exposes numbering only on the XML element
    return ppr is not None and ppr.numPr is not None


def _row_values(row: Any) -> list[str]:
    """Cell texts of a row; a merged cell (repeated by python-docx) is read once."""
    values: list[str] = []
    previous = None
    for cell in row.cells:
        if cell._tc is previous:
            continue
        previous = cell._tc
        values.append(cell.text)
    return values


def _table(builder: TextBuilder, table: Any) -> None:
    rows = [values for values in map(_row_values, table.rows) if any(map(clean_inline, values))]
    if len(rows) == 1:
        builder.block("; ".join(v for v in map(clean_inline, rows[0]) if v), "row")
        return
    names = row_names(rows[0]) if rows else []
    for values in rows[1:]:
        builder.block(format_row(names, values), "row")


def _read(data: bytes) -> Parsed:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    builder = TextBuilder()
    shift = 0
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            _table(builder, item)
            continue
        style = _style_name(item)
        heading = _HEADING_STYLE.match(style)
        if style.lower() == "title":
            shift = 1
            builder.heading(item.text, 1)
        elif heading:
            builder.heading(item.text, int(heading.group(1)) + shift)
        else:
            if _is_list(item, style):  # Word keeps the numbering out of the text
                builder.block(item.text, "list", marker="- ")
            else:
                builder.block(item.text)
    title = clean_inline(document.core_properties.title or "")
    return builder.build(title)


def load_docx(data: bytes) -> Parsed:
    """Check the archive, then read the document's paragraphs and tables."""
    check_zip(data)
    try:
        return _read(data)
    except Exception as exc:  # python-docx/lxml raise KeyError, ValueError, XMLSyntaxError...
        raise FormatError(f"corrupt DOCX ({describe_exception(exc)})") from exc
