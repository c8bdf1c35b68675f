"""The store registry (``store.backend``) and the small store protocols seen from callers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from expertly.config import StoreSettings
from expertly.errors import ConfigError, MissingDependencyError
from expertly.ingest.pipeline import CHUNKING_META_KEY
from expertly.store import DocumentHashes, MetaStore, Store, StoreBackend, registry
from expertly.store.registry import (
    StoreTarget,
    create_store,
    register_store,
    require,
    store_names,
)
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, DocumentInfo, Hit, Query
from tests.unit.helpers import fake_workspace, write_corpus


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are undone afterwards."""
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))


def test_sqlite_is_built_in_and_opens_the_path_inside_the_workspace(tmp_path: Path) -> None:
    assert "sqlite" in store_names()
    settings = StoreSettings(path="sub/index.sqlite", sparse_cache="off")
    with closing(create_store(settings, root=tmp_path, dim=8, embedder="e")) as store:
        assert isinstance(store, SQLiteStore) and isinstance(store, StoreBackend)
        assert store.path == tmp_path / "sub" / "index.sqlite" and store.path.is_file()
        assert store.settings is settings and not store.read_only
        assert (store.stats()["embedder"], store.stats()["dim"]) == ("e", 8)
    with closing(
        create_store(settings, root=tmp_path, dim=8, embedder="e", read_only=True)
    ) as reader:
        assert isinstance(reader, SQLiteStore) and reader.read_only


def test_an_unknown_backend_names_the_valid_ones(tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgress")  # accepted until the index is opened
    with pytest.raises(ConfigError, match=r"store.backend = 'postgress' is unknown; valid: sqlite"):
        create_store(settings, root=tmp_path, dim=8, embedder="e")
    ws = fake_workspace(tmp_path, store=settings)
    with pytest.raises(ConfigError, match="valid: sqlite"):
        ws.store  # noqa: B018


def test_a_registered_backend_serves_the_workspace(tmp_path: Path, own_registry: None) -> None:
    targets: list[StoreTarget] = []

    def factory(settings: StoreSettings, target: StoreTarget) -> StoreBackend:
        targets.append(target)
        return SQLiteStore(
            target.root / "elsewhere.sqlite", dim=target.dim, embedder=target.embedder
        )

    register_store("plugin", factory)
    assert store_names() == ["sqlite", "postgres", "plugin"]
    ws = fake_workspace(tmp_path, store=StoreSettings(backend="plugin"))
    report = ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    assert report.count("added") == 3
    assert targets == [StoreTarget(ws.root, ws.embedder.dim, ws.embedder.name, False)]
    assert (ws.root / "elsewhere.sqlite").is_file() and not ws.index_path.exists()
    assert ws.retriever.search("parental leave", k=1).hits[0].chunk.doc_id == "leave.md"
    ws.close()


def test_a_missing_optional_package_names_the_extra(tmp_path: Path, own_registry: None) -> None:
    def factory(settings: StoreSettings, target: StoreTarget) -> StoreBackend:
        require("expertly_no_such_driver", extra="postgres", purpose="store.backend = 'pg'")
        raise AssertionError("not reached")

    register_store("pg", factory)
    with pytest.raises(MissingDependencyError, match=r"pip install 'expertly\[postgres\]'"):
        create_store(StoreSettings(backend="pg"), root=tmp_path, dim=8, embedder="e")
    require("numpy", extra="postgres", purpose="nothing")  # installed: no error


class BareStore:
    """Only the ``Store`` protocol, over a real SQLite store (no hashes, no meta)."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner

    def upsert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.inner.upsert(doc, chunks, vectors)

    def delete(self, doc_id: str) -> bool:
        return self.inner.delete(doc_id)

    def search(self, query: Query, k: int) -> list[Hit]:
        return self.inner.search(query, k)

    def documents(self) -> Iterator[DocumentInfo]:
        return self.inner.documents()

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self.inner.vectors(chunk_ids)


def test_a_factory_returning_less_than_a_backend_is_refused(
    tmp_path: Path, own_registry: None
) -> None:
    inner = SQLiteStore(tmp_path / "i.sqlite", dim=8, embedder="e")
    register_store("bare", lambda settings, target: BareStore(inner))  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match=r"BareStore, which is not .*StoreBackend.*hashes.*close"):
        create_store(StoreSettings(backend="bare"), root=tmp_path, dim=8, embedder="e")
    inner.close()


def test_ingest_needs_only_a_store_and_uses_hashes_and_meta_when_offered(
    tmp_path: Path,
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    ws = fake_workspace(tmp_path)
    real = ws.store
    assert isinstance(real, DocumentHashes) and isinstance(real, MetaStore)
    bare = BareStore(real)  # type: ignore[arg-type]
    assert isinstance(bare, Store)
    assert not isinstance(bare, DocumentHashes) and not isinstance(bare, MetaStore)

    ws.__dict__["store"] = bare
    assert ws.ingestor.ingest([corpus]).count("added") == 3
    assert ws.ingestor.ingest([corpus]).count("unchanged") == 3  # hashes from documents()
    assert real.get_meta(CHUNKING_META_KEY) is None  # nowhere to note the chunking

    ws.__dict__["store"] = real
    ws.__dict__.pop("ingestor")
    assert ws.ingestor.ingest([corpus]).count("unchanged") == 3
    assert real.get_meta(CHUNKING_META_KEY) == ws.ingestor.chunking_signature
    changed = dataclasses.replace(ws.settings.chunking, max_tokens=40)
    ws.settings = dataclasses.replace(ws.settings, chunking=changed)
    for built in ("chunker", "ingestor"):
        ws.__dict__.pop(built)
    assert ws.ingestor.ingest([corpus]).count("updated") == 3  # the meta note noticed it
    ws.close()
