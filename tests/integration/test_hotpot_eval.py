"""Multi-hop retrieval on real HotpotQA questions with the real MiniLM embedder.

Reads ``hotpotqa-dev100`` where ``eval_data`` finds it (HotpotQA, CC BY-SA 4.0, never copied
into the repository); skipped, with the places looked in, when it is in none of them.
To stay small, the test indexes the distractor-setting passages of the first 20 questions
(about 200: each question's 2 gold and 8 topically close distractors, all in one
collection) rather than all 991; ``benchmarks/multihop.py`` measures the whole collection.
"""

from __future__ import annotations

import json
from pathlib import Path

from expertly.config import Settings
from expertly.evaluate.hotpot import run_hotpot
from expertly.workspace import Workspace
from tests.integration.eval_data import eval_data

HOTPOT = eval_data("hotpotqa-dev100", "passages.jsonl")


QUESTIONS = 20


def _first_questions(folder: Path) -> tuple[Path, int]:
    """A HotpotQA folder with the first questions and the passages of their contexts."""
    lines = (HOTPOT / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:QUESTIONS]
    wanted = {pid for line in lines for pid in json.loads(line)["candidate_passage_ids"]}
    passages = [
        line
        for line in (HOTPOT / "passages.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] in wanted
    ]
    folder.mkdir()
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "passages.jsonl").write_text("\n".join(passages) + "\n", encoding="utf-8")
    return folder, len(passages)


def test_multihop_finds_both_supporting_passages_more_often(tmp_path: Path) -> None:
    folder, passages = _first_questions(tmp_path / "hotpot")
    parent = Workspace(tmp_path / "ws", Settings())
    report = run_hotpot(
        parent,
        folder,
        ["hybrid", "multihop-iterate"],
        index_dir=tmp_path / "ws" / "eval" / "hotpot",
    )
    assert report["documents"] == passages and report["questions"] == QUESTIONS
    assert passages > 150 and not report["index"]["reused"]
    single = report["configurations"]["hybrid"]["metrics"]
    multihop = report["configurations"]["multihop-iterate"]["metrics"]
    for metrics in (single, multihop):
        assert metrics["recall@2"] <= metrics["recall@5"] <= metrics["recall@10"]
        assert all(metrics[f"both@{k}"] <= metrics[f"recall@{k}"] for k in (2, 5, 10))
    # The demand: a second round raises supporting-passage recall over one search.
    assert multihop["both@5"] > single["both@5"]
    assert multihop["recall@5"] > single["recall@5"]
    assert multihop["recall@10"] >= single["recall@10"]
    rows = report["per_question"]["multihop-iterate"]
    assert len(rows) == QUESTIONS and all(len(r["top10"]) == 10 for r in rows)
