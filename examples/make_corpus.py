"""Write the expertly sample corpus: the documents of Aurelwind Instruments AG (fictional).

Usage::

    python examples/make_corpus.py                 # writes examples/corpus/
    python examples/make_corpus.py --out /tmp/c    # writes somewhere else

The output is deterministic: running the script twice with the same versions of fpdf2 and
python-docx gives byte-identical files. PDF creation dates, DOCX core properties and the
timestamps inside the DOCX zip archives are fixed, and text files use UTF-8 with ``\\n``
line endings. The text itself lives in ``corpus_text.py`` next to this script.

Requires ``fpdf2`` and ``python-docx`` (both in expertly's ``dev`` extra).
"""

from __future__ import annotations

import argparse
import csv
import html
import importlib.util
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "corpus"

# Every date written into file metadata. Changing it changes every binary file.
FIXED_DATE = datetime(2025, 3, 10, 9, 0, 0, tzinfo=UTC)
FIXED_ZIP_TIME = (2025, 3, 10, 9, 0, 0)


def _load_text() -> ModuleType:
    """Import corpus_text.py from beside this file, however this script was started."""
    spec = importlib.util.spec_from_file_location("corpus_text", HERE / "corpus_text.py")
    if spec is None or spec.loader is None:  # pragma: no cover - file shipped with the script
        raise ImportError("corpus_text.py not found next to make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = _load_text()


# --------------------------------------------------------------------------------------------
# A tiny Markdown subset, shared by the PDF, DOCX and HTML writers
# --------------------------------------------------------------------------------------------


@dataclass
class Block:
    kind: str  # "h1" | "h2" | "h3" | "p" | "ul" | "ol" | "table"
    text: str = ""
    items: list[str] | None = None
    rows: list[list[str]] | None = None


_NUMBERED = re.compile(r"^\d+\. ")


def parse_blocks(source: str) -> list[Block]:
    """Parse the Markdown subset described in corpus_text.py into blocks."""
    blocks: list[Block] = []
    para: list[str] = []
    list_kind: str | None = None
    items: list[str] = []
    rows: list[list[str]] = []
    pending_row = ""

    def flush() -> None:
        nonlocal para, list_kind, items, rows
        if para:
            blocks.append(Block("p", " ".join(para)))
            para = []
        if list_kind:
            blocks.append(Block(list_kind, items=items))
            list_kind, items = None, []
        if rows:
            blocks.append(Block("table", rows=rows))
            rows = []

    for raw in source.strip("\n").splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if pending_row:  # a table row that continues over several source lines
            pending_row += " " + stripped
            if stripped.endswith("|"):
                rows.append(_split_row(pending_row))
                pending_row = ""
            continue
        if not stripped:
            flush()
            continue
        if line.startswith("#"):
            flush()
            hashes, _, title = line.partition(" ")
            blocks.append(Block(f"h{len(hashes)}", title.strip()))
        elif line.startswith("|"):
            if para or list_kind:
                flush()
            if len(stripped) > 1 and stripped.endswith("|"):
                rows.append(_split_row(stripped))
            else:
                pending_row = stripped
        elif line.startswith("- ") or _NUMBERED.match(line):
            kind = "ul" if line.startswith("- ") else "ol"
            if list_kind != kind:
                flush()
                list_kind = kind
            items.append(line[2:].strip() if kind == "ul" else _NUMBERED.sub("", line).strip())
        elif line.startswith("  ") and list_kind:
            items[-1] += " " + stripped
        else:
            if list_kind or rows:
                flush()
            para.append(stripped)
    if pending_row:
        raise ValueError(f"unterminated table row: {pending_row!r}")
    flush()
    return blocks


def _split_row(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


@dataclass
class DocInfo:
    title: str
    ref: str  # document reference and revision, shown under the title
    subject: str
    keywords: str


def write_pdf(path: Path, info: DocInfo, body: str) -> None:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos
    from fpdf.fonts import FontFace

    for text in (info.title, info.ref, body):
        bad = sorted({ch for ch in text if ord(ch) > 127})
        if bad:
            raise ValueError(f"{path.name}: PDF text must be ASCII, found {bad}")

    class _PDF(FPDF):
        def header(self) -> None:
            if self.page_no() == 1:
                return
            self.set_font("helvetica", "I", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, f"{T.COMPANY} - {info.title}", align="R")
            self.ln(10)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 10, f"{info.ref}   |   Page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = _PDF(format="A4")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(info.title)
    pdf.set_author(T.COMPANY)
    pdf.set_subject(info.subject)
    pdf.set_keywords(info.keywords)
    pdf.set_creator("expertly examples/make_corpus.py")
    pdf.set_producer("fpdf2")
    pdf.set_lang("en")
    pdf.add_page()

    nx, ny = XPos.LMARGIN, YPos.NEXT  # after a line: back to the margin, next line
    pdf.set_font("helvetica", "B", 10)
    pdf.set_text_color(20, 90, 140)
    pdf.cell(0, 6, T.COMPANY.upper(), new_x=nx, new_y=ny)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("helvetica", "B", 18)
    pdf.multi_cell(0, 9, info.title, new_x=nx, new_y=ny)
    pdf.set_font("helvetica", "", 9)
    pdf.cell(0, 6, info.ref, new_x=nx, new_y=ny)
    y = pdf.get_y() + 2
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 4)

    width = pdf.w - pdf.l_margin - pdf.r_margin
    for block in parse_blocks(body):
        if block.kind in ("h1", "h2", "h3"):
            level = int(block.kind[1]) - 1
            size = (14, 12, 10.5)[level]
            if pdf.get_y() > pdf.page_break_trigger - 25:
                pdf.add_page()
            pdf.ln((4, 2, 1)[level])
            pdf.set_font("helvetica", "B", size)
            pdf.start_section(block.text, level=level)
            pdf.multi_cell(0, size * 0.5, block.text, new_x=nx, new_y=ny)
            pdf.ln(1)
        elif block.kind == "p":
            pdf.set_font("helvetica", "", 10)
            pdf.multi_cell(0, 5, block.text, new_x=nx, new_y=ny)
            pdf.ln(2)
        elif block.kind in ("ul", "ol"):
            pdf.set_font("helvetica", "", 10)
            for n, item in enumerate(block.items or [], start=1):
                marker = "-" if block.kind == "ul" else f"{n}."
                pdf.set_x(pdf.l_margin + 2)
                pdf.cell(6, 5, marker)
                pdf.multi_cell(width - 8, 5, item, new_x=nx, new_y=ny)
                pdf.ln(0.8)
            pdf.ln(1.5)
        elif block.kind == "table":
            rows = block.rows or []
            pdf.set_font("helvetica", "", 9)
            with pdf.table(
                col_widths=_column_weights(rows),
                text_align="LEFT",
                line_height=4.6,
                padding=1.2,
                first_row_as_headings=True,
                headings_style=FontFace(emphasis="BOLD", fill_color=(225, 232, 240)),
            ) as table:
                for row in rows:
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
            pdf.ln(3)
    path.write_bytes(bytes(pdf.output()))


def _column_weights(rows: list[list[str]]) -> tuple[float, ...]:
    ncols = len(rows[0])
    longest = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(ncols)]
    return tuple(float(min(max(n, 12), 70)) for n in longest)


# --------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------


def write_docx(path: Path, info: DocInfo, body: str) -> None:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    props = doc.core_properties
    props.title = info.title
    props.subject = info.subject
    props.keywords = info.keywords
    props.author = T.COMPANY
    props.last_modified_by = T.COMPANY
    props.comments = info.ref
    props.category = "Aurelwind documents"
    props.language = "en-GB"
    props.revision = 1
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)

    section = doc.sections[0]
    section.header.paragraphs[0].text = f"{T.COMPANY} - {info.title}"
    section.footer.paragraphs[0].text = info.ref

    doc.add_heading(info.title, level=0)
    meta = doc.add_paragraph(info.ref)
    meta.runs[0].italic = True

    for block in parse_blocks(body):
        if block.kind in ("h1", "h2", "h3"):
            doc.add_heading(block.text, level=int(block.kind[1]))
        elif block.kind == "p":
            doc.add_paragraph(block.text)
        elif block.kind == "ul":
            for item in block.items or []:
                doc.add_paragraph(item, style="List Bullet")
        elif block.kind == "ol":
            # Literal step numbers survive text extraction, unlike Word's list numbering.
            for n, item in enumerate(block.items or [], start=1):
                doc.add_paragraph(f"{n}. {item}", style="List Paragraph")
        elif block.kind == "table":
            rows = block.rows or []
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = text
                    for run in cell.paragraphs[0].runs:
                        run.font.size = Pt(9)
                        run.bold = r == 0
            doc.add_paragraph()

    buffer = io.BytesIO()
    doc.save(buffer)
    path.write_bytes(_normalize_zip(buffer.getvalue()))


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip archive with fixed timestamps and attributes, so it is reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(entry.filename), compresslevel=9)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def blocks_to_html(blocks: list[Block], indent: str = "      ") -> str:
    out: list[str] = []
    esc = html.escape
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            level = int(block.kind[1]) + 1  # the page title is the <h1>
            slug = re.sub(r"[^a-z0-9]+", "-", block.text.lower()).strip("-")
            out.append(f'<h{level} id="{slug}">{esc(block.text)}</h{level}>')
        elif block.kind == "p":
            out.append(f"<p>{esc(block.text)}</p>")
        elif block.kind in ("ul", "ol"):
            out.append(f"<{block.kind}>")
            out.extend(f"  <li>{esc(item)}</li>" for item in block.items or [])
            out.append(f"</{block.kind}>")
        elif block.kind == "table":
            rows = block.rows or []
            out.append("<table>")
            out.append("  <thead>")
            out.append("    <tr>" + "".join(f"<th>{esc(c)}</th>" for c in rows[0]) + "</tr>")
            out.append("  </thead>")
            out.append("  <tbody>")
            for row in rows[1:]:
                out.append("    <tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
            out.append("  </tbody>")
            out.append("</table>")
    return "\n".join(indent + line for line in out)


_SCRIPT = """\
  <script>
    window.awTelemetry = window.awTelemetry || [];
    function awTrack(event, data) {
      window.awTelemetry.push({ event: event, data: data || {}, t: Date.now() });
    }
    document.addEventListener("DOMContentLoaded", function () {
      awTrack("page_view", { path: window.location.pathname });
      var banner = document.getElementById("cookie-banner");
      if (banner && localStorage.getItem("aw-cookies") === "ok") { banner.hidden = true; }
    });
  </script>"""


def intranet_page(title: str, section: str, updated: str, owner: str, main: str) -> str:
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{t} | Aurelwind Intranet</title>
  <link rel="stylesheet" href="/static/intranet.css">
{_SCRIPT}
</head>
<body>
  <a class="skip-link" href="#content">Skip to content</a>
  <header class="site-header">
    <div class="logo"><a href="/">Aurelwind Intranet</a></div>
    <form class="search" action="/search" role="search">
      <input type="search" name="q" placeholder="Search the intranet">
      <button type="submit">Search</button>
    </form>
    <div class="user-menu"><a href="/me">My profile</a> <a href="/logout">Sign out</a></div>
  </header>
  <nav class="main-nav" aria-label="Main">
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/news">News</a></li>
      <li><a href="/handbook">Employee handbook</a></li>
      <li><a href="/it">IT and security</a></li>
      <li><a href="/finance">Finance</a></li>
      <li><a href="/people">People directory</a></li>
      <li><a href="/canteen">Canteen menu</a></li>
    </ul>
  </nav>
  <div class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/handbook">Employee
    handbook</a> &rsaquo; {html.escape(section)}</div>
  <main id="content">
    <article>
      <h1>{t}</h1>
      <p class="doc-meta">Owner: {html.escape(owner)} &middot; Last updated {updated}</p>
{main}
    </article>
  </main>
  <aside class="related">
    <h2>Related pages</h2>
    <ul>
      <li><a href="/handbook">All handbook policies</a></li>
      <li><a href="/it/helpdesk">Contact the IT helpdesk</a></li>
    </ul>
  </aside>
  <footer class="site-footer">
    <p>Aurelwind Intranet &middot; Internal use only &middot;
      <a href="/feedback">Give feedback on this page</a></p>
  </footer>
</body>
</html>
"""


def public_page(title: str, section: str, updated: str, main: str) -> str:
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="description" content="{t} - Aurelwind Instruments">
  <title>{t} - Aurelwind Instruments</title>
  <link rel="stylesheet" href="/assets/site.css">
  <link rel="icon" href="/assets/favicon.svg">
{_SCRIPT}
</head>
<body>
  <div id="cookie-banner" class="cookie-banner">
    We use cookies to understand how our site is used.
    <button onclick="localStorage.setItem('aw-cookies','ok');this.parentNode.hidden=true">
      Accept</button> <a href="/privacy">Privacy notice</a>
  </div>
  <header class="site-header">
    <a class="logo" href="/">Aurelwind Instruments</a>
    <nav aria-label="Main">
      <ul>
        <li><a href="/products">Products</a></li>
        <li><a href="/solutions">Solutions</a></li>
        <li><a href="/support">Support</a></li>
        <li><a href="/company">Company</a></li>
        <li><a href="/contact">Contact sales</a></li>
      </ul>
    </nav>
    <a class="login" href="https://app.aurelwind.example">Sign in to Aurelwind Cloud</a>
  </header>
  <div class="breadcrumbs"><a href="/">Home</a> / {html.escape(section)} / {t}</div>
  <main>
    <h1>{t}</h1>
    <p class="updated">Last updated: {updated}</p>
{main}
  </main>
  <footer class="site-footer">
    <div class="footer-columns">
      <ul>
        <li><a href="/products/stratus-aq-200">Stratus AQ-200</a></li>
        <li><a href="/products/cirrus-ws-450">Cirrus WS-450</a></li>
        <li><a href="/products/nimbus-lg-8">Nimbus LG-8</a></li>
      </ul>
      <ul>
        <li><a href="/support/documents">Manuals and datasheets</a></li>
        <li><a href="/support/shipping-and-returns">Shipping and returns</a></li>
        <li><a href="/legal/terms">Terms of sale</a></li>
      </ul>
    </div>
    <p>&copy; 2025 Aurelwind Instruments AG &middot; <a href="/imprint">Imprint</a> &middot;
      <a href="/privacy">Privacy</a></p>
  </footer>
</body>
</html>
"""


# --------------------------------------------------------------------------------------------
# Text formats
# --------------------------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def write_csv(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([f"{v:.2f}" if isinstance(v, float) else v for v in row])


def write_jsonl(path: Path, records: list[dict]) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    write_text(path, "\n".join(lines))


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


def _pdf(info: DocInfo, body: str) -> Callable[[Path], None]:
    return lambda path: write_pdf(path, info, body)


def _docx(info: DocInfo, body: str) -> Callable[[Path], None]:
    return lambda path: write_docx(path, info, body)


def _intranet(title: str, section: str, updated: str, owner: str, body: str):
    page = intranet_page(title, section, updated, owner, blocks_to_html(parse_blocks(body)))
    return lambda path: write_text(path, page)


def _public(title: str, section: str, updated: str, body: str):
    page = public_page(title, section, updated, blocks_to_html(parse_blocks(body), "    "))
    return lambda path: write_text(path, page)


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: write_text(path, text)


DOCUMENTS: dict[str, Callable[[Path], None]] = {
    # 1. Employee handbook
    "handbook/leave-policy.docx": _docx(
        DocInfo(
            "Leave Policy",
            "Policy HR-02, version 4.0, effective 1 January 2025, owner: People team",
            "Annual leave, sick leave, parental leave and other leave",
            "leave, holidays, parental leave, sick leave",
        ),
        T.LEAVE_POLICY,
    ),
    "handbook/expenses-and-travel-policy.pdf": _pdf(
        DocInfo(
            "Expenses and Business Travel Policy",
            "Policy HR-04, version 3.1, effective 1 January 2025, owner: Finance",
            "Booking business travel and claiming expenses",
            "expenses, travel, hotel, per diem, mileage",
        ),
        T.EXPENSES_POLICY,
    ),
    "handbook/remote-work.md": _text(T.REMOTE_WORK_MD),
    "handbook/information-security.html": _intranet(
        "Information Security: Passwords, Devices and Incidents",
        "IT and security",
        "2025-02-10",
        "IT Security (policy IT-SEC-01)",
        T.SECURITY_POLICY,
    ),
    "handbook/onboarding.md": _text(T.ONBOARDING_MD),
    "handbook/code-of-conduct.docx": _docx(
        DocInfo(
            "Code of Conduct",
            "Version 2.2, approved by the Board of Directors on 5 December 2024",
            "How we behave at Aurelwind",
            "code of conduct, gifts, conflicts of interest, compliance, speak up",
        ),
        T.CODE_OF_CONDUCT,
    ),
    "handbook/it-service-desk-memo.txt": _text(T.HELPDESK_MEMO_TXT),
    # 2. Products
    "products/stratus-aq200-user-manual.pdf": _pdf(
        DocInfo(
            "Stratus AQ-200 Indoor Air Quality Monitor - User Manual",
            "Document STR-UM-200, revision D, March 2025, firmware 3.2",
            "Installation, use, maintenance and troubleshooting of the Stratus AQ-200",
            "Stratus, AQ-200, air quality, CO2, error codes, manual",
        ),
        T.STRATUS_MANUAL,
    ),
    "products/stratus-firmware-release-notes.md": _text(T.RELEASE_NOTES_MD),
    "products/stratus-co2-calibration-procedure.txt": _text(T.CALIBRATION_TXT),
    "products/cirrus-ws450-installation-guide.docx": _docx(
        DocInfo(
            "Cirrus WS-450 Outdoor Weather Station - Installation Guide",
            "Document CIR-IG-450, revision B, November 2024",
            "Site selection, mounting and commissioning of the Cirrus WS-450",
            "Cirrus, WS-450, weather station, installation, specifications",
        ),
        T.CIRRUS_INSTALL,
    ),
    "products/cirrus-ws450-troubleshooting.html": _public(
        "Cirrus WS-450 Troubleshooting and Status Codes",
        "Support",
        "2025-01-28",
        T.CIRRUS_TROUBLESHOOTING,
    ),
    "products/nimbus-lg8-quickstart.md": _text(T.NIMBUS_QUICKSTART_MD),
    "products/support-faq.jsonl": lambda path: write_jsonl(path, T.FAQ),
    "products/support-service-levels.docx": _docx(
        DocInfo(
            "Support Service Levels",
            "Document SUP-SLA, edition 2025",
            "Support plans and service levels for Aurelwind Cloud and hardware",
            "support, SLA, response times, availability",
        ),
        T.SUPPORT_SLA,
    ),
    # 3. Sales
    "sales/price-list-2025.csv": lambda path: write_csv(path, T.PRICE_LIST_COLUMNS, T.PRICE_LIST),
    "sales/terms-of-sale.pdf": _pdf(
        DocInfo(
            "General Terms of Sale for Business Customers",
            "Version 2025-01, valid from 1 January 2025",
            "Quotes, prices, discounts, payment, delivery and warranty",
            "terms of sale, discounts, payment terms, warranty, liability",
        ),
        T.COMMERCIAL_TERMS,
    ),
    "sales/shipping-and-returns.html": _public(
        "Shipping and Returns", "Support", "2025-01-06", T.SHIPPING_RETURNS
    ),
    # The company
    "company/about.html": _public("About Aurelwind", "Company", "2024-12-02", T.ABOUT_PAGE),
    "company/offices.csv": lambda path: write_csv(path, T.OFFICES_COLUMNS, T.OFFICES),
}


def build_corpus(out_dir: Path) -> list[Path]:
    """Write every document under ``out_dir`` and return the paths written, in order."""
    written = []
    for rel, write in DOCUMENTS.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="target folder")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    paths = build_corpus(args.out)
    if not args.quiet:
        total = 0
        for path in paths:
            size = path.stat().st_size
            total += size
            print(f"{size:>8,}  {path.relative_to(args.out).as_posix()}")
        print(f"{total:>8,}  total, {len(paths)} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
