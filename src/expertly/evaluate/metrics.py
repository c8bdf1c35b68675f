"""Per-answer scores for ``expertly compare``: correctness, groundedness, citations,
abstention, choices and template adherence. Each function is deterministic and documented
in docs/compare.md.

*Correct* is the headline figure: for a ``choices`` question, the chosen option equals the
reference; for an ``unanswerable`` one, the route abstained; when ``must_contain`` is given,
every listed term appears in the answer; otherwise the normalised reference appears in the
normalised answer (``contains``, as small models answer in sentences).

*Adherence* (for questions with a ``pattern``, the template a ``style`` answer must follow)
is 1 when ``re.search(pattern, answer)`` finds a match in the answer (leading and trailing
whitespace stripped), else 0: anchor with ``^``/``$`` and let ``.`` cross lines with
``(?s)`` in the pattern itself.

*Groundedness* (left undefined for abstentions) needs no model: an answer sentence is
*supported* when at least ``SUPPORT_RECALL`` of its content words (normalised, three letters
or more, or any figure) appear in one sentence of the passages the route saw. It is a
lexical proxy for entailment: it misses paraphrases and cannot see negation, but it never
depends on a judge model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from expertly.answer.choices import choice_in_text
from expertly.evaluate.qa import contains, exact_match, normalise, token_f1
from expertly.evaluate.questions import Question, same_document

SUPPORT_RECALL = 0.5
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_STOP_WORDS = (
    "and are but for from has have its not that the their them then there these they this was "
    "were what when where which who will with you your can does did how into than according "
    "source sources document documents"
)
_STOP = frozenset(_STOP_WORDS.split(" "))


def content_words(text: str) -> set[str]:
    """Normalised words that carry content: three letters or more and not a stop word, or a
    figure of any length."""
    return {w for w in normalise(text).split() if w.isdigit() or (len(w) >= 3 and w not in _STOP)}


def sentences(text: str) -> list[str]:
    """The text's sentences (split after . ! ? and at line breaks), citation markers kept."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def figures(text: str) -> set[str]:
    """The numbers written in ``text``, thousands separators removed ("2,340" -> "2340");
    citation markers such as ``[1]`` are not figures."""
    return {f.replace(",", "").rstrip(".") for f in _FIGURE.findall(_MARKER.sub(" ", text))}


def groundedness(answer: str, passages: Sequence[str], question: str = "") -> dict[str, Any]:
    """Share of answer sentences supported by a passage sentence, and the figures in the
    answer that neither a passage nor the question contains. ``None`` values when the route
    saw no passage."""
    if not passages:
        return {"grounded": None, "unsupported_figures": None}
    passage_sentences = [content_words(s) for p in passages for s in sentences(p)]
    claims = [content_words(s) for s in sentences(answer)]
    claims = [c for c in claims if c]
    supported = sum(
        1
        for claim in claims
        if any(len(claim & p) / len(claim) >= SUPPORT_RECALL for p in passage_sentences)
    )
    seen_figures = figures(question).union(*(figures(p) for p in passages))
    return {
        "grounded": supported / len(claims) if claims else None,
        "unsupported_figures": sorted(figures(answer) - seen_figures),
    }


def citation_scores(
    citations: Sequence[dict[str, Any]], relevant: Sequence[str]
) -> dict[str, float | None]:
    """Document-level citation precision (share of cited documents that are relevant) and
    recall (share of relevant documents cited); None where undefined. A citation names its
    document by id and by source; ``relevant`` may use either."""
    if not relevant:
        return {"citation_precision": None, "citation_recall": None}
    docs = {(c.get("doc_id", ""), c.get("source", "")) for c in citations}

    def match(doc: tuple[str, str], name: str) -> bool:
        return any(part and same_document(part, name) for part in doc)

    good = [d for d in docs if any(match(d, r) for r in relevant)]
    hit = [r for r in relevant if any(match(d, r) for d in docs)]
    return {
        "citation_precision": len(good) / len(docs) if docs else None,
        "citation_recall": len(hit) / len(relevant),
    }


def pick_choice(text: str, choices: Sequence[str]) -> str | None:
    """The choice a free-text answer gives: the one whose word appears first (see
    ``answer.choices.choice_in_text``); used when the route could not choose directly."""
    return choice_in_text(text, choices)


def adherence(text: str, pattern: str) -> float:
    """1.0 when the answer (stripped) matches the template ``pattern`` (``re.search``)."""
    return float(re.search(pattern, text.strip()) is not None)


def score(question: Question, record: dict[str, Any]) -> dict[str, Any]:
    """Every per-answer score of ``record`` (one route's answer to ``question``)."""
    text = record["text"]
    answerable = question.kind != "unanswerable"
    out: dict[str, Any] = {
        "em": exact_match(text, question.answers) if question.answers else None,
        "f1": token_f1(text, question.answers) if question.answers else None,
        "contains": contains(text, question.answers) if question.answers else None,
        "abstain_right": float(record["abstained"]) if not answerable else None,
        "abstain_wrong": float(record["abstained"]) if answerable else None,
        "adherence": adherence(text, question.pattern) if question.pattern else None,
    }
    if question.choices:
        picked = (
            record["choice"] if "choice_method" in record else pick_choice(text, question.choices)
        )
        out["choice"] = picked
        reference = question.answers[0] if question.answers else None
        out["correct"] = float(picked is not None and reference == picked)
    elif not answerable:
        out["correct"] = float(record["abstained"])
    elif question.must_contain:
        words = f" {normalise(text)} "
        out["correct"] = float(all(f" {normalise(t)} " in words for t in question.must_contain))
    else:
        out["correct"] = out["contains"]
    passages = [] if record["abstained"] else record.get("passages", [])
    out.update(groundedness(text, passages, question.question))
    out.update(citation_scores(record.get("citations", []), question.relevant))
    return out


def macro_f1(predicted: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-averaged F1 over ``labels``; a missing prediction counts as wrong for its gold."""
    scores = []
    for label in labels:
        tp = sum(1 for p, g in zip(predicted, gold, strict=True) if p == label == g)
        fp = sum(1 for p, g in zip(predicted, gold, strict=True) if p == label != g)
        fn = sum(1 for p, g in zip(predicted, gold, strict=True) if g == label != p)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0
