"""Turning ``[n]`` markers in an answer into Citations, and attributing uncited sentences.

Small models often answer correctly from a source but forget the marker. When enabled,
each uncited sentence is matched to the source whose words it overlaps most; if the overlap
is strong enough the sentence gets that source's marker and the Citation says
``method="attributed"``, so a reader can tell the model's own citations from expertly's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from expertly.retrieve.hybrid import STOPWORDS
from expertly.types import Citation, Hit

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
"""A citation marker, ``[2]`` or ``[1, 3]``; group 1 holds the numbers. The one definition
used wherever markers are read or removed (answers, the agent's supervisor, QA metrics)."""
# A sentence ends at . ! ? followed by white space (so "949.00" and "v2.1" stay whole).
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+(?:[.!?]+|$)")
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.:]\d+)+"
"""A figure written with separators: "1,700", "949.00", "22:40", "3.2.0"."""
_WORD = re.compile(rf"{_NUMBER}|[^\W_]+", re.UNICODE)
_RANGE = re.compile(
    r"(?<![\w:.,\-\u2013])([A-Z]|\d+)\s*(?:-|\u2013|\bto\b)\s*([A-Z]|\d+)(?![\w:.,\-\u2013])"
)
"""A range of single capital letters or whole numbers, "A-D", "A to D", "B–C", "1-3": one
word "a-d" wherever it is written, so that "Zones A to D" finds the "zone: A-D" row."""

ATTRIBUTION_THRESHOLD = 0.5
"""Share of a sentence's content words that must appear in a source to attribute it."""


def cited_numbers(text: str) -> list[int]:
    """Every source number cited in ``text``, in order of first appearance."""
    seen: list[int] = []
    for match in MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` that are not stop words (one letter ones dropped). A
    figure with separators is one word ("22:40", "2.10", not "22", "40", "2", "10"), its
    thousands commas and a price's trailing zeros dropped ("1,700" is "1700", "95.00" is
    "95"): a bus leaving at 22:40 says nothing of route 22. A range of letters or whole
    numbers is a word too, however written (``_RANGE``: "A to D" and "A-D" are "a-d")."""
    lowered = (m.lower() for m in _WORD.findall(text))
    found = {_number(w) for w in lowered if w not in STOPWORDS and len(w) > 1}
    return found | {f"{a}-{b}".lower() for a, b in _RANGE.findall(text)}


def _number(word: str) -> str:
    """``word`` unchanged unless it is a figure with separators (``_NUMBER``): then read as
    ``normalise_figure`` reads it ("95.00" → "95", "2.50" → "2.5"), a version or a time of
    day without its commas only ("3.2.0" and "22:40" stay)."""
    if not word[0].isdigit() or word.isdigit():
        return word
    if ":" not in word and word.count(".") <= 1:
        return normalise_figure(word)
    return word.replace(",", "")


def normalise_figure(value: str) -> str:
    """A figure as written, normalised: thousands commas and a decimal's trailing zeros
    dropped ("1,700" → "1700", "949.00" → "949")."""
    value = value.replace(",", "")
    return value.rstrip("0").rstrip(".") if "." in value else value


def weight(words: set[str]) -> float:
    """Figures and codes identify a fact far better than common words: they count triple."""
    return sum(3.0 if any(ch.isdigit() for ch in w) else 1.0 for w in words)


def best_sentence(source: str, answer: str) -> tuple[int, int]:
    """Span (within ``source``) of the source sentence sharing most words with ``answer``."""
    target = content_words(answer)
    best, best_span = -1.0, (0, min(len(source), 240))
    for match in _SENTENCE.finditer(source):
        overlap = weight(content_words(match.group(0)) & target)
        if overlap > best:
            best, best_span = overlap, (match.start(), match.end())
    return best_span


def _citation(number: int, hit: Hit, answer: str, method: str) -> Citation:
    """Source ``number`` (``hit``) quoted at its sentence sharing most words with
    ``answer``."""
    s, e = best_sentence(hit.chunk.text, answer)
    kind: Literal["cited", "attributed"] = "attributed" if method == "attributed" else "cited"
    return quote_citation(number, hit, hit.chunk.text[s:e], kind)


def quote_citation(
    number: int, hit: Hit, quote: str, method: Literal["cited", "attributed"] = "cited"
) -> Citation:
    """A citation of ``hit`` as source ``number`` quoting ``quote``, words of its chunk
    (white space collapsed: a table row's line breaks read as one line)."""
    chunk = hit.chunk
    return Citation(
        number=number,
        doc_id=chunk.doc_id,
        chunk_id=chunk.id,
        source=hit.source,
        start=chunk.start,
        end=chunk.end,
        score=hit.score,
        title=hit.title,
        page=chunk.page,
        heading_path=chunk.heading_path,
        quote=" ".join(quote.split()),
        method=method,
    )


def resolve(
    text: str, hits: Sequence[Hit], *, attribute: bool
) -> tuple[str, list[Citation], list[int]]:
    """(text with attributed markers added, citations, invalid numbers the model made up)."""
    numbers = cited_numbers(text)
    invalid = [n for n in numbers if not 1 <= n <= len(hits)]
    citations = {n: _citation(n, hits[n - 1], text, "cited") for n in numbers if n not in invalid}
    if attribute and hits:
        pieces = []
        for match in _SENTENCE.finditer(text):
            sentence = match.group(0)
            words = content_words(sentence)
            if MARKER.search(sentence) or len(words) < 2:
                pieces.append(sentence)
                continue
            total = weight(words)
            overlaps = [weight(words & content_words(h.chunk.text)) / total for h in hits]
            best = max(range(len(hits)), key=lambda i: overlaps[i])
            if overlaps[best] >= ATTRIBUTION_THRESHOLD:
                n = best + 1
                citations.setdefault(n, _citation(n, hits[best], sentence, "attributed"))
                stripped = sentence.rstrip()
                trail = sentence[len(stripped) :]
                end = len(stripped.rstrip(".!?"))
                sentence = f"{stripped[:end]} [{n}]{stripped[end:]}{trail}"
            pieces.append(sentence)
        rebuilt = "".join(pieces)
        if rebuilt.replace(" ", "").replace("\n", "") and len(rebuilt) >= len(text.strip()):
            text = rebuilt
    ordered = [citations[n] for n in sorted(citations)]
    return text, ordered, invalid
