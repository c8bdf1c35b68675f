"""search_docs: numbered passages for the model, hits for citations, the caller's filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from expertly.agents.tools.base import ToolError
from expertly.agents.tools.search import SearchDocs, format_passage
from expertly.config import RetrievalSettings
from expertly.types import Principal
from tests.unit.helpers import fake_workspace, write_corpus


def test_passages_are_numbered_and_hits_returned(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    result = SearchDocs(ws.retriever).run(query="parental leave weeks", k=2)
    assert len(result.hits) == 2
    assert result.hits[0].chunk.doc_id == "leave.md"
    first = result.output.split("\n\n")[0]
    assert first.startswith("[1] ")
    assert "20 weeks of paid parental leave" in first
    assert result.hits[0].chunk.location in first
    assert "[2] " in result.output
    ws.close()


def test_principal_filters_apply_inside_the_search(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "salaries.md").write_text("# Salaries\n\nThe salary band for engineers is 70k to 95k.\n")
    ws.ingestor.ingest([hr], metadata={"tenant": "acme", "groups": ["hr"]})
    q = "salary band engineers"
    member = SearchDocs(ws.retriever, principal=Principal("ann", "acme", ("hr",))).run(query=q)
    assert member.hits[0].chunk.doc_id == "salaries.md"
    outsider = SearchDocs(ws.retriever, principal=Principal("bob", "acme", ("sales",))).run(query=q)
    assert all(h.chunk.doc_id != "salaries.md" for h in outsider.hits)
    assert "70k" not in outsider.output
    ws.close()


def test_nothing_relevant_returns_no_hits(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, retrieval=RetrievalSettings(min_relevance=0.99))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    result = SearchDocs(ws.retriever).run(query="quantum chromodynamics")
    assert result.hits == ()
    assert result.output.startswith("No passage in the documents answers")
    ws.close()


def test_bad_arguments(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    tool = SearchDocs(ws.retriever)
    with pytest.raises(ToolError, match="empty"):
        tool.run(query=" ")
    with pytest.raises(ToolError, match="k must be between 1 and 20"):
        tool.run(query="leave", k=500)
    ws.close()


def test_long_passages_are_trimmed(tmp_path: Path) -> None:
    from expertly.types import Chunk, Hit

    text = "word " * 500
    hit = Hit(Chunk("d#0", "d", 0, text, 0, len(text)), 1.0, title="Doc")
    out = format_passage(3, hit, limit=100)
    assert out.startswith("[3] Doc — chars 0-2500\n")
    assert len(out.splitlines()[1]) == 100 and out.endswith("…")
