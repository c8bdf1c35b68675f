"""The sample question sets stay true to the sample corpus.

``examples/questions.jsonl`` (development) and ``examples/questions_heldout.jsonl``
(reporting) must each be answerable from the document they name, and must not ask about the
same facts, or a figure reported on the held-out set would be measured on what was tuned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from expertly.ingest.loaders import load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETS = ("questions.jsonl", "questions_heldout.jsonl")


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EXAMPLES / name).read_text().splitlines() if line]


def flat(text: str) -> str:
    """Lower case, whitespace collapsed: the loaders keep line breaks of the source."""
    return re.sub(r"\s+", " ", text).lower()


@pytest.mark.parametrize("name", SETS)
def test_every_factual_answer_is_stated_in_its_source(name: str) -> None:
    checked = 0
    for row in rows(name):
        if row["kind"] == "unanswerable":
            assert row["source"] is None and row["answer"] is None, row["id"]
            continue
        source = EXAMPLES / "corpus" / str(row["source"])
        text = flat(load_file(source, doc_id=row["source"]).text)
        for needle in row["must_contain"]:
            assert flat(str(needle)) in text, (row["id"], needle, row["source"])
        checked += 1
    assert checked == 13


def test_the_two_sets_ask_different_questions_with_unique_ids() -> None:
    dev, held = rows(SETS[0]), rows(SETS[1])
    ids = [r["id"] for r in dev + held]
    assert len(ids) == len(set(ids)) == 30
    dev_facts: set[tuple[Any, tuple[str, ...]]] = {
        (r["source"], tuple(r["must_contain"])) for r in dev
    }
    for r in held:
        if r["kind"] == "unanswerable":
            continue
        assert (r["source"], tuple(r["must_contain"])) not in dev_facts, r["id"]
        assert r["question"] not in {d["question"] for d in dev}
