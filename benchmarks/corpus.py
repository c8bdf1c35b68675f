"""Deterministic synthetic corpora for the benchmarks (no data is shipped or downloaded)."""

from __future__ import annotations

import random
from pathlib import Path

_SUBJECTS = [
    "invoice",
    "warranty",
    "sensor",
    "calibration",
    "travel",
    "password",
    "shipping",
    "refund",
    "battery",
    "firmware",
    "onboarding",
    "expense",
    "laptop",
    "contract",
    "discount",
    "audit",
    "humidity",
    "pressure",
    "gateway",
    "dashboard",
    "license",
    "backup",
    "holiday",
    "training",
]
_VERBS = ["requires", "covers", "limits", "describes", "replaces", "extends", "reports", "blocks"]
_OBJECTS = [
    "approval by a manager",
    "a serial number",
    "the regional office",
    "two-factor login",
    "a signed form",
    "the service desk",
    "annual review",
    "the spare parts list",
    "a firmware update",
    "the customer portal",
    "written notice",
    "the safety checklist",
]


def sentence(rng: random.Random) -> str:
    a, b = rng.sample(_SUBJECTS, 2)
    return (
        f"The {a} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} and {b} item "
        f"{rng.randint(100, 9999)} within {rng.randint(2, 90)} days."
    )


def write_corpus(folder: Path, documents: int, *, paragraphs: int = 3, seed: int = 7) -> Path:
    """``documents`` Markdown files of ``paragraphs`` sections of ~60 words each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(documents):
        subject = _SUBJECTS[i % len(_SUBJECTS)]
        body = "\n\n".join(
            f"## {subject.title()} part {p}\n\n" + " ".join(sentence(rng) for _ in range(4))
            for p in range(paragraphs)
        )
        (folder / f"doc{i:05d}.md").write_text(f"# {subject.title()} policy {i}\n\n{body}\n")
    return folder


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [
        f"which {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}?"
        for _ in range(n)
    ]


def sentence_pool(size: int, seed: int = 13) -> list[str]:
    """``size`` distinct sentences in the style of ``sentence``."""
    rng = random.Random(seed)
    pool: dict[str, None] = {}
    while len(pool) < size:
        pool.setdefault(sentence(rng), None)
    return list(pool)


def pooled_documents(
    n: int, pool_size: int, *, per_doc: int = 4, seed: int = 7
) -> list[tuple[str, str, list[int]]]:
    """``n`` one-section documents as (title, heading, indexes of their pool sentences).

    Built from a pool so that a document's vector can be derived from the vectors of its
    sentences: encoding 100k documents with MiniLM takes over half an hour on 2 cores.
    """
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        subject = _SUBJECTS[i % len(_SUBJECTS)].title()
        docs.append((f"{subject} policy {i}", f"{subject} part 0",
                     rng.sample(range(pool_size), per_doc)))  # fmt: skip
    return docs
