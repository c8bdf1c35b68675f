from __future__ import annotations

import os
from pathlib import Path

from tests.unit.helpers import fake_workspace, write_corpus


def test_ingest_is_incremental_and_sync_removes(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path)
    first = ws.ingestor.ingest([corpus])
    assert first.count("added") == 3 and first.count("failed") == 0
    assert first.chunks_written > 0 and first.chunks_embedded == first.chunks_written

    again = ws.ingestor.ingest([corpus])
    assert again.count("unchanged") == 3
    assert again.chunks_embedded == 0 and again.chunks_written == 0

    (corpus / "security.txt").write_text("Passwords must have at least 16 characters.\n")
    changed = ws.ingestor.ingest([corpus])
    assert changed.count("updated") == 1 and changed.count("unchanged") == 2
    hits = ws.retriever.search("password characters", k=1).hits
    assert "16 characters" in hits[0].chunk.text

    os.remove(corpus / "prices.csv")
    synced = ws.ingestor.ingest([corpus], sync=True)
    assert [r.doc_id for r in synced.results if r.status == "removed"] == ["prices.csv"]
    assert {d.id for d in ws.store.documents()} == {"leave.md", "security.txt"}
    ws.close()


def test_bad_files_are_reported_and_skipped(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    (corpus / "junk.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (corpus / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    (corpus / "empty.md").write_text("")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    ws = fake_workspace(tmp_path)
    report = ws.ingestor.ingest([corpus])
    failed = {Path(r.path).name: r.reason for r in report.failed}
    assert set(failed) == {"junk.txt", "empty.md", "broken.pdf"}
    assert all(reason for reason in failed.values())
    assert report.count("added") == 4  # the Latin-1 file is decoded, and says how
    assert [(Path(r.path).name, r.encoding) for r in report.legacy_encoded] == [
        ("latin1.txt", "cp1252")
    ]
    assert report.to_dict()["encodings"] == [
        {"path": str(corpus / "latin1.txt"), "encoding": "cp1252"}
    ]
    ws.close()


def test_deleted_document_is_unfindable_at_once(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([corpus])
    assert any(
        h.chunk.doc_id == "prices.csv"
        for h in ws.retriever.search("HX-100 humidity sensor price").hits
    )
    assert ws.store.delete("prices.csv")
    for mode in ("dense", "sparse", "hybrid"):
        hits = ws.retriever.search("HX-100 humidity sensor price", mode=mode).hits
        assert all(h.chunk.doc_id != "prices.csv" for h in hits)
    ws.close()


def test_chunking_change_triggers_rechunk(tmp_path: Path) -> None:
    from expertly.config import ChunkingSettings

    corpus = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([corpus])
    ws.close()
    ws2 = fake_workspace(
        tmp_path, chunking=ChunkingSettings(max_tokens=50, overlap_tokens=5, min_tokens=4)
    )
    report = ws2.ingestor.ingest([corpus])
    assert report.count("updated") == 3
    ws2.close()


def test_acl_metadata_filters_search(tmp_path: Path) -> None:
    from expertly.types import Filters

    corpus = write_corpus(tmp_path / "docs")
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "salaries.md").write_text("# Salaries\n\nThe salary band for engineers is 70k to 95k.\n")
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([corpus])
    ws.ingestor.ingest([hr], metadata={"tenant": "acme", "groups": ["hr"]})
    q = "salary band engineers"
    assert any(h.chunk.doc_id == "salaries.md" for h in ws.retriever.search(q).hits)
    outsider = ws.retriever.search(q, filters=Filters(tenant="acme", groups=("sales",))).hits
    assert all(h.chunk.doc_id != "salaries.md" for h in outsider)
    member = ws.retriever.search(q, filters=Filters(tenant="acme", groups=("hr",))).hits
    assert member[0].chunk.doc_id == "salaries.md"
    other_tenant = ws.retriever.search(q, filters=Filters(tenant="globex", groups=("hr",))).hits
    assert all(h.chunk.doc_id != "salaries.md" for h in other_tenant)
    ws.close()
