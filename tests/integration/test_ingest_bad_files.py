"""`expertly ingest` on good files mixed with every kind of bad one, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit._files import encrypt_pdf, make_docx, make_pdf, make_zip_bomb


def _mixed_folder(root: Path) -> tuple[set[str], dict[str, str]]:
    """Returns (good file names, bad file name -> word expected in its reason)."""
    root.mkdir()
    make_pdf(root / "good.pdf", [["The calibration interval is 12 months."], ["Page two text."]])
    make_docx(root / "good.docx")
    (root / "good.md").write_text("# Policy\n\nBadges must be worn at all times.\n")
    (root / "good.csv").write_text("sku,price\nA-1,10\nB-2,20\n")
    (root / "good.html").write_text(
        "<html><body><main><h1>T</h1><p>Hello there.</p></main></body></html>"
    )
    (root / "good.json").write_text('[{"q": "What is X?", "a": "X is Y."}]')

    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%garbage")
    make_pdf(root / "plain.pdf", [["Secret text."]])
    encrypt_pdf(
        root / "plain.pdf", root / "encrypted.pdf", user_password="pw", owner_password="owner"
    )
    (root / "plain.pdf").unlink()
    (root / "junk.txt").write_bytes(os.urandom(2048) + b"\x00" * 64)
    (root / "latin1.txt").write_bytes("Stra\xdfe und Caf\xe9".encode("latin-1"))
    (root / "empty.md").write_text("")
    (root / "blank.txt").write_text("  \n\n\t\n")
    (root / "huge.txt").write_text("word " * 700_000)  # 3.5 MB, over the 2 MB limit set below
    make_zip_bomb(root / "bomb.docx", 300)
    (root / "not-a-docx.docx").write_bytes(b"PK\x03\x04 definitely not a zip")
    (root / "dangling.md").symlink_to(root / "does-not-exist.md")
    good = {"good.pdf", "good.docx", "good.md", "good.csv", "good.html", "good.json", "latin1.txt"}
    bad = {
        "corrupt.pdf": "pdf",
        "encrypted.pdf": "encrypted",
        "junk.txt": "binary",
        "empty.md": "empty",
        "blank.txt": "text",
        "huge.txt": "limit",
        "bomb.docx": "zip bomb",
        "not-a-docx.docx": "docx",
        "dangling.md": "read",
    }
    return good, bad


def _ingest(ws: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERTLY_INGEST__MAX_FILE_MB": "2", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), "ingest", str(folder), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_good_files_indexed_bad_files_named_with_reason(tmp_path: Path) -> None:
    good, bad = _mixed_folder(tmp_path / "mixed")
    result = _ingest(tmp_path / "ws", tmp_path / "mixed", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    added = {Path(f["path"]).name for f in summary["files"] if f["status"] == "added"}
    assert added == good
    reasons = {Path(f["path"]).name: f["reason"] for f in summary["failures"]}
    assert set(reasons) == set(bad)
    for name, word in bad.items():
        assert word in reasons[name].lower(), f"{name}: {reasons[name]!r} should mention {word!r}"
    encodings = {Path(f["path"]).name: f["encoding"] for f in summary["encodings"]}
    assert encodings == {"latin1.txt": "cp1252"}


def test_human_summary_names_each_bad_file_and_strict_fails(tmp_path: Path) -> None:
    _good, bad = _mixed_folder(tmp_path / "mixed")
    result = _ingest(tmp_path / "ws", tmp_path / "mixed", "--strict")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    for name in bad:
        assert name in result.stdout
    assert "7 added" in result.stdout and "9 failed" in result.stdout
    assert "decoded" in result.stdout and "cp1252" in result.stdout
