"""A folder of hostile inputs mixed with good files, generated at run time.

``make_hostile_folder`` writes it and returns what each file must become: good files (with
a phrase that search must find), bad files (with a word their reason must contain) and
skipped paths (symbolic links out of the folder). Shared by the fast unit suite (hashing
embedder, in process) and the integration run through ``expertly ingest``.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.unit._files import make_docx, make_pdf, make_zip_bomb

_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
# "Billion laughs": ten levels of ten references, 10^9 copies of "lol" if expanded.
_LAUGHS = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
ENTITY_DTD = f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{_LAUGHS}]>'


@dataclass
class Expected:
    """What ingest must make of the folder: good names -> a phrase search must find,
    bad names -> a word their reason must contain, skipped names -> a word of the reason."""

    good: dict[str, str] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _entity_docx(path: Path, dtd: str = ENTITY_DTD, text: str = "&lol9;") -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>{dtd}'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _DOCX_TYPES)
        z.writestr("_rels/.rels", _DOCX_RELS)
        z.writestr("word/document.xml", body)
    path.write_bytes(buffer.getvalue())


def make_hostile_folder(root: Path, *, huge_line_chars: int = 400_000) -> Expected:
    """Write the mixed folder under ``root`` (a sibling ``outside/`` holds the link target)."""
    root.mkdir(parents=True)
    exp = Expected()

    # -- good files, each with a phrase of its own ----------------------------------------
    (root / "good.md").write_text("# Badges\n\nBadges must be worn at the aquarium gate.\n")
    exp.good["good.md"] = "badges aquarium gate"
    (root / "good.txt").write_text("The boiler pressure limit is 3 bar in the annex.\n")
    exp.good["good.txt"] = "boiler pressure annex"
    (root / "good.csv").write_text("sku,product\nQZ-9,quartz metronome\n")
    exp.good["good.csv"] = "quartz metronome"
    (root / "good.html").write_text(
        "<html><body><main><h1>Ferry</h1><p>The ferry timetable changes in autumn.</p>"
        "</main></body></html>"
    )
    exp.good["good.html"] = "ferry timetable autumn"
    make_docx(root / "good.docx")
    exp.good["good.docx"] = "parental leave weeks"
    make_pdf(root / "good.pdf", [["The calibration interval is twelve months."]])
    exp.good["good.pdf"] = "calibration interval twelve months"
    (root / "legacy.txt").write_bytes(
        "Le caf\xe9 cr\xe8me co\xfbte trois euros au r\xe9fectoire.".encode("cp1252")
    )
    exp.good["legacy.txt"] = "café crème réfectoire"
    # crasher 1: a 100,000-digit integer (Python refuses to convert it)
    (root / "huge_int.json").write_bytes(
        b'{"serial": ' + b"7" * 100_000 + b', "device": "zebra tachometer"}'
    )
    exp.good["huge_int.json"] = "zebra tachometer"
    # crasher 2: a name that is not valid UTF-8
    (root / os.fsdecode(b"bad_\xff.txt")).write_text("Snorkel inventory is counted weekly.\n")
    exp.good["bad_%FF.txt"] = "snorkel inventory weekly"
    odd_dir = root / os.fsdecode(b"dir_\xfe\x01")
    odd_dir.mkdir()
    (odd_dir / "inside.txt").write_text("The tandem bicycle is serviced monthly.\n")
    exp.good["dir_%FE%01/inside.txt"] = "tandem bicycle serviced monthly"
    (root / "folder.pdf").mkdir()  # a directory named like a file type
    (root / "folder.pdf" / "inner.md").write_text("The lantern budget is approved.\n")
    exp.good["folder.pdf/inner.md"] = "lantern budget approved"
    (root / ".pdf").mkdir()  # hidden: excluded by the default patterns
    (root / ".pdf" / "hidden.md").write_text("never read\n")
    # one huge line: no newline, words then a long run without spaces
    line = "Pelican migration notes. " + "x7Q" * (huge_line_chars // 3)
    (root / "huge_line.txt").write_text(line)
    exp.good["huge_line.txt"] = "pelican migration notes"
    (root / "deep.md").write_text(
        "Walrus census summary.\n\n"
        + "\n".join("  " * i + "- level" for i in range(3000))
        + "\n\n"
        + ">" * 3000
        + " quoted\n"
    )
    exp.good["deep.md"] = "walrus census summary"

    # -- bad files ------------------------------------------------------------------------
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    exp.bad["deep.json"] = "deep"
    (root / "deep.html").write_text(
        "<html><body>"
        + "<div>" * 100_000
        + "Narwhal depth record"
        + "</div>" * 100_000
        + "</body></html>"
    )
    exp.good["deep.html"] = "narwhal depth record"
    make_zip_bomb(root / "bomb.docx", 300)
    exp.bad["bomb.docx"] = "zip bomb"
    _entity_docx(root / "entities.docx")
    exp.bad["entities.docx"] = "docx"  # the XML parser refuses the amplification
    (root / "entities.html").write_text(
        f"{ENTITY_DTD}<html><body><p>Meerkat entity &lol9; report</p></body></html>"
    )
    exp.good["entities.html"] = "meerkat entity report"  # the entity is left unexpanded
    (root / "junk.txt").write_bytes(bytes(range(256)) * 8)
    exp.bad["junk.txt"] = "binary"
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "x.txt")
        exp.bad["x.txt"] = "fifo"

    # -- a symbolic link out of the folder ------------------------------------------------
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "shadow.txt").write_text("root:*:19000:0:99999:7::: secret hash\n")
    (root / "special").mkdir()
    (root / "special" / "shadow.txt").symlink_to(outside / "shadow.txt")
    exp.skipped["special/shadow.txt"] = "outside"
    (root / "special" / "etc").symlink_to(outside, target_is_directory=True)
    exp.skipped["special/etc"] = "outside"
    # an external entity naming the same file must not pull it in either
    xxe = f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{outside / "shadow.txt"}">]>'
    _entity_docx(root / "external.docx", xxe, "Gazelle lookout point &x;")
    exp.good["external.docx"] = "gazelle lookout point"
    (root / "external.html").write_text(
        f"{xxe}<html><body><p>Ibex ridge &x; trail</p></body></html>"
    )
    exp.good["external.html"] = "ibex ridge trail"
    (root / "special" / "inside.md").symlink_to(root / "good.md")  # inside: read normally
    exp.good["special/inside.md"] = "badges aquarium gate"
    return exp


def check_outcome(outcome: dict[str, tuple[str, str]], exp: Expected) -> None:
    """``outcome`` (doc id -> (status, reason)) has every good file added, every bad one
    failed and every link out skipped, with the expected words in their reasons."""
    for doc_id in exp.good:
        assert outcome.get(doc_id, ("missing", ""))[0] == "added", (doc_id, outcome.get(doc_id))
    for doc_id, word in exp.bad.items():
        status, reason = outcome[doc_id]
        assert status == "failed" and word in reason.lower(), (doc_id, status, reason)
    for doc_id, word in exp.skipped.items():
        status, reason = outcome[doc_id]
        assert status == "skipped" and word in reason.lower(), (doc_id, status, reason)
    expected_ids = set(exp.good) | set(exp.bad) | set(exp.skipped)
    assert set(outcome) <= expected_ids | {"changing.txt"}, set(outcome) - expected_ids
