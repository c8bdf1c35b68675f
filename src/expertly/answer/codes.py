"""Codes: the identifiers a question or a passage names ("WS-450", "E42", "CO2", "B-exam")
and whether a text names them, ranges of codes included ("G1-G6" names G5).

A code sets one row, error or product apart from its siblings as no plain word does: a
passage that does not name the code a question asks about answers another thing, however
well its other words match.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])[^\W_](?:[\w-]*[^\W_])?")


_LETTER_NAME = re.compile(r"(?<![\w-])[A-Z]-[^\W\d_]{2,}(?![\w-])")
"""A name made of a capital letter, a hyphen and a word ("B-exam", "A-check", "X-ray"): the
letter is what sets it apart from its siblings, as the digits of a code do."""


def codes(text: str) -> set[str]:
    """The identifiers of ``text``: words mixing letters and digits ("WS-450", "E42",
    "CO2") and lettered names ("B-exam"), lower case, hyphens dropped ("ws450",
    "bexam")."""
    found = [*_CODE.finditer(text), *_LETTER_NAME.finditer(text)]
    return {m.group(0).replace("-", "").lower() for m in found}


_ASKS_CODE = re.compile(
    r"\b(?:which|what)\s+(?:(?!(?:is|are|was|were)\b)[^\W\d_]+\s+){0,2}?"
    r"(?:form|code|reference)s?\b(?!\s+of\b)",
    re.IGNORECASE,
)
"""A question asking for an identifier: "Which claim form is used...?", "what form do I
need?", "What reference code...?"."""


def asks_for_code(question: str) -> bool:
    """Whether ``question`` asks which form, code or reference to use: its answer names an
    identifier (``new_codes``), as a "How much...?" names a figure."""
    return bool(_ASKS_CODE.search(question))


def new_codes(text: str, question: str) -> set[str]:
    """The codes ``text`` names that ``question`` does not, written with a capital letter
    ("HR-17", "CL-3A", "KVT-IR7"), not a "24-hour" or a "5pm" (``codes``)."""
    written = {m.group(0) for m in _CODE.finditer(text) if any(c.isupper() for c in m.group(0))}
    return {c.replace("-", "").lower() for c in written} - codes(question)


def code_spans(text: str) -> list[tuple[int, str]]:
    """Where ``text`` names its codes: (offset, code as ``codes`` writes it), in order."""
    return [(m.start(), m.group(0).replace("-", "").lower()) for m in _CODE.finditer(text)]


def missing_codes(wanted: set[str], text: str) -> set[str]:
    """The codes of ``wanted`` that ``text`` does not hold, its punctuation and spaces
    ignored ("stratus-co2-calibration-procedure" holds "co2", "WS 450" holds "ws450"); a
    range of codes holds each code in it ("grade: G1-G6" holds "g5", "IT-05 to IT-11"
    holds "it08")."""
    flat = re.sub(r"[\W_]+", "", f"{text} {' '.join(_in_ranges(text))}".lower())
    return {code for code in wanted if code not in flat}


_CODE_RANGE = re.compile(
    r"(?<![\w-])([^\W\d_]{1,3})-?(\d{1,3})\s*(?:-|–|to)\s*(?:\1-?)?(\d{1,3})(?![\w-])",
    re.IGNORECASE,
)
MAX_RANGE = 50


def _in_ranges(text: str) -> list[str]:
    """The codes inside the ranges of ``text`` ("G1-G3" → G1, G2, G3), their digits as
    wide as the range's first ("IT-05 to IT-07" → IT05, IT06, IT07)."""
    found: list[str] = []
    for match in _CODE_RANGE.finditer(text):
        prefix, first, last = match.group(1), match.group(2), int(match.group(3))
        if int(first) < last <= int(first) + MAX_RANGE:
            found += [f"{prefix}{n:0{len(first)}d}" for n in range(int(first), last + 1)]
    return found


_EXCLUDED = re.compile(
    r"(?P<lead>\b(?:not\s+(?:for|on|with|suitable\s+for|compatible\s+with|available\s+(?:for|on)|"
    r"fitted\s+to)|except(?:\s+for)?|excluding|other\s+than)\s+(?:(?:the|a|an)\s+)?)"
    rf"(?P<codes>{_CODE.pattern}(?:\s*(?:,|/|&|\bor\b|\band\b)\s*(?:the\s+)?{_CODE.pattern})*)",
    re.IGNORECASE,
)
"""Codes named as left out: "Not for BR-22V", "except the BR-15 and BR-22", "not
compatible with WS-450"."""


def unexcluded(text: str) -> str:
    """``text`` without the codes it names only to leave them out (``_EXCLUDED``): a parts
    row "fits_models: BR-22; price_gbp: 139.00; notes: Not for BR-22V" gives no price for
    a BR-22V, though it names one."""
    return _EXCLUDED.sub(lambda m: m.group("lead"), text)


_CODE_LIST = re.compile(
    rf"\s*(?:{_CODE.pattern})(?:\s*(?:,|/|&|\bor\b|\band\b|\bto\b|-|–)\s*(?:{_CODE.pattern}))*\s*"
)


def code_value(value: str) -> set[str]:
    """The codes a value made only of codes names ("BR-15", "BR-22, BR-22V", "G1-G6":
    each code of a range), as ``codes`` writes them; empty for any other value."""
    if not _CODE_LIST.fullmatch(value):
        return set()
    return codes(value) | {c.lower() for c in _in_ranges(value)}


def names_codes(wanted: set[str], text: str) -> bool:
    """Whether ``text`` holds every code of ``wanted`` (``missing_codes``)."""
    return not missing_codes(wanted, text)
