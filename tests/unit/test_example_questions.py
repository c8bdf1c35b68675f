"""The sample question sets stay true to their corpus.

``examples/questions.jsonl`` (development), the held-out sets on the same corpus and
``examples/questions_utility.jsonl``, ``examples/questions_transit*.jsonl``,
``examples/questions_vet.jsonl``, ``examples/questions_housing*.jsonl`` and
``examples/questions_library*.jsonl``, ``examples/questions_handbook*.jsonl`` and
``examples/questions_insurance*.jsonl``, ``examples/questions_software*.jsonl`` and
``examples/questions_compressors*.jsonl``, ``examples/questions_courier*.jsonl`` and
``examples/questions_rental*.jsonl`` on eleven more corpora (``examples/corpus-utility``,
``-transit``, ``-vet``, ``-housing``, ``-library``, ``-handbook``, ``-insurance``,
``-software``, ``-compressors``, ``-courier``, ``-rental``) must
each be answerable from the document they name, and no two sets of a corpus may ask about
the same fact, or a figure reported on a held-out set would be measured on what was tuned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from expertly.ingest.loaders import load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETS = {  # question set: (its corpus, its factual questions)
    "questions.jsonl": ("corpus", 13),
    "questions_heldout.jsonl": ("corpus", 13),
    "questions_heldout2.jsonl": ("corpus", 12),
    "questions_heldout3.jsonl": ("corpus", 12),
    "questions_heldout4.jsonl": ("corpus", 12),
    "questions_heldout5.jsonl": ("corpus", 12),
    "questions_utility.jsonl": ("corpus-utility", 12),
    "questions_transit.jsonl": ("corpus-transit", 12),
    "questions_transit2.jsonl": ("corpus-transit", 12),
    "questions_vet.jsonl": ("corpus-vet", 12),
    "questions_housing.jsonl": ("corpus-housing", 12),
    "questions_housing2.jsonl": ("corpus-housing", 12),
    "questions_library.jsonl": ("corpus-library", 12),
    "questions_library2.jsonl": ("corpus-library", 12),
    "questions_handbook.jsonl": ("corpus-handbook", 12),
    "questions_handbook2.jsonl": ("corpus-handbook", 12),
    "questions_insurance.jsonl": ("corpus-insurance", 12),
    "questions_insurance2.jsonl": ("corpus-insurance", 12),
    "questions_software.jsonl": ("corpus-software", 12),
    "questions_software2.jsonl": ("corpus-software", 12),
    "questions_compressors.jsonl": ("corpus-compressors", 12),
    "questions_compressors2.jsonl": ("corpus-compressors", 12),
    "questions_courier.jsonl": ("corpus-courier", 12),
    "questions_courier2.jsonl": ("corpus-courier", 12),
    "questions_rental.jsonl": ("corpus-rental", 12),
    "questions_rental2.jsonl": ("corpus-rental", 12),
}


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EXAMPLES / name).read_text().splitlines() if line]


def flat(text: str) -> str:
    """Lower case, whitespace collapsed: the loaders keep line breaks of the source."""
    return re.sub(r"\s+", " ", text).lower()


def test_every_question_set_is_listed() -> None:
    assert {p.name for p in EXAMPLES.glob("questions*.jsonl")} == set(SETS)


@pytest.mark.parametrize("name", SETS)
def test_every_factual_answer_is_stated_in_its_source(name: str) -> None:
    corpus, factual = SETS[name]
    checked = 0
    for row in rows(name):
        if row["kind"] == "unanswerable":
            assert row["source"] is None and row["answer"] is None, row["id"]
            continue
        source = EXAMPLES / corpus / str(row["source"])
        text = flat(load_file(source, doc_id=row["source"]).text)
        for needle in row["must_contain"]:
            assert flat(str(needle)) in text, (row["id"], needle, row["source"])
        checked += 1
    assert checked == factual


def test_the_sets_ask_different_questions_with_unique_ids() -> None:
    everything = [(SETS[name][0], r) for name in SETS for r in rows(name)]
    ids = [r["id"] for _, r in everything]
    assert len(ids) == len(set(ids))
    questions = [r["question"] for _, r in everything]
    assert len(questions) == len(set(questions))
    facts = [
        (corpus, r["source"], tuple(r["must_contain"]))
        for corpus, r in everything
        if r["kind"] != "unanswerable"
    ]
    assert len(facts) == len(set(facts))
