"""Bands: the ranges of a measure a table is cut by, and the row a question's amount is in.

Price lists and rate tables hold one row per band: "weight_band: 1.01-2 kg", "Declared value
per parcel: £300.01 to £500", "Parcels in previous month: 250 to 499", "Up to 2 kg". Rows
of neighbouring bands share every word, so a question stating an amount ("How much is
Shop to Shop for a 1.5 kg parcel?") matches the 0-1 kg row as well as the 1.01-2 kg one,
and the words alone cannot tell them apart. The amount can: a row whose bands of that
measure all leave it out is about another row (``outside``), however many words it shares
with the question.

A band is a record's cell whose whole value is a range ("2.01 to 5 kg", "Up to £300",
"over 30 kg", "7+ days", "250 to 499" under a key naming what is counted), or a range
with both ends anywhere in a sentence ("parcels of 2.01-5 kg"). A limit inside a longer
value ("max 15 kg and 60 cm") is a condition, not a band. Amounts are compared in one unit
per measure (grams and kilograms, days and weeks); a currency is its own measure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from expertly.answer.records import cells

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CURRENCY = r"£|€|\$|\b(?:GBP|EUR|USD|CHF|NOK|SEK|DKK)\b"
_QUALIFIERS = frozenset(
    ["working", "business", "calendar", "clear", "full", "whole", "consecutive"]
)
_AMOUNT = (
    rf"(?:(?P<@cur>{_CURRENCY})\s?)?(?<![\w.,:/#])(?P<@num>{_NUM})(?![\d:,/])"
    r"(?P<@plus>\+)?(?:\s?(?P<@unit>%|[^\W\d_]+)(?:\s(?P<@unit2>[^\W\d_]+))?)?"
)
"""An amount: a currency before it, a figure not inside a code ("N10", "BR-22") or a time
("10:30"), a "+" after it ("7+ days"), then its unit and a word after that ("3 working
days")."""
_LOW = _AMOUNT.replace("@", "a").replace("#", "-")
_HIGH = _AMOUNT.replace("@", "b").replace("#", "")  # after "-": "2.01-5 kg"
_ONE = _AMOUNT.replace("@", "c").replace("#", "-")
_TWO_SIDED = re.compile(rf"(?:\bfrom\s+)?{_LOW}\s*(?:-|–|—|\bto\b)\s*{_HIGH}", re.IGNORECASE)
_BETWEEN = re.compile(rf"\bbetween\s+{_LOW}\s+and\s+{_HIGH}", re.IGNORECASE)
_UP_TO = re.compile(
    r"\b(?:up\s+to(?:\s+and\s+including)?|under|below|less\s+than|no\s+more\s+than|"
    rf"not\s+more\s+than|not\s+over)\s+{_ONE}",
    re.IGNORECASE,
)
_FROM = re.compile(rf"\b(?:over|above|more\s+than|at\s+least|from)\s+{_ONE}", re.IGNORECASE)
_OR_MORE = re.compile(rf"{_ONE}\s+(?:or\s+more|and\s+over|and\s+above|or\s+over)\b", re.IGNORECASE)
_SINGLE = re.compile(_ONE, re.IGNORECASE)
_YEAR = re.compile(r"^(?:19|20)\d\d$")

_SCALE: dict[str, tuple[str, float]] = {}
for _measure, _spec in {
    "mass": "g:0.001 gram:0.001 grams:0.001 kg:1 kgs:1 kilo:1 kilos:1 kilogram:1 kilograms:1 "
    "lb:0.4536 lbs:0.4536 t:1000 tonne:1000 tonnes:1000",
    "length": "mm:0.001 cm:0.01 m:1 metre:1 metres:1 meter:1 meters:1 km:1000 miles:1609 mile:1609",
    "duration": "minute:0.000694 minutes:0.000694 mins:0.000694 hour:0.04167 hours:0.04167 "
    "hrs:0.04167 h:0.04167 day:1 days:1 week:7 weeks:7 month:30.44 months:30.44 year:365 "
    "years:365",
    "volume": "l:1 litre:1 litres:1 liter:1 liters:1 ml:0.001 m3:1000",
    "percent": "%:1 percent:1",
}.items():
    for _pair in _spec.split():
        _name, _factor = _pair.split(":")
        _SCALE[_name] = (_measure, float(_factor))
_CURRENCIES = {"£": "gbp", "€": "eur", "$": "usd"}


@dataclass(frozen=True)
class Band:
    """A range ``low`` to ``high`` (inclusive, in the measure's base unit) of ``kind``: a
    measure ("mass"), a currency ("money:gbp") or a count of a noun ("count:parcel")."""

    kind: str
    low: float
    high: float

    def meets(self, other: Band) -> bool:
        """Whether the two ranges share a value: an amount is a range of one value."""
        return self.kind == other.kind and max(self.low, other.low) <= min(self.high, other.high)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _noun(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _kind(match: re.Match[str], p: str) -> tuple[str, float] | None:
    """The measure and scale of the amount in groups ``p...`` of ``match``: its currency,
    or its unit (after one qualifier: "3 working days"), or a count of the noun after it
    ("300 parcels"); None when it has none."""
    currency = match.group(f"{p}cur")
    if currency:
        return f"money:{_CURRENCIES.get(currency, currency.lower())}", 1.0
    unit, unit2 = match.group(f"{p}unit"), match.group(f"{p}unit2")
    for word in (unit, unit2 if unit and unit.lower() in _QUALIFIERS else None):
        if word and word.lower() in _SCALE:
            return _SCALE[word.lower()]
    counts = unit and unit.isalpha() and len(unit) > 2 and unit.lower() not in _QUALIFIERS
    if counts and not _YEAR.match(match.group(f"{p}num")):
        return f"count:{_noun(unit)}", 1.0
    return None


def _ranges(text: str, *, whole: bool, counted: frozenset[str] = frozenset()) -> list[Band]:
    """The ranges ``text`` states: only when a range is the whole of it (``whole``, a
    record's value) or only ranges with both ends (a sentence). ``counted``: the nouns an
    amount without a unit counts (a record's key: "Parcels in previous month")."""
    out: list[Band] = []
    candidates = [(m, "two") for pattern in (_TWO_SIDED, _BETWEEN) for m in pattern.finditer(text)]
    if whole:
        candidates += [(m, "up") for m in _UP_TO.finditer(text)]
        candidates += [(m, "from") for m in _FROM.finditer(text)]
        candidates += [(m, "from") for m in _OR_MORE.finditer(text)]
        candidates += [(m, "plus") for m in _SINGLE.finditer(text) if m.group("cplus")]
    for match, shape in candidates:
        if whole and match.group(0).strip(" .") != text.strip(" ."):
            continue
        if shape == "two":
            low_kind, high_kind = _kind(match, "a"), _kind(match, "b")
            kind = high_kind or low_kind
            if kind is None or (low_kind and high_kind and low_kind[0] != high_kind[0]):
                kinds = [f"count:{n}" for n in counted] if whole else []
                scale_low = scale_high = 1.0
            else:
                kinds = [kind[0]]
                scale_low = (low_kind or kind)[1]
                scale_high = kind[1]
            low = _number(match.group("anum")) * scale_low
            high = _number(match.group("bnum")) * scale_high
        else:
            found = _kind(match, "c")
            kinds = [found[0]] if found else [f"count:{n}" for n in counted]
            value = _number(match.group("cnum")) * (found[1] if found else 1.0)
            low, high = (-math.inf, value) if shape == "up" else (value, math.inf)
        out += [Band(k, low, high) for k in kinds if low <= high]
    return out


def bands(text: str) -> list[Band]:
    """The bands ``text`` states: each record cell whose value is a range, or, in a text
    that is no record, each range with both ends."""
    found = cells(text)
    if not found:
        return _ranges(text, whole=False)
    out: list[Band] = []
    for key, value in ((c.key, c.value) for c in found):
        counted = frozenset(_noun(w) for w in re.findall(r"[^\W\d_]{4,}", key))
        out += _ranges(value, whole=True, counted=counted)
    return out


def amounts(question: str) -> list[Band]:
    """The amounts ``question`` states, as ranges: its own ranges ("in the 5.01-10 kg
    band") and single amounts ("a 1.5 kg parcel", "worth £450", "300 parcels"), one per
    measure; a measure stated twice with different amounts tells no row apart and is
    left out."""
    stated = _ranges(question, whole=False)
    rest = _BETWEEN.sub(" ", _TWO_SIDED.sub(" ", question))
    for match in _SINGLE.finditer(rest):
        found = _kind(match, "c")
        if found is not None:
            value = _number(match.group("cnum")) * found[1]
            stated.append(Band(found[0], value, value))
    by_kind: dict[str, set[tuple[float, float]]] = {}
    for band in stated:
        by_kind.setdefault(band.kind, set()).add((band.low, band.high))
    return [Band(k, *next(iter(v))) for k, v in by_kind.items() if len(v) == 1]


def sorted_by_band(texts: Sequence[str], question: str) -> tuple[set[int], set[int]]:
    """The indices of ``texts`` with bands of a measure ``question`` states an amount of:
    those none of whose bands of that measure holds it (the 0-1 kg row for a 1.5 kg
    parcel, "Up to £300" for a parcel worth £450), and those whose bands hold every amount
    they have bands for. A text without bands of an asked measure is in neither."""
    asked = amounts(question)
    out: set[int] = set()
    held: set[int] = set()
    if not asked:
        return out, held
    for i, text in enumerate(texts):
        found = bands(text)
        verdicts = [
            any(b.meets(amount) for b in same)
            for amount in asked
            if (same := [b for b in found if b.kind == amount.kind])
        ]
        if verdicts:
            (held if all(verdicts) else out).add(i)
    return out, held


def outside(texts: Sequence[str], question: str) -> set[int]:
    """The indices of ``texts`` with bands of a measure the question states an amount of,
    none of which holds it (``sorted_by_band``). A text without bands of that measure is
    kept."""
    return sorted_by_band(texts, question)[0]
