"""Builders of small input files for the loader and chunker tests (all written to tmp_path)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path


def make_pdf(
    path: Path,
    pages: Sequence[Sequence[str]],
    *,
    title: str = "",
    sections: dict[int, list[tuple[str, int]]] | None = None,
) -> Path:
    """A text PDF: one list of paragraphs per page. ``sections`` maps a 0-based page to
    outline entries ``(title, level)`` (level 0 = top) started at the top of that page;
    each entry's title is also written as the page's first line."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for number, paragraphs in enumerate(pages):
        pdf.add_page()
        for name, level in (sections or {}).get(number, []):
            pdf.start_section(name, level=level)
            pdf.multi_cell(0, 6, name)
            pdf.ln(4)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def make_blank_pdf(path: Path) -> Path:
    """A PDF whose only page holds a drawing and no text (like a scan)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, target: Path, *, user_password: str, owner_password: str) -> Path:
    """``source`` encrypted with RC4-128 (pypdf needs no extra package for RC4)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    with target.open("wb") as fh:
        writer.write(fh)
    return target


def make_docx(path: Path) -> Path:
    """A DOCX with a Title, two heading levels, paragraphs, list items and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Staff Handbook"
    document.add_paragraph("Handbook", style="Title")
    document.add_heading("Leave", level=1)
    document.add_paragraph("Leave is booked in the HR portal.")
    document.add_heading("Parental leave", level=2)
    document.add_paragraph("Employees get 20 weeks of paid parental leave.")
    document.add_paragraph("Tell your manager early", style="List Bullet")
    document.add_paragraph("Book it in the portal", style="List Number")
    table = document.add_table(rows=3, cols=3)
    for r, values in enumerate(
        [("Country", "Weeks", "Paid"), ("Norway", "49", "yes"), ("Spain", "16", "")]
    ):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    document.add_heading("Pay", level=1)
    document.add_paragraph("Salaries are paid on the 25th.")
    document.save(str(path))
    return path


def make_zip_bomb(path: Path, megabytes: int) -> Path:
    """A zip that looks like a DOCX and whose one member inflates to ``megabytes`` MB of
    zeros. Written by streaming, so it costs a fraction of a second and ~1 KB per 200 KB."""
    block = bytes(4 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
        with z.open("word/media/image1.bin", "w", force_zip64=True) as member:
            written = 0
            while written < megabytes << 20:
                chunk = block[: min(len(block), (megabytes << 20) - written)]
                member.write(chunk)
                written += len(chunk)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A plain zip archive with the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path
