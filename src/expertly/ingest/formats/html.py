"""HTML: the main content of a page as headings, paragraphs, list items, code and rows.

Boilerplate is removed before reading (scripts, styles, navigation, page headers and
footers, sidebars, forms, hidden elements); when the page has a ``<main>`` (or else
``<article>`` elements) only that is read. ``<header>``/``<footer>`` inside an article or
main element are kept: they usually hold the article's own title. The walk is iterative,
so deeply nested markup cannot exhaust the recursion limit.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, Tag
from bs4.element import ProcessingInstruction

from expertly.ingest.formats._build import (
    FormatError,
    Parsed,
    TextBuilder,
    clean_inline,
    describe_exception,
    format_row,
    row_names,
)
from expertly.ingest.formats.encoding import decode_text

PARSER = "lxml" if importlib.util.find_spec("lxml") is not None else "html.parser"

_DROP = (
    "script",
    "style",
    "noscript",
    "nav",
    "aside",
    "form",
    "template",
    "svg",
    "iframe",
    "object",
    "embed",
    "canvas",
    "button",
    "select",
    "textarea",
    "input",
    "dialog",
    "head",
)
_PAGE_CHROME = ("header", "footer")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "body",
    "html",
    "center",
    "header",
    "footer",
    "hr",
    "li",
    "caption",
    "fieldset",
    "legend",
    "menu",
    "hgroup",
}
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_EXIT = object()  # stack marker: the element whose children were just walked ends here


def _is_boilerplate(tag: Tag) -> bool:
    """Navigation, scripts, page chrome and hidden elements: never document content."""
    name = tag.name
    if name in _DROP:
        return True
    if name in _PAGE_CHROME and tag.find_parent(["article", "main"]) is None:
        return True
    attrs = tag.attrs
    role = attrs.get("role")
    if isinstance(role, str) and role.lower() in ("navigation", "banner", "contentinfo"):
        return True
    style = attrs.get("style")
    return "hidden" in attrs or (isinstance(style, str) and bool(_HIDDEN_STYLE.search(style)))


def _remove_boilerplate(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_is_boilerplate):
        if not tag.decomposed:
            tag.decompose()


def _roots(soup: BeautifulSoup) -> list[Tag]:
    main = soup.find("main") or soup.find(lambda tag: tag.attrs.get("role") == "main")
    if isinstance(main, Tag):
        return [main]
    articles = [a for a in soup.find_all("article") if a.find_parent("article") is None]
    if articles:
        return articles
    return [soup.body] if isinstance(soup.body, Tag) else [soup]


class _Walker:
    """Turns an element tree into builder calls; inline content collects in a buffer."""

    def __init__(self, builder: TextBuilder) -> None:
        self.b = builder
        self.buf: list[str] = []
        # per open block element: its kind and, for a list item, the marker not yet used
        self.kinds: list[str] = ["paragraph"]
        self.markers: list[str] = [""]
        self.numbers: dict[int, int] = {}  # id(<ol>) -> items seen

    def flush(self) -> None:
        if self.buf:
            if self.kinds[-1] == "list":
                self.b.block("".join(self.buf), "list", marker=self.markers[-1] or "- ")
                self.markers[-1] = "- "  # text after a nested list continues the item
            else:
                self.b.block("".join(self.buf))
            self.buf = []

    def _marker(self, li: Tag) -> str:
        parent = li.parent
        if parent is None or parent.name != "ol":
            return "- "
        number = self.numbers.get(id(parent), 0) + 1
        self.numbers[id(parent)] = number
        return f"{number}. "

    def walk(self, root: Tag) -> None:
        stack: list[Any] = list(reversed(list(root.children)))
        while stack:
            node = stack.pop()
            if node is _EXIT:
                self.flush()
                self.kinds.pop()
                self.markers.pop()
            elif isinstance(node, NavigableString):
                if not isinstance(node, _SKIP_STRINGS):
                    self.buf.append(str(node))
            elif isinstance(node, Tag):
                self._tag(node, stack)
        self.flush()

    def _tag(self, tag: Tag, stack: list[Any]) -> None:
        name = tag.name
        if name in _HEADINGS:
            self.flush()
            self.b.heading(tag.get_text(" "), _HEADINGS[name])
        elif name == "pre":
            self.flush()
            self.b.block(tag.get_text(), "code")
        elif name == "table":
            self.flush()
            self._table(tag)
        elif name == "br":
            self.buf.append(" ")
        elif name in _BLOCKS:
            self.flush()
            inherit = name == "p" and self.kinds[-1] == "list"
            self.kinds.append("list" if name == "li" or inherit else "paragraph")
            marker = ""
            if name == "li":
                marker = self._marker(tag)
            elif inherit:  # a <p> inside an <li> takes the item's marker
                marker, self.markers[-1] = self.markers[-1], "- "
            self.markers.append(marker)
            stack.append(_EXIT)
            stack.extend(reversed(list(tag.children)))
        else:  # inline element: its text joins the current paragraph
            stack.extend(reversed(list(tag.children)))

    def _table(self, table: Tag) -> None:
        caption = table.find("caption")
        if isinstance(caption, Tag):
            self.b.block(caption.get_text(" "))
        rows: list[tuple[Tag, list[str]]] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # a nested table's row: its text is already in the enclosing cell
            row = [c.get_text(" ") for c in tr.find_all(["td", "th"], recursive=False)]
            if any(clean_inline(c) for c in row):
                rows.append((tr, row))
        if not rows:
            return
        first = rows[0][0]
        cells = [row for _, row in rows]
        has_header = first.find("th") is not None or first.find_parent("thead") is not None
        if has_header and len(cells) > 1:
            names = row_names(cells[0])
            for row in cells[1:]:
                self.b.block(format_row(names, row), "row")
        else:
            for row in cells:
                self.b.block("; ".join(clean_inline(c) for c in row if clean_inline(c)), "row")


def load_html(data: bytes) -> Parsed:
    """Decode and parse an HTML page, keeping its main content."""
    decoded = decode_text(data)
    try:
        soup = BeautifulSoup(decoded.text, PARSER)
        title_tag = soup.find("title")
        title = clean_inline(title_tag.get_text(" ")) if isinstance(title_tag, Tag) else ""
        _remove_boilerplate(soup)
        builder = TextBuilder()
        walker = _Walker(builder)
        for root in _roots(soup):
            walker.walk(root)
    except (RecursionError, ValueError, TypeError, AttributeError) as exc:
        raise FormatError(f"unreadable HTML ({describe_exception(exc)})") from exc
    return builder.build(title, decoded.encoding)
