"""``expertly finetune reranker`` end to end on a tiny workspace: pairs in, negatives mined
from its real hybrid retrieval, a few optimiser steps on the packaged MiniLM with a new
head, and the saved directory reranking ``expertly search`` as the ``cross-encoder``
backend, alone and mixed with the fused scores (``retrieval.rerank_weight``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from tests.unit.helpers import write_corpus

QUESTIONS = {
    "How long is parental leave?": "Employees get 20 weeks of paid parental leave.",
    "How many vacation days?": "Everyone gets 28 days of vacation per calendar year.",
    "What does the HX-100 cost?": "HX-100,Humidity sensor,149",
    "How long must passwords be?": "Passwords must have at least 14 characters.",
}
PAIRS = [{"query": q, "passage": p} for q, p in QUESTIONS.items()]
TRAIN = ["--name", "t", "--negatives", "2", "--batch-size", "2", "--max-seq-len", "64"]


def test_cli_trains_a_cross_encoder_that_reranks_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(tmp_path / "ws")]
    ingested = runner.invoke(app, [*ws, "ingest", str(write_corpus(tmp_path / "docs"))])
    assert ingested.exit_code == 0, ingested.output
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    trained = runner.invoke(
        app,
        [*ws, "finetune", "reranker", str(pairs), *TRAIN, "--lr", "1e-4", "--json"],
    )
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.output)
    out = Path(summary["output_dir"])
    assert out == tmp_path / "ws" / "models" / "reranker-t"
    assert summary["steps"] == 2 and summary["groups"] == 4 and summary["questions"] == 4
    assert summary["negatives"] == 8 and summary["pairs_without_negatives"] == 0
    assert (out / "config.json").is_file() and (out / "expertly-training.json").is_file()

    monkeypatch.setenv("EXPERTLY_RETRIEVAL__RERANK", "cross-encoder")
    monkeypatch.setenv("EXPERTLY_RETRIEVAL__RERANK_MODEL", str(out))
    alone = runner.invoke(app, [*ws, "search", "parental leave weeks", "-k", "3", "--json"])
    assert alone.exit_code == 0, alone.output
    hits = json.loads(alone.output)["hits"]
    assert len(hits) == 3 and all("rerank" in h["scores"] for h in hits)
    assert [h["score"] for h in hits] == [h["scores"]["rerank"] for h in hits]

    monkeypatch.setenv("EXPERTLY_RETRIEVAL__RERANK_WEIGHT", "0.5")
    mixed = runner.invoke(app, [*ws, "search", "parental leave weeks", "-k", "3", "--json"])
    assert mixed.exit_code == 0, mixed.output
    mixed_hits = json.loads(mixed.output)["hits"]
    assert all(0.0 <= h["score"] <= 1.0 for h in mixed_hits)  # a mix of [0, 1] scales
    assert mixed_hits[0]["score"] == max(h["score"] for h in mixed_hits)
