"""(question, passage) pairs: what the embedder and the reranker are fine-tuned on.

Pairs come from three places:

- a JSONL file, one ``{"query": ..., "passage": ..., "negative": ...}`` per line
  (``question``/``positive`` are accepted as names; ``negative`` and ``doc_id`` are
  optional);
- labelled retrieval data (the CLI builds pairs from a BEIR folder's qrels, with the
  relevant document's id);
- the workspace's own chunks when nothing is labelled (``synthesize_pairs``): the chunk's
  heading (or its first sentence) stands in for a question about the rest of the chunk.

``doc_id``, when known, names the document the passage comes from, so that mining hard
negatives for the reranker never picks another chunk of a relevant document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from expertly.errors import ExpertlyError
from expertly.jsonl import read_jsonl
from expertly.types import Chunk


@dataclass(frozen=True)
class Pair:
    """A question, a passage that answers it and optionally one that does not; ``doc_id``
    names the passage's document when it is known."""

    query: str
    passage: str
    negative: str = ""
    doc_id: str = ""


def load_pairs(path: Path) -> list[Pair]:
    """Pairs from JSONL; a bad line raises naming the file, the line and the fix."""
    pairs: list[Pair] = []
    for number, obj in read_jsonl(path):
        where = f"{path}, line {number}"
        query = obj.get("query", obj.get("question"))
        passage = obj.get("passage", obj.get("positive"))
        negative = obj.get("negative", "")
        doc_id = obj.get("doc_id", "")
        if not isinstance(query, str) or not query.strip():
            raise ExpertlyError(f"{where}: 'query' must be a non-empty string")
        if not isinstance(passage, str) or not passage.strip():
            raise ExpertlyError(f"{where}: 'passage' must be a non-empty string")
        if not isinstance(negative, str):
            raise ExpertlyError(f"{where}: 'negative' must be a string when given")
        if not isinstance(doc_id, str):
            raise ExpertlyError(f"{where}: 'doc_id' must be a string when given")
        pairs.append(Pair(query.strip(), passage.strip(), negative.strip(), doc_id))
    if not pairs:
        raise ExpertlyError(
            f'{path}: holds no pair; write one {{"query": ..., "passage": ...}} per line'
        )
    return pairs


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def synthesize_pairs(
    chunks: Iterable[tuple[str, Chunk]], *, min_words: int = 12, limit: int | None = None
) -> list[Pair]:
    """Pseudo-questions from unlabelled chunks, given as (document title, chunk).

    The question is the chunk's deepest heading when it has one (else the document title,
    else the chunk's first sentence); the passage is the chunk's text without that first
    sentence when the sentence served as the question, so the pair is not a copy. Chunks
    shorter than ``min_words`` words are skipped.
    """
    pairs: list[Pair] = []
    for title, chunk in chunks:
        text = chunk.text.strip()
        if len(text.split()) < min_words:
            continue
        heading = chunk.heading_path[-1] if chunk.heading_path else title
        if heading and heading.strip() and heading.strip() not in text[: len(heading) + 2]:
            pairs.append(Pair(heading.strip(), text, doc_id=chunk.doc_id))
        else:
            parts = _SENTENCE.split(text, maxsplit=1)
            if len(parts) < 2 or len(parts[1].split()) < min_words // 2:
                continue
            pairs.append(Pair(parts[0].strip(), parts[1].strip(), doc_id=chunk.doc_id))
        if limit is not None and len(pairs) >= limit:
            break
    return pairs
