"""load_file: text, structure and titles per format, and a LoadError for every bad input."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from expertly.errors import LoadError
from expertly.ingest import loaders
from expertly.ingest.formats import docx as docx_format
from expertly.ingest.loaders import SUPPORTED_SUFFIXES, load_file, parse_bytes, read_file
from expertly.ingest.names import raw_name, safe_name
from expertly.types import Document
from tests.unit._files import (
    encrypt_pdf,
    make_blank_pdf,
    make_docx,
    make_pdf,
    make_zip,
    make_zip_bomb,
)

pytestmark = pytest.mark.unit


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **kwargs: object) -> Document:
    return load_file(path, doc_id=path.name, **kwargs)  # type: ignore[arg-type]


def load_bytes(text: str, name: str) -> Document:
    """A document parsed from ``text`` as the file ``name`` (nothing written to disk)."""
    return parse_bytes(text.encode(), Path(name), doc_id=name).document


def reason(path: Path, **kwargs: object) -> str:
    with pytest.raises(LoadError) as info:
        load(path, **kwargs)
    assert info.value.path == str(path)
    return info.value.reason


def seg_texts(doc: Document, kind: str | None = None) -> list[str]:
    return [doc.text[s.start : s.end] for s in doc.segments if kind is None or s.kind == kind]


def assert_well_formed(doc: Document) -> None:
    """Segments are ordered, disjoint, trimmed, and cover every non-blank character."""
    covered = [False] * len(doc.text)
    previous_end = 0
    for seg in doc.segments:
        assert previous_end <= seg.start < seg.end <= len(doc.text)
        piece = doc.text[seg.start : seg.end]
        assert piece == piece.strip() and piece
        covered[seg.start : seg.end] = [True] * (seg.end - seg.start)
        previous_end = seg.end
        if seg.kind == "heading":
            assert seg.level >= 1 and seg.heading_path[-1] == piece
    uncovered = "".join(c for c, ok in zip(doc.text, covered, strict=True) if not ok)
    assert uncovered.strip() == ""


# -- formats -------------------------------------------------------------------------------


def test_markdown_structure_front_matter_and_fences(tmp_path: Path) -> None:
    md = write(
        tmp_path / "guide.md",
        (
            "---\ntitle: 'Staff Guide'\nowner: hr\n---\n"
            "# Handbook\n\nWelcome to the [handbook](https://x.example) for **all** staff.\n\n"
            "## Leave\n\n### Parental leave\n\nEmployees get 20 weeks\nof paid leave.\n\n"
            "- Tell your manager\n- Book it\n  in the portal\n\n"
            "```bash\n# not a heading\necho hi\n```\n\n"
            "Expenses\n========\n\n"
            "| Item | Limit |\n|------|------:|\n| Hotel | 150 |\n| Meal | 40 |\n"
        ),
    )
    doc = load(md)
    assert_well_formed(doc)
    assert (doc.title, doc.format, doc.id, doc.source) == ("Staff Guide", "md", "guide.md", str(md))
    assert "owner: hr" not in doc.text and "---" not in doc.text
    assert seg_texts(doc, "heading") == ["Handbook", "Leave", "Parental leave", "Expenses"]
    levels = [s.level for s in doc.segments if s.kind == "heading"]
    assert levels == [1, 2, 3, 1]
    para = next(s for s in doc.segments if "20 weeks" in doc.text[s.start : s.end])
    assert para.heading_path == ("Handbook", "Leave", "Parental leave")
    assert doc.text[para.start : para.end] == "Employees get 20 weeks of paid leave."
    assert "Welcome to the handbook for all staff." in doc.text
    assert seg_texts(doc, "list") == ["- Tell your manager", "- Book it in the portal"]
    assert seg_texts(doc, "code") == ["# not a heading\necho hi"]
    rows = [s for s in doc.segments if s.kind == "row"]
    assert [doc.text[s.start : s.end] for s in rows] == [
        "Item: Hotel; Limit: 150",
        "Item: Meal; Limit: 40",
    ]
    assert rows[0].heading_path == ("Expenses",)
    assert doc.text.startswith("Handbook\n\nWelcome")
    assert doc.content_hash == hashlib.sha256(md.read_bytes()).hexdigest()


def test_markdown_title_falls_back_to_first_heading_then_stem(tmp_path: Path) -> None:
    assert load(write(tmp_path / "a.md", "Intro.\n\n## Setup\n\nText.\n")).title == "Setup"
    assert load(write(tmp_path / "notes-2024.md", "Only text.\n")).title == "notes-2024"


def test_markdown_leading_rule_is_not_front_matter(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "rule.md", "---\nPlain text, not YAML.\n\n---\nMore.\n"))
    assert doc.text == "Plain text, not YAML.\n\nMore."


def test_txt_paragraphs_and_list_lines(tmp_path: Path) -> None:
    doc = load(
        write(
            tmp_path / "policy.txt",
            "Passwords must be long\nand unique.\n\n\n  Rules:\n- at least 14 characters\n"
            "- no reuse\n\nRotate   tokens\tevery 90 days.\n",
        )
    )
    assert_well_formed(doc)
    assert doc.format == "txt" and doc.title == "policy"
    assert seg_texts(doc) == [
        "Passwords must be long and unique.",
        "Rules:",
        "- at least 14 characters",
        "- no reuse",
        "Rotate tokens every 90 days.",
    ]
    assert doc.text.startswith("Passwords must be long and unique.\n\nRules:\n\n- at least")


_RULED_TXT = """\
ACME PARCELS LTD
CLAIMS AND LIABILITY
====================

Version 2, effective 1 April 2025.

1. PROTECTION COVER
-------------------
You can raise the cover on a parcel
when you book.

  Declared value        Price per parcel    Who can buy it
  --------------------  ------------------  --------------
  Up to £300            £2.50               All customers
  £300.01 to £500       £4.00               All customers
  £500.01 to £1,000     £7.50 per parcel    Business
                        (£6.00 online)      accounts only
  Our decision          within 30 days of a complete claim

Conditions:
  - Not available on Economy.

IMPORTANT NOTICE

Contact details
Phone 0330 000 0000
========================================
2. TIME LIMITS
"""


def test_txt_ruled_headings_and_aligned_tables() -> None:
    doc = load_bytes(_RULED_TXT, "claims.txt")
    assert_well_formed(doc)
    assert doc.title == "CLAIMS AND LIABILITY"
    headings = [(doc.text[s.start : s.end], s.level) for s in doc.segments if s.kind == "heading"]
    # a capitals line alone is a heading; a ruler under a mixed-case block only separates
    assert headings == [
        ("ACME PARCELS LTD", 2),
        ("CLAIMS AND LIABILITY", 1),
        ("1. PROTECTION COVER", 2),
        ("IMPORTANT NOTICE", 2),
        ("2. TIME LIMITS", 2),
    ]
    assert seg_texts(doc, "row") == [
        "Declared value: Up to £300; Price per parcel: £2.50; Who can buy it: All customers",
        "Declared value: £300.01 to £500; Price per parcel: £4.00; Who can buy it: All customers",
        # a line with an empty first column continues the row above
        "Declared value: £500.01 to £1,000; Price per parcel: £7.50 per parcel (£6.00 online);"
        " Who can buy it: Business accounts only",
        # text running across a column's start spans it
        "Declared value: Our decision; Price per parcel: within 30 days of a complete claim",
    ]
    rows = [s for s in doc.segments if s.kind == "row"]
    assert all(s.heading_path[-1] == "1. PROTECTION COVER" for s in rows)
    assert seg_texts(doc, "paragraph")[:2] == [
        "Version 2, effective 1 April 2025.",
        "You can raise the cover on a parcel when you book.",
    ]
    assert "Contact details Phone 0330 000 0000" in seg_texts(doc, "paragraph")
    assert "=====" not in doc.text and "-----" not in doc.text
    assert seg_texts(doc, "list") == ["- Not available on Economy."]


def test_txt_two_column_lists_keep_one_entry_per_line() -> None:
    text = (
        "3. CLAIM FORMS\n--------------\n"
        "  CL-3   Theft at the home\n"
        "  CL-3A  Theft of possessions away from the home, including\n"
        "         theft from an unattended vehicle\n"
        "  CL-7   Bicycle Cover add-on\n"
        "  CL-10 Legal expenses (one space short of the column)\n\n"
        "  Building open:   Mon-Fri 07:00-19:30\n"
        "  Reception: Mon-Fri 08:00-17:30\n"
    )
    doc = load_bytes(text, "forms.txt")
    assert_well_formed(doc)
    assert seg_texts(doc, "list") == [
        "CL-3 Theft at the home",
        "CL-3A Theft of possessions away from the home, including theft from an unattended vehicle",
        "CL-7 Bicycle Cover add-on",
        "CL-10 Legal expenses (one space short of the column)",
    ]
    # a paragraph with a line laid out otherwise is joined as before
    assert seg_texts(doc, "paragraph") == [
        "Building open: Mon-Fri 07:00-19:30 Reception: Mon-Fri 08:00-17:30"
    ]


def test_txt_title_is_left_to_the_file_name_without_a_title_block() -> None:
    text = "Intro line one.\nIntro line two.\nThird.\nFourth.\nFifth.\nSixth.\nSeventh.\n\n"
    doc = load_bytes(text + "SECTION ONE\n===========\nBody.\n", "notes.txt")
    assert doc.title == "notes"
    assert [s.level for s in doc.segments if s.kind == "heading"] == [1]


def test_txt_table_rule_without_a_header_only_separates() -> None:
    doc = load_bytes("Before.\n\n-----  -----\nAfter the rule.\n", "rule.txt")
    assert seg_texts(doc) == ["Before.", "After the rule."]


def test_txt_decodes_bom_and_utf16(tmp_path: Path) -> None:
    bom = tmp_path / "bom.txt"
    bom.write_bytes(codecs.BOM_UTF8 + "Grüße aus Köln.".encode())
    assert load(bom).text == "Grüße aus Köln."
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Ærlig talt, 漢字.\n".encode("utf-16"))  # the codec writes a BOM
    assert load(utf16).text == "Ærlig talt, 漢字."


def test_html_keeps_main_content_only(tmp_path: Path) -> None:
    page = write(
        tmp_path / "page.html",
        """<!doctype html><html><head>
        <title>Leave | Intranet</title><style>p {color: red}</style></head><body>
        <header>Site banner</header><nav>Home | About</nav>
        <div role="navigation">Breadcrumbs</div>
        <main>
          <h1>Leave</h1>
          <p>Employees   get <b>20 weeks</b> of leave.</p>Loose text.
          <h2>How to apply</h2>
          <ol><li>Ask your manager<ul><li>Dates</li></ul></li><li><p>Fill in the form</p></li></ol>
          <pre>apply --weeks 20
  --paid</pre>
          <table><tr><th>Country</th><th>Weeks</th></tr><tr><td>Norway</td><td>49</td></tr>
          </table>
          <p hidden>secret</p><script>track()</script><noscript>enable js</noscript>
          <form><p>Search</p></form>
        </main>
        <aside>Related links</aside><footer>Copyright</footer></body></html>""",
    )
    doc = load(page)
    assert_well_formed(doc)
    assert doc.title == "Leave | Intranet" and doc.format == "html"
    for noise in (
        "Site banner",
        "Home",
        "Breadcrumbs",
        "color",
        "secret",
        "track",
        "enable js",
        "Search",
        "Related",
        "Copyright",
    ):
        assert noise not in doc.text
    assert seg_texts(doc, "heading") == ["Leave", "How to apply"]
    assert seg_texts(doc, "paragraph")[:2] == ["Employees get 20 weeks of leave.", "Loose text."]
    assert seg_texts(doc, "list") == ["1. Ask your manager", "- Dates", "2. Fill in the form"]
    assert seg_texts(doc, "code") == ["apply --weeks 20\n  --paid"]
    assert seg_texts(doc, "row") == ["Country: Norway; Weeks: 49"]
    row = next(s for s in doc.segments if s.kind == "row")
    assert row.heading_path == ("Leave", "How to apply")


def test_html_prefers_article_and_survives_deep_nesting(tmp_path: Path) -> None:
    page = write(
        tmp_path / "a.htm",
        "<body><div>Menu junk</div><article><header><h1>News</h1>"
        "</header><p>Body text.</p></article></body>",
    )
    doc = load(page)
    assert seg_texts(doc) == ["News", "Body text."] and doc.title == "News"
    deep = write(tmp_path / "deep.html", "<div>" * 3000 + "deep text" + "</div>" * 3000)
    assert "deep text" in load(deep).text


def test_csv_rows_carry_their_header(tmp_path: Path) -> None:
    for name, sep in (("comma.csv", ","), ("semi.csv", ";"), ("tab.csv", "\t")):
        path = write(
            tmp_path / name,
            sep.join(["sku", "product", "price"])
            + "\n"
            + sep.join(["HX-1", '"Sensor, humidity"' if sep == "," else "Sensor", "149"])
            + "\n\n"
            + sep.join(["TX-2", "Logger", ""])
            + "\n",
        )
        doc = load(path)
        assert_well_formed(doc)
        rows = seg_texts(doc, "row")
        assert len(rows) == 2 and all(s.kind == "row" for s in doc.segments), name
        product = "Sensor, humidity" if sep == "," else "Sensor"
        assert rows[0] == f"sku: HX-1; product: {product}; price: 149", name
        assert rows[1] == "sku: TX-2; product: Logger", name
        assert doc.format == "csv" and doc.text == "\n".join(rows)


def test_csv_with_header_only_fails(tmp_path: Path) -> None:
    assert "no data rows" in reason(write(tmp_path / "h.csv", "a,b,c\n\n"))


def test_json_and_jsonl_records_are_flattened(tmp_path: Path) -> None:
    data = [
        {
            "name": "Anna",
            "address": {"city": "Oslo", "zip": "0150"},
            "tags": ["a", "b"],
            "manager": None,
            "active": True,
        },
        {"name": "Bo", "projects": [{"id": 7}]},
    ]
    doc = load(write(tmp_path / "people.json", json.dumps(data)))
    assert_well_formed(doc)
    assert seg_texts(doc, "row") == [
        "name: Anna; address.city: Oslo; address.zip: 0150; tags: a, b; active: true",
        "name: Bo; projects.0.id: 7",
    ]
    single = load(write(tmp_path / "one.json", '{"a": {"b": {"c": 1}}}'))
    assert seg_texts(single) == ["a.b.c: 1"]
    lines = load(
        write(
            tmp_path / "log.jsonl",
            '{"level": "info", "msg": "started"}\n\n{"level": "error", "msg": "disk full"}\n',
        )
    )
    assert lines.format == "jsonl"
    assert seg_texts(lines) == ["level: info; msg: started", "level: error; msg: disk full"]


def test_pdf_pages_paragraphs_title_and_outline(tmp_path: Path) -> None:
    long = (
        "The travel policy applies to every trip that is paid by the company. "
        "Book trains where the journey takes less than five hours. "
    ) * 3
    path = make_pdf(
        tmp_path / "policy.pdf",
        [[long, "Short closing paragraph."], ["Meals are refunded up to 40 EUR."]],
        title="Travel Policy",
        sections={0: [("Travel", 0)], 1: [("Meals", 1)]},
    )
    doc = load(path)
    assert_well_formed(doc)
    assert doc.title == "Travel Policy" and doc.format == "pdf"
    assert {s.page for s in doc.segments} == {1, 2}
    assert seg_texts(doc, "heading") == ["Travel", "Meals"]
    paras = [s for s in doc.segments if s.kind == "paragraph"]
    assert [doc.text[s.start : s.end] for s in paras] == [
        long.strip(),
        "Short closing paragraph.",
        "Meals are refunded up to 40 EUR.",
    ]
    assert [(s.page, s.heading_path) for s in paras] == [
        (1, ("Travel",)),
        (1, ("Travel",)),
        (2, ("Travel", "Meals")),
    ]


def test_pdf_readable_with_empty_user_password(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Open to everyone."]])
    locked = encrypt_pdf(
        plain, tmp_path / "restricted.pdf", user_password="", owner_password="owner"
    )
    assert load(locked).text == "Open to everyone."


def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    doc = load(make_docx(tmp_path / "handbook.docx"))
    assert_well_formed(doc)
    assert doc.title == "Staff Handbook" and doc.format == "docx"
    headings = [(doc.text[s.start : s.end], s.level) for s in doc.segments if s.kind == "heading"]
    assert headings == [("Handbook", 1), ("Leave", 2), ("Parental leave", 3), ("Pay", 2)]
    assert seg_texts(doc, "list") == ["- Tell your manager early", "- Book it in the portal"]
    rows = [s for s in doc.segments if s.kind == "row"]
    assert [doc.text[s.start : s.end] for s in rows] == [
        "Country: Norway; Weeks: 49; Paid: yes",
        "Country: Spain; Weeks: 16",
    ]
    assert rows[0].heading_path == ("Handbook", "Leave", "Parental leave")
    pay = next(s for s in doc.segments if "25th" in doc.text[s.start : s.end])
    assert pay.heading_path == ("Handbook", "Pay")


def test_metadata_is_copied(tmp_path: Path) -> None:
    meta = {"tenant": "acme", "groups": ["hr"]}
    doc = load(write(tmp_path / "a.txt", "Hello."), metadata=meta)
    assert doc.metadata == meta and doc.metadata is not meta


def test_supported_suffixes() -> None:
    assert {
        ".pdf",
        ".docx",
        ".html",
        ".htm",
        ".md",
        ".markdown",
        ".txt",
        ".csv",
        ".json",
        ".jsonl",
    } == SUPPORTED_SUFFIXES


# -- bad inputs ----------------------------------------------------------------------------


def test_unsupported_suffix(tmp_path: Path) -> None:
    msg = reason(write(tmp_path / "deck.xyz", "hello"))
    assert msg.startswith("unsupported file type '.xyz'; supported: ") and ".pdf" in msg


@pytest.mark.parametrize("name", ["e.txt", "e.md", "e.pdf", "e.docx", "e.csv", "e.json"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    assert reason(write(tmp_path / name, "")) == "empty file"


@pytest.mark.parametrize("name", ["w.txt", "w.md", "w.html", "w.csv", "w.json", "w.jsonl"])
def test_whitespace_only(tmp_path: Path, name: str) -> None:
    assert reason(write(tmp_path / name, "  \n\t\n   \n")).startswith("no text")


def test_file_over_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", "x" * 300_000)
    assert reason(big, max_bytes=100_000) == (
        "file is 0.3 MB, over the 100000 bytes limit (ingest.max_file_mb)"
    )
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:  # sparse: 123.4 MB on paper, nothing on disk
        fh.truncate(int(123.4 * 2**20))
    assert reason(huge) == "file is 123.4 MB, over the 50 MB limit (ingest.max_file_mb)"


def test_text_over_char_limit(tmp_path: Path) -> None:
    msg = reason(write(tmp_path / "long.txt", "word " * 100), max_chars=50)
    assert "over the 50 limit (ingest.max_text_chars)" in msg


def test_binary_junk_named_txt(tmp_path: Path) -> None:
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" * 50)
    assert reason(nul).startswith("binary data, not text")
    control = tmp_path / "control.txt"
    control.write_bytes(bytes(range(1, 32)) * 10 + b"some text")
    assert reason(control).startswith("binary data, not text")


@pytest.mark.parametrize(
    ("name", "text", "codec", "expected"),
    [
        ("latin1.md", "Caf\u00e9 au lait", "latin-1", "cp1252"),
        ("german.txt", "Der B\u00e4r l\u00e4uft \u00fcber die Stra\u00dfe.", "latin-1", "cp1252"),
        ("euro.csv", "item,price\nCaf\u00e9 cr\u00e8me,3 \u20ac\n", "cp1252", "cp1252"),
        (
            "russian.txt",
            "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440, "
            "\u044d\u0442\u043e \u0442\u0435\u0441\u0442",
            "cp1251",
            "cp1251",
        ),
    ],
)
def test_legacy_encodings_are_detected_and_reported(
    tmp_path: Path, name: str, text: str, codec: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode(codec))
    loaded = parse_bytes(path.read_bytes(), path, doc_id=name)
    assert loaded.encoding == expected
    first_word = text.split()[0].split(",")[0]
    assert first_word in loaded.document.text


def test_utf8_and_bom_files_report_their_encoding(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.txt", "Caf\u00e9")
    assert parse_bytes(plain.read_bytes(), plain, doc_id="p").encoding == "utf-8"
    wide = tmp_path / "wide.txt"
    wide.write_bytes(codecs.BOM_UTF16_LE + "Caf\u00e9".encode("utf-16-le"))
    loaded = parse_bytes(wide.read_bytes(), wide, doc_id="w")
    assert (loaded.encoding, loaded.document.text) == ("utf-16-le", "Caf\u00e9")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    assert reason(fifo) == "cannot read: a named pipe (FIFO); only regular files are read"


def test_file_changed_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "growing.txt", "first line\n")
    real_open = loaders._open

    class AppendedDuringRead(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            with path.open("a", encoding="utf-8") as writer:  # another program writes
                writer.write("a line written during the read\n" * 100)
            return data

    def open_slowly(p: Path) -> io.BufferedReader:
        return AppendedDuringRead(real_open(p).detach())  # type: ignore[attr-defined]

    monkeypatch.setattr(loaders, "_open", open_slowly)
    with pytest.raises(LoadError, match="changed while it was being read"):
        read_file(path)


@pytest.mark.parametrize(
    "raw",
    [b"bad_\xff.txt", b"caf\xe9 100%.md", b"line\nbreak.txt", "caf\u00e9.md".encode()],
)
def test_safe_names_are_reversible_and_storable(raw: bytes) -> None:
    name = os.fsdecode(raw)
    safe = safe_name(name)
    assert raw_name(safe) == raw
    safe.encode("utf-8")  # storable: raises if a surrogate were left
    assert "\n" not in safe
    if raw == "caf\u00e9.md".encode():
        assert safe == name  # a plain UTF-8 name is used unchanged


def test_unreadable_paths(tmp_path: Path) -> None:
    assert reason(tmp_path / "missing.txt") == "cannot read: no such file"
    folder = tmp_path / "folder.md"
    folder.mkdir()
    assert reason(folder).startswith("cannot read: it is a directory")


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root reads files regardless of permissions"
)
def test_permission_denied(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "classified")
    secret.chmod(0)
    try:
        assert reason(secret) == "cannot read: permission denied"
    finally:
        secret.chmod(0o600)


def test_permission_error_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path as chmod 000, simulated so that it also runs as root."""
    secret = write(tmp_path / "secret.txt", "classified")

    def denied(path: Path) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(loaders, "_open", denied)
    assert reason(secret) == "cannot read: permission denied"


def test_corrupt_pdfs(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", [["Some text that is long enough."]]).read_bytes()
    cases = {
        "truncated.pdf": good[: len(good) // 2],
        "junk.pdf": b"not a pdf at all" * 20,
        "garbage.pdf": b"%PDF-1.7\n" + os.urandom(2000),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert reason(tmp_path / name).startswith("corrupt or unreadable PDF ("), name


def test_encrypted_pdf(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Top secret figures."]])
    locked = encrypt_pdf(
        plain, tmp_path / "locked.pdf", user_password="s3cret", owner_password="owner"
    )
    assert reason(locked) == "encrypted PDF: remove the password and ingest again"


def test_scanned_pdf_without_text(tmp_path: Path) -> None:
    assert reason(make_blank_pdf(tmp_path / "scan.pdf")) == (
        "no extractable text (scanned PDF? run OCR first)"
    )


def test_zip_bomb_docx_is_refused_without_inflating(tmp_path: Path) -> None:
    bomb = make_zip_bomb(tmp_path / "bomb.docx", megabytes=210)
    assert bomb.stat().st_size < 2 * 2**20
    assert reason(bomb) == "suspicious DOCX: expands to 210 MB (zip bomb?)"


def test_zip_bomb_ratio_and_patched_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ratio = make_zip_bomb(tmp_path / "ratio.docx", megabytes=12)  # 12 MB from ~60 KB
    assert reason(ratio) == "suspicious DOCX: expands to 12 MB (zip bomb?)"
    monkeypatch.setattr(docx_format, "MAX_UNCOMPRESSED", 2 * 2**20)
    monkeypatch.setattr(docx_format, "RATIO_FLOOR", 100 * 2**20)
    small = make_zip_bomb(tmp_path / "small.docx", megabytes=3)
    assert reason(small) == "suspicious DOCX: expands to 3 MB (zip bomb?)"


def test_corrupt_docx(tmp_path: Path) -> None:
    not_zip = write(tmp_path / "fake.docx", "this is not a zip file")
    assert reason(not_zip).startswith("corrupt DOCX (not a zip archive")
    other = make_zip(tmp_path / "other.docx", {"content.xml": b"<x/>"})
    assert reason(other) == "corrupt DOCX (no word/document.xml: not a Word document)"
    broken = make_zip(tmp_path / "broken.docx", {"word/document.xml": b"<w:document"})
    assert reason(broken).startswith("corrupt DOCX (")


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    msg = reason(write(tmp_path / "bad.json", '{\n  "a": 1,\n  "b": \n}'))
    assert msg.startswith("invalid JSON (line 4, column 1")
    msg = reason(write(tmp_path / "bad.jsonl", '{"a": 1}\n{"b": 2}\n{"c": \n'))
    assert msg.startswith("invalid JSON on line 3")
    assert reason(write(tmp_path / "empty.json", "[]")).startswith("no text")


def test_malformed_csv(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b\n1,2\n" + b'"' + b"x" * 200_000 + b'"\n')
    assert reason(path).startswith("malformed CSV (line")
