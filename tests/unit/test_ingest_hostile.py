"""Hostile inputs mixed with good files, in process (hashing embedder): no exception
escapes, every good file is indexed and found, every bad one is reported with its reason."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from expertly.embed import Embedder
from expertly.errors import StoreError
from expertly.ingest import loaders
from expertly.ingest.pipeline import Ingestor, IngestReport
from expertly.types import EmbedKind
from expertly.workspace import Workspace
from tests.unit._hostile import check_outcome, make_hostile_folder
from tests.unit.helpers import fake_workspace

pytestmark = pytest.mark.unit


def _by_id(report: IngestReport) -> dict[str, tuple[str, str]]:
    return {r.doc_id: (r.status, r.reason) for r in report.results}


def _found(ws: Workspace, phrase: str) -> set[str]:
    return {h.chunk.doc_id for h in ws.retriever.search(phrase, k=5, mode="sparse").hits}


def test_hostile_folder_is_ingested_file_by_file(tmp_path: Path) -> None:
    exp = make_hostile_folder(tmp_path / "mixed")
    changing = tmp_path / "mixed" / "changing.txt"
    changing.write_text("Otter rota.\n")
    stop = threading.Event()

    def append() -> None:  # another program keeps appending to one file during the run
        while not stop.is_set():
            with changing.open("a", encoding="utf-8") as fh:
                fh.write("Otter rota line.\n")
            time.sleep(0.001)

    writer = threading.Thread(target=append, daemon=True)
    ws = fake_workspace(tmp_path)
    started = time.perf_counter()
    writer.start()
    try:
        report = ws.ingestor.ingest([tmp_path / "mixed"])
    finally:
        stop.set()
        writer.join()
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"the hostile folder took {elapsed:.0f} s"
    check_outcome(_by_id(report), exp)
    status, reason = _by_id(report)["changing.txt"]
    assert status == "added" or "changed while" in reason, (status, reason)

    for doc_id, phrase in exp.good.items():
        assert doc_id in _found(ws, phrase), (doc_id, phrase)
    # nothing from outside the folder got in: not through the link, nor an external entity
    for info in ws.store.documents():
        assert all("root:*" not in c.text for c in ws.store.chunks(info.id)), info.id
    assert [(r.doc_id, r.encoding) for r in report.legacy_encoded] == [("legacy.txt", "cp1252")]
    # the non-UTF-8 name is stored under its escaped id and shown escaped
    (hit,) = [h for h in ws.retriever.search("snorkel inventory", k=1, mode="sparse").hits]
    assert hit.chunk.doc_id == "bad_%FF.txt"
    assert hit.source.endswith("/bad_%FF.txt")
    # bounded chunks: the huge line is cut by characters too
    assert all(len(c.text) <= 1600 for c in ws.store.chunks("huge_line.txt"))
    ws.close()


def test_sync_removes_a_document_with_a_non_utf8_name(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    bad = folder / os.fsdecode(b"caf\xe9_100%.txt")
    bad.write_text("Kayak storage rules.\n")
    (folder / "ok.txt").write_text("Canoe storage rules.\n")
    ws = fake_workspace(tmp_path)
    first = ws.ingestor.ingest([folder])
    assert {r.doc_id for r in first.results if r.status == "added"} == {
        "caf%E9_100%25.txt",
        "ok.txt",
    }
    bad.unlink()
    synced = ws.ingestor.ingest([folder], sync=True)
    assert [r.doc_id for r in synced.results if r.status == "removed"] == ["caf%E9_100%25.txt"]
    assert {d.id for d in ws.store.documents()} == {"ok.txt"}
    ws.close()


def test_follow_links_reads_a_link_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shared.md").write_text("The shared glossary defines a gizmo.\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "shared.md").symlink_to(outside / "shared.md")
    ws = fake_workspace(tmp_path)
    default = ws.ingestor.ingest([folder])
    assert [(r.doc_id, r.status) for r in default.results] == [("shared.md", "skipped")]
    followed = ws.ingestor.ingest([folder], follow_links=True)
    assert [(r.doc_id, r.status) for r in followed.results] == [("shared.md", "added")]
    ws.close()


def test_a_link_cycle_is_walked_once(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "note.md").write_text("Heron note.\n")
    (folder / "a" / "loop").symlink_to(folder, target_is_directory=True)
    ws = fake_workspace(tmp_path)
    for follow in (False, True):
        report = ws.ingestor.ingest([folder], follow_links=follow, reindex=True)
        assert [r.doc_id for r in report.results] == ["a/note.md"]
    ws.close()


def test_an_unexpected_exception_fails_only_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("Alpha.\n")
    (folder / "b.txt").write_text("Beta.\n")

    def broken(data: bytes) -> loaders.Parsed:
        raise ZeroDivisionError("a bug in a loader")

    monkeypatch.setitem(loaders.LOADERS, ".md", ("md", broken))
    ws = fake_workspace(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="expertly.ingest.pipeline"):
        report = ws.ingestor.ingest([folder])
    outcome = _by_id(report)
    assert outcome["b.txt"][0] == "added"
    status, reason = outcome["a.md"]
    assert status == "failed" and "ZeroDivisionError: a bug in a loader" in reason
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    ws.close()


def test_a_store_failure_aborts_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha.\n")
    ws = fake_workspace(tmp_path)

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ws.store, "upsert", disk_full)
    with pytest.raises(StoreError, match=r"No space left on device.*run the same command"):
        ws.ingestor.ingest([folder])
    ws.close()


def test_the_embedding_cache_key_takes_any_text() -> None:
    import hashlib

    from expertly.embed.cache import text_key

    assert text_key(os.fsdecode(b"bad_\xff")) != text_key("bad_")  # no UnicodeEncodeError
    # keys of ordinary text are unchanged, so existing caches stay valid
    assert text_key("caf\u00e9") == hashlib.sha256("caf\u00e9".encode()).hexdigest()


class _ChokesOn:
    """An embedder that fails on any batch holding ``word`` (a model bug on some input)."""

    def __init__(self, inner: Embedder, word: str) -> None:
        self.inner, self.word = inner, word
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        if any(self.word in t for t in texts):
            raise IndexError("index out of range in self")
        return self.inner.embed(texts, kind=kind)


def test_a_text_the_embedder_chokes_on_fails_only_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"Plain text of {name}.\n")
    (folder / "poison.txt").write_text("This one holds the word xyzzy.\n")
    ws = fake_workspace(tmp_path)
    ingestor = Ingestor(
        ws.store,
        _ChokesOn(ws.embedder, "xyzzy"),
        ws.chunker,
        ws.settings.ingest,
        ws.settings.chunking,
    )
    outcome = _by_id(ingestor.ingest([folder]))
    assert {k: v[0] for k, v in outcome.items()} == {
        "a.txt": "added",
        "b.txt": "added",
        "c.txt": "added",
        "poison.txt": "failed",
    }
    assert "cannot embed its text (IndexError" in outcome["poison.txt"][1]
    assert {d.id for d in ws.store.documents()} == {"a.txt", "b.txt", "c.txt"}

    broken = Ingestor(
        ws.store,
        _ChokesOn(ws.embedder, ""),  # chokes on every text
        ws.chunker,
        ws.settings.ingest,
        ws.settings.chunking,
    )
    with pytest.raises(IndexError):  # every document fails: the embedder is broken, stop
        broken.ingest([folder], reindex=True)
    ws.close()


def test_a_lone_document_the_embedder_chokes_on_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "only.txt").write_text("Nothing but this.\n")
    ws = fake_workspace(tmp_path)
    chokes = _ChokesOn(ws.embedder, "")
    ingestor = Ingestor(ws.store, chokes, ws.chunker, ws.settings.ingest, ws.settings.chunking)
    status, reason = _by_id(ingestor.ingest([folder]))["only.txt"]
    assert status == "failed" and "IndexError: index out of range" in reason
    ws.close()
