"""Where the evaluation data sets are, found the same way in CI and in a checkout.

The data sets (SciFact, HotpotQA, ...) are never copied into the repository. A folder is
looked up, first match wins, in:

1. ``$EXPERTLY_EVAL_DATA`` (CI sets it to wherever it unpacked the data);
2. ``<repo>/shared/data`` (a checkout with the shared folder inside it);
3. ``<repo>/../shared/data`` (a checkout next to the shared folder).

A test whose data set is in none of them is skipped with a message naming the places looked
in, except when ``$EXPERTLY_EVAL_DATA`` is set: then the run said where the data is, and its
absence fails the test (CI sets it, so a lost data set cannot pass as a skip).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = "EXPERTLY_EVAL_DATA"


def data_roots() -> list[Path]:
    """The folders searched for evaluation data sets, in order."""
    roots = [REPO / "shared" / "data", REPO.parent / "shared" / "data"]
    if os.environ.get(ENV):
        roots.insert(0, Path(os.environ[ENV]).expanduser())
    return roots


def eval_data(name: str, marker: str) -> Path:
    """The folder of data set ``name`` (it holds the file ``marker``), or skip the module."""
    for root in data_roots():
        if (root / name / marker).is_file():
            return root / name
    looked = ", ".join(str(root / name) for root in data_roots())
    message = f"{name}/{marker} is not in any of: {looked}"
    if os.environ.get(ENV):
        pytest.fail(f"{message}, although {ENV} is set", pytrace=False)
    pytest.skip(f"{message}; set {ENV} to the folder that holds {name}/", allow_module_level=True)


def scifact_subset(scifact: Path, dest: Path, queries: int, others: int, seed: int) -> Path:
    """A BEIR folder with ``queries`` SciFact test queries and a fraction of the corpus.

    The queries are a seeded sample of the 300 test queries; the corpus holds every document
    relevant to one of them plus a seeded sample of ``others`` further documents (the
    distractors). Same arguments, same subset, on every machine.
    """
    rows = (scifact / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    qrels = [row.split("\t") for row in rows if row.strip()]
    test_ids = sorted({q for q, _, _ in qrels}, key=int)
    rng = random.Random(seed)
    chosen = set(rng.sample(test_ids, queries))
    kept_qrels = [r for r in qrels if r[0] in chosen]
    relevant = {d for _, d, _ in kept_qrels}
    corpus = (scifact / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["_id"] for line in corpus]
    pool = sorted(set(ids) - relevant, key=int)
    wanted = relevant | set(rng.sample(pool, others))
    dest.mkdir(parents=True)
    (dest / "corpus.jsonl").write_text(
        "".join(f"{line}\n" for line, i in zip(corpus, ids, strict=True) if i in wanted),
        encoding="utf-8",
    )
    query_lines = (scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    (dest / "queries.jsonl").write_text(
        "".join(f"{line}\n" for line in query_lines if json.loads(line)["_id"] in chosen),
        encoding="utf-8",
    )
    (dest / "qrels-test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join("\t".join(r).strip() + "\n" for r in sorted(kept_qrels, key=lambda r: int(r[0]))),
        encoding="utf-8",
    )
    return dest
