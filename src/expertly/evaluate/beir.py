"""Indexing a labelled corpus (BEIR, HotpotQA) into its own workspace for evaluation.

The corpus is read by ``expertly.corpora``; here it is put into a workspace next to the
user's (``<workspace>/eval/<dataset>-<embedder>``) with the user's settings, through the
workspace's ``Ingestor`` — the one way documents get into a store — so it is chunked,
embedded and searched exactly as the user's own documents are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expertly.types import Document
    from expertly.workspace import Workspace

IndexProgress = Callable[[int, int], None]
"""(documents indexed, documents to index) after each embedded batch."""


@dataclass(frozen=True)
class IndexReport:
    """What ``index_corpus`` did: ``indexed`` documents (re-)embedded, ``reused`` when the
    existing index already held the whole corpus."""

    path: Path
    documents: int
    chunks: int
    indexed: int
    removed: int
    seconds: float

    @property
    def reused(self) -> bool:
        return self.indexed == 0 and self.removed == 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "default"


def default_index_dir(parent: Workspace, dataset: str) -> Path:
    """``<workspace>/eval/<dataset>-<embedder>``: one index per dataset and embedding model,
    so a second run reuses it and a run with another embedder does not overwrite it."""
    name = parent.embedder.name  # cheap: models load on first use
    return parent.root / "eval" / f"{_slug(dataset)}-{_slug(name)}"


def eval_workspace(parent: Workspace, index_dir: Path) -> Workspace:
    """A workspace at ``index_dir`` with ``parent``'s settings (embedder, chunking,
    retrieval) and parts, so the corpus is chunked, embedded and searched as the user's
    own documents would be, without touching the user's index."""
    return parent.at(index_dir)


def index_corpus(
    ws: Workspace,
    documents: Sequence[Document],
    *,
    rebuild: bool = False,
    progress: IndexProgress | None = None,
) -> IndexReport:
    """Bring ``ws``'s index in line with ``documents`` (``Ingestor.sync_documents``):
    unchanged documents are skipped, others (re-)indexed, absent ones removed; ``rebuild``
    starts from an empty index."""
    if rebuild:
        ws.reset_index()
    done = ws.ingestor.sync_documents(documents, progress=progress)
    stats = ws.stats()
    return IndexReport(
        path=ws.index_path,
        documents=int(stats["documents"]),
        chunks=int(stats["chunks"]),
        indexed=done.count("added") + done.count("updated"),
        removed=done.count("removed"),
        seconds=done.seconds,
    )
