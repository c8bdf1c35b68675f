"""Cleaning a synthesized dataset: duplicates, leakage into an evaluation set, the split.

A dataset built from documents repeats itself (the same fact in a heading and in a table,
the same question about two near-identical rows), and it can contain the very questions a
later evaluation asks, which would make the evaluation measure memory instead of skill.

* ``dedup`` drops pairs whose normalised question equals an earlier one, and near-duplicates
  whose question tokens overlap an earlier question's by Jaccard >= ``threshold``. The
  search uses prefix filtering (two sets with Jaccard >= t must share a token among the
  rarest ``|A| - ceil(t|A|) + 1`` tokens of each), so it stays far below all-pairs cost.
* ``find_leaks`` names the pairs that overlap an evaluation question: the same normalised
  question, a near-duplicate question, question + answer content words that overlap the
  evaluation question + answer by Jaccard >= ``qa_threshold``, or an answer that states a
  figure of the evaluation answer to a question on the same subject.
* ``split_pairs`` makes a seeded train/validation split by document (no document in both,
  which measures generalisation to unseen documents) or by question.
"""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from expertly.errors import ExpertlyError
from expertly.retrieve.hybrid import STOPWORDS

T = TypeVar("T")
SPLITS = ("doc", "question")
_WORD = re.compile(r"\w+")
_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def words(text: str) -> frozenset[str]:
    """The set of whitespace-separated words of ``text`` (for word lists written as text)."""
    return frozenset(text.split())


# Units and verbs too common to show that two questions share a subject.
_GENERIC = words("day week month year hour minute time number many much long get say")


def normalise(text: str) -> str:
    """Lower case, accents folded, punctuation dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(_WORD.findall(folded.lower()))


def tokens(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split())


def content_tokens(text: str) -> frozenset[str]:
    return frozenset(t for t in normalise(text).split() if t not in STOPWORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class EvalQuestion:
    """One question of an evaluation file (its ``answer`` may be empty: unanswerable)."""

    id: str
    question: str
    answer: str = ""


@dataclass(frozen=True)
class Leak:
    """A training pair that overlaps an evaluation question, and why."""

    index: int
    eval_id: str
    reason: str  # same question | near-duplicate question | question and answer overlap |
    # same figure, shared subject
    score: float


def _check_threshold(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ExpertlyError(f"{name} must be in (0, 1], got {value}")


def dedup(
    items: Sequence[T], question: Callable[[T], str], threshold: float = 0.9
) -> tuple[list[T], int]:
    """Items without duplicate questions (the first one of each group is kept), and the
    number removed."""
    _check_threshold("the near-duplicate threshold", threshold)
    sets = [tokens(question(item)) for item in items]
    rarity = Counter(t for s in sets for t in s)
    index: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    kept: list[T] = []
    kept_sets: list[frozenset[str]] = []
    for item, toks in zip(items, sets, strict=True):
        key = normalise(question(item))
        if key in seen:
            continue
        ordered = sorted(toks, key=lambda t: (rarity[t], t))
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered)) + 1]
        candidates = {j for t in prefix for j in index[t]}
        if any(jaccard(toks, kept_sets[j]) >= threshold for j in candidates):
            continue
        seen.add(key)
        for t in prefix:
            index[t].append(len(kept))
        kept.append(item)
        kept_sets.append(toks)
    return kept, len(items) - len(kept)


def load_eval(path: Path | str) -> list[EvalQuestion]:
    """Questions of a JSONL evaluation file: objects with ``question`` (and optionally
    ``id`` and ``answer``), as in examples/questions.jsonl."""
    path = Path(path)
    if not path.is_file():
        raise ExpertlyError(f"{path}: no such evaluation file")
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ExpertlyError(f"{path}, line {number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise ExpertlyError(
                f"{path}, line {number}: expected an object with a 'question' string"
            )
        answer = obj.get("answer")
        out.append(
            EvalQuestion(
                str(obj.get("id", number)),
                obj["question"],
                answer if isinstance(answer, str) else "",
            )
        )
    if not out:
        raise ExpertlyError(f"{path}: no questions in the evaluation file")
    return out


def _stems(text: str) -> frozenset[str]:
    """Content words with a plural "s" dropped ("passwords" meets "password"), without the
    units and verbs that every other question shares."""
    stems = {t[:-1] if len(t) > 3 and t.endswith("s") else t for t in content_tokens(text)}
    return frozenset(stems - _GENERIC)


def _figures(text: str) -> frozenset[str]:
    """Numbers of two or more digits, without thousands separators or a zero decimal part
    ("EUR 1,150.00" → "1150"); one-digit numbers are too common to mean anything."""
    out = set()
    for raw in _FIGURE.findall(text):
        number = re.sub(r"[.,]0+$", "", raw.replace(",", ""))
        if sum(c.isdigit() for c in number) >= 2:
            out.add(number)
    return frozenset(out)


def find_leaks(
    pairs: Sequence[tuple[str, str]],
    evals: Sequence[EvalQuestion],
    *,
    threshold: float = 0.9,
    qa_threshold: float = 0.5,
) -> list[Leak]:
    """The (question, answer) pairs that overlap an evaluation question (one Leak each).

    A pair leaks when its normalised question equals an evaluation question, when the two
    questions are near-duplicates (token Jaccard >= ``threshold``), when question + answer
    content words overlap the evaluation's by Jaccard >= ``qa_threshold``, or when its answer
    states a figure of the evaluation answer and the questions share a content word (the
    same fact asked another way). The check errs on the side of removing.
    """
    _check_threshold("the near-duplicate threshold", threshold)
    _check_threshold("the question-and-answer overlap threshold", qa_threshold)
    prepared = [
        (
            e,
            normalise(e.question),
            tokens(e.question),
            content_tokens(f"{e.question} {e.answer}"),
            _stems(e.question),
            _figures(e.answer),
        )
        for e in evals
    ]
    leaks = []
    for i, (question, answer) in enumerate(pairs):
        norm, toks = normalise(question), tokens(question)
        qa, stems = content_tokens(f"{question} {answer}"), _stems(question)
        figures = _figures(answer) - _figures(question)  # what the answer states
        best: Leak | None = None
        for e, e_norm, e_toks, e_qa, e_stems, e_figures in prepared:
            if norm == e_norm:
                best = Leak(i, e.id, "same question", 1.0)
                break
            score = jaccard(toks, e_toks)
            if score >= threshold and (best is None or score > best.score):
                best = Leak(i, e.id, "near-duplicate question", round(score, 3))
            if best is not None or not e.answer:
                continue
            score = jaccard(qa, e_qa)
            if score >= qa_threshold:
                best = Leak(i, e.id, "question and answer overlap", round(score, 3))
            elif figures & e_figures and stems & e_stems:
                best = Leak(i, e.id, "same figure, shared subject", round(score, 3))
        if best is not None:
            leaks.append(best)
    return leaks


def split_pairs(
    items: Sequence[T],
    *,
    by: str,
    doc: Callable[[T], str],
    val_fraction: float,
    seed: int,
) -> tuple[list[T], list[T]]:
    """(train, validation), seeded; ``by`` is ``doc`` (whole documents go to one side) or
    ``question``. Items keep their order within each side. At least one item stays in
    training; with ``val_fraction`` > 0, at least one goes to validation when possible."""
    if by not in SPLITS:
        raise ExpertlyError(f"split {by!r} is not valid; choose one of: {', '.join(SPLITS)}")
    if not 0 <= val_fraction < 1:
        raise ExpertlyError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = random.Random(seed)
    target = round(len(items) * val_fraction)
    if val_fraction > 0 and len(items) > 1:
        target = max(target, 1)
    val_ids: set[int] = set()
    if by == "question":
        order = list(range(len(items)))
        rng.shuffle(order)
        val_ids = set(order[: min(target, len(items) - 1)])
    else:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, item in enumerate(items):
            groups[doc(item)].append(i)
        names = sorted(groups)
        rng.shuffle(names)
        candidates = names[:-1]  # the last document always stays in training
        for name in candidates:  # whole documents, without overshooting by more than half
            if len(val_ids) >= target:
                break
            if len(val_ids) + len(groups[name]) <= max(1.5 * target, 1):
                val_ids.update(groups[name])
        if target and not val_ids and candidates:  # every document is large: take the smallest
            val_ids.update(groups[min(candidates, key=lambda n: len(groups[n]))])
    train = [x for i, x in enumerate(items) if i not in val_ids]
    val = [x for i, x in enumerate(items) if i in val_ids]
    return train, val
