"""Answer scoring for extractive QA sets (HotpotQA, SQuAD style).

``normalise`` lower-cases, drops punctuation, articles and extra spaces, so that "The Eiffel
Tower." and "eiffel tower" match; ``exact_match`` and ``token_f1`` take the best over the gold
answers, as the official HotpotQA script does. ``contains`` (the normalised gold appears in
the normalised prediction) is reported as well, because small models answer in sentences.
Citation markers like ``[1]`` are removed before scoring, and a number's trailing decimal
zeros and thousands separators before the punctuation goes: "EUR 689.00" holds the "689" a
question's ``must_contain`` asks for, and "1,700" the "1700".
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from expertly.answer.citations import MARKER

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ZERO_DECIMALS = re.compile(r"(?<=\d)\.0+(?!\d)|(?<=\d\.\d)(\d*?)0+(?!\d)")


def normalise(text: str) -> str:
    """Lower case, without citation markers, punctuation, articles and extra spaces; numbers
    without thousands separators and trailing decimal zeros ("1,700.50" -> "17005")."""
    text = _ZERO_DECIMALS.sub(lambda m: m.group(1) or "", _THOUSANDS.sub("", MARKER.sub(" ", text)))
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    pred = normalise(prediction)
    return float(any(pred == normalise(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 over the gold answers; yes/no answers must match exactly."""
    pred_tokens = normalise(prediction).split()
    best = 0.0
    for answer in answers:
        gold_tokens = normalise(answer).split()
        special = {"yes", "no", "noanswer"}
        if (normalise(answer) in special or normalise(prediction) in special) and (
            normalise(answer) != normalise(prediction)
        ):
            continue
        common = Counter(pred_tokens) & Counter(gold_tokens)
        same = sum(common.values())
        if not same:
            continue
        precision, recall = same / len(pred_tokens), same / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains(prediction: str, answers: Sequence[str]) -> float:
    pred = f" {normalise(prediction)} "
    return float(any(normalise(a) and f" {normalise(a)} " in pred for a in answers))
