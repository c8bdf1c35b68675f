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
