"""How ``expertly ask`` shows an abstention over relevant sources: the closest source
sentences, as text and in ``--json``, through the real typer app on a workspace with the
hashing embedder and the scripted LLM (whose reply, "ok", answers nothing)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from expertly.cli.main import app
from tests.unit.helpers import write_corpus

CONFIG = (
    '[embedder]\nbackend = "hashing"\ndim = 64\n'
    '[llm]\nbackend = "scripted"\n'
    "[retrieval]\nmin_relevance = 0.0\n"
    # no source sentence is close enough to answer with: the route abstains
    "[answer]\nextract_min_score = 2.0\nextract_figure_min_score = 2.0\n"
)


def test_an_abstention_names_where_to_read_on(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(CONFIG)
    runner = CliRunner()
    docs = write_corpus(tmp_path / "docs")
    assert runner.invoke(app, ["-w", str(ws), "ingest", str(docs)]).exit_code == 0
    question = "What does the HX-100 humidity sensor cost?"
    shown = runner.invoke(app, ["-w", str(ws), "ask", question])
    assert shown.exit_code == 0, shown.output
    assert "The documents do not say." in shown.output
    assert "Closest passages" in shown.output and "price_eur: 149" in shown.output
    data = json.loads(runner.invoke(app, ["-w", str(ws), "ask", question, "--json"]).stdout)
    assert data["abstained"] and data["citations"] == []
    assert [lead["doc_id"] for lead in data["leads"]] == ["prices.csv"]
    assert "HX-100" in data["leads"][0]["quote"]
