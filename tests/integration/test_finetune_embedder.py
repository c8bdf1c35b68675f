"""Fine-tuning the packaged MiniLM on a tiny pair set: the saved directory loads, its
vectors differ from the base model's, and a workspace pointed at it ingests and searches.
Also the CLI end to end on a tiny BEIR folder (two optimiser steps each, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.config import EmbedderSettings, RetrievalSettings, Settings
from expertly.embed.local import SentenceTransformerEmbedder, packaged_model_dir
from expertly.finetune.embedder import EmbedderTrainConfig, Pair, finetune_embedder
from expertly.workspace import Workspace
from tests.unit.helpers import write_corpus

PAIRS = [
    Pair("How long is parental leave?", "Employees get 20 weeks of paid parental leave."),
    Pair("How many vacation days?", "Everyone gets 28 days of vacation per calendar year."),
    Pair("What does the HX-100 cost?", "HX-100, Humidity sensor, 149 euros."),
    Pair("How long must passwords be?", "Passwords must have at least 14 characters."),
]
CONFIG = EmbedderTrainConfig(epochs=1, batch_size=2, lr=1e-4, max_seq_length=32)


def test_trained_model_loads_differs_and_serves_a_workspace(tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    steps: list[int] = []
    result = finetune_embedder(
        PAIRS, packaged_model_dir(), out, CONFIG, progress=lambda s, t, loss: steps.append(s)
    )
    assert result.steps == 2 and steps == [1, 2]
    assert len(result.losses) == 2 and all(np.isfinite(result.losses))
    assert (out / "config.json").is_file() and (out / "expertly-training.json").is_file()
    assert json.loads((out / "expertly-training.json").read_text())["pairs"] == 4

    texts = [p.passage for p in PAIRS]
    base = SentenceTransformerEmbedder().embed(texts, kind="passage")
    tuned = SentenceTransformerEmbedder(str(out)).embed(texts, kind="passage")
    assert tuned.shape == base.shape
    assert not np.allclose(tuned, base, atol=1e-4)
    # trained on 32-token passages, it still embeds with the base model's 256-token limit
    assert SentenceTransformerEmbedder(str(out)).max_seq_length == 256
    assert np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-4)

    settings = Settings(
        embedder=EmbedderSettings(model=str(out)),
        retrieval=RetrievalSettings(min_relevance=0.0),
    )
    ws = Workspace(tmp_path / "ws", settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    # named by folder and weights: a model retrained in place gets a new name (and index)
    assert str(ws.store.stats()["embedder"]).startswith("tuned@")
    hits = ws.retriever.search("parental leave weeks", k=2, mode="dense").hits
    assert hits and hits[0].chunk.doc_id.endswith("leave.md")
    ws.close()


def test_cli_trains_from_a_beir_folder_and_says_how_to_use_it(tmp_path: Path) -> None:
    folder = tmp_path / "beir"
    folder.mkdir()
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": p.passage} for i, p in enumerate(PAIRS)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": p.query} for i, p in enumerate(PAIRS)]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels-train.tsv").write_text("".join(f"q{i}\td{i}\t1\n" for i in range(4)))
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        app,
        [
            "--workspace",
            str(ws),
            "finetune",
            "embedder",
            "--beir",
            str(folder),
            "--split",
            "train",
            "--name",
            "t",
            "--batch-size",
            "2",
            "--max-seq-len",
            "32",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["pairs"] == 4 and summary["steps"] == 2
    assert Path(summary["output_dir"]) == ws / "models" / "embedder-t"
    text = CliRunner().invoke(
        app,
        [
            "--workspace",
            str(ws),
            "finetune",
            "embedder",
            "--beir",
            str(folder),
            "--name",
            "u",
            "--batch-size",
            "4",
            "--max-seq-len",
            "32",
        ],
    )
    assert text.exit_code == 0, text.output
    assert "EXPERTLY_EMBEDDER__MODEL=" in text.output and "embedder-u" in text.output
