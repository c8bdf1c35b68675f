"""PDF via pypdf: text per page, split into paragraphs, with headings from the outline.

pypdf returns the visual lines of a page without blank lines between paragraphs, so a
paragraph ends at a blank line, before a list item, or after a line clearly shorter than
the page's full lines (the last line of a paragraph rarely fills the measure). When the
PDF has an outline (bookmarks), its entries become the heading path; an entry whose title
appears as a line of its page becomes a heading segment there, otherwise the section is
entered at the top of its page.
"""

from __future__ import annotations

import io
import logging
import re

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from expertly.ingest.formats._build import (
    FormatError,
    Parsed,
    TextBuilder,
    clean_inline,
    describe_exception,
)
from expertly.ingest.formats.text import LIST_ITEM

logger = logging.getLogger(__name__)

ENCRYPTED = "encrypted PDF: remove the password and ingest again"
SCANNED = "no extractable text (scanned PDF? run OCR first)"
_SHORT_LINE = 0.7  # a line shorter than this fraction of the page's longest line ends a paragraph
_MIN_MEASURE = 40  # pages whose longest line is shorter than this are not measured
_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.)\s+")

Outline = dict[int, list[tuple[int, str]]]  # 0-based page -> [(level, title)]


def _norm(title: str) -> str:
    return _NUMBERING.sub("", clean_inline(title)).casefold()


def _outline(reader: PdfReader) -> Outline:
    """Outline entries by page; an unreadable outline is logged and ignored (it only adds
    heading paths, the text is complete without it)."""
    found: Outline = {}
    try:
        pending: list[tuple[object, int]] = [(item, 1) for item in reversed(reader.outline)]
        while pending:
            item, level = pending.pop()
            if isinstance(item, list):
                pending.extend((child, level + 1) for child in reversed(item))
                continue
            page = reader.get_destination_page_number(item)  # type: ignore[arg-type]
            title = clean_inline(str(getattr(item, "title", "") or ""))
            if page is not None and page >= 0 and title:
                found.setdefault(page, []).append((level, title))
    except Exception as exc:  # pypdf raises many types for damaged outlines
        logger.warning("ignoring an unreadable PDF outline (%s)", describe_exception(exc))
        return {}
    return found


def _join(lines: list[str]) -> str:
    """Join wrapped lines; a word hyphenated across lines keeps its hyphen, loses the gap."""
    out = ""
    for line in lines:
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out += line
        else:
            out = f"{out} {line}" if out else line
    return out


def _add_page(builder: TextBuilder, text: str, entries: list[tuple[int, str]]) -> None:
    lines = [clean_inline(line) for line in text.replace("\r", "\n").split("\n")]
    wanted = {_norm(title): (level, title) for level, title in entries}
    on_page = {key for key in wanted if key in {_norm(line) for line in lines if line}}
    for level, title in entries:
        if _norm(title) not in on_page:
            builder.enter(title, level)
    measure = max((len(line) for line in lines), default=0)
    para: list[str] = []
    kind = "paragraph"

    def flush() -> None:
        nonlocal para, kind
        if para:
            builder.block(_join(para), "list" if kind == "list" else "paragraph")
        para, kind = [], "paragraph"

    for line in lines:
        if not line:
            flush()
            continue
        key = _norm(line)
        if key in on_page:
            flush()
            level, title = wanted[key]
            builder.heading(line, level)
            on_page.discard(key)
            continue
        if LIST_ITEM.match(line):
            flush()
            kind = "list"
        para.append(line)
        if measure >= _MIN_MEASURE and len(line) < _SHORT_LINE * measure:
            flush()
    flush()


def _read(data: bytes) -> Parsed:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            result = reader.decrypt("")
        except DependencyError as exc:
            raise FormatError(
                f"{ENCRYPTED} (or pip install cryptography to open PDFs encrypted without "
                "a password)"
            ) from exc
        if result == PasswordType.NOT_DECRYPTED:
            raise FormatError(ENCRYPTED)
    meta = reader.metadata
    title = clean_inline(str(meta.title or "")) if meta is not None else ""
    outline = _outline(reader)
    builder = TextBuilder()
    for index, page in enumerate(reader.pages):
        builder.page = index + 1
        _add_page(builder, page.extract_text() or "", outline.get(index, []))
    parsed = builder.build(title)
    if not parsed.text.strip():
        raise FormatError(SCANNED)
    return parsed


def load_pdf(data: bytes) -> Parsed:
    """Extract the text of a PDF page by page.

    Encrypted PDFs are opened when the empty password works (documents that only restrict
    printing or editing); otherwise, and for damaged files, ``FormatError`` says why.
    """
    if b"%PDF" not in data[:1024]:
        raise FormatError("corrupt or unreadable PDF (no %PDF header: not a PDF file)")
    try:
        return _read(data)
    except FormatError:
        raise
    except Exception as exc:  # pypdf raises dozens of types (and KeyError, ...) on bad input
        raise FormatError(f"corrupt or unreadable PDF ({describe_exception(exc)})") from exc
