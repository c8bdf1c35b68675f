"""Whether an answer addresses its question.

The support check (``evidence``) asks whether each sentence of a reply is in a source; it
cannot see a reply that is faithful to a source and answers another question. A small model
over three passages often does that: asked "I waited in for your engineer and nobody came.
Am I owed anything?", it replies with the meter passage beside the right one ("you can
switch back to unmetered charges within 24 months"), every word of it sourced. What such
replies share is that they barely match the question they were asked: the cosine between
the question and the answer (``answer.min_similarity``) is what the route checks, with the
answer's citation markers and its opening attribution ("According to source [1],") left
out, as they say nothing about the topic.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from expertly.answer.citations import MARKER

if TYPE_CHECKING:
    from expertly.embed import Embedder

_OPENING = re.compile(
    r"^\s*according to (?:the )?(?:sources?|documents?)\s*(?:\[[\d,;\s]+\])?\s*,?\s*",
    re.IGNORECASE,
)


def topic_text(answer: str) -> str:
    """``answer`` as it speaks of its topic: without citation markers and without an
    opening attribution to its sources."""
    return " ".join(_OPENING.sub("", MARKER.sub(" ", answer)).split())


def answer_similarity(question: str, answer: str, embedder: Embedder) -> float:
    """Cosine between ``question`` and ``answer``'s ``topic_text``; 0.0 for an answer with
    no text left. Both are embedded as queries: an answer is no indexed passage, and the
    embedding cache keeps passages on disk for good (it would fill with answers) but only
    the last few queries in memory."""
    text = topic_text(answer)
    if not text:
        return 0.0
    q, a = np.asarray(embedder.embed([question, text], kind="query"), dtype=np.float32)
    norms = float(np.linalg.norm(q) * np.linalg.norm(a))
    return float(q @ a / norms) if norms else 0.0
