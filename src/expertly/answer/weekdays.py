"""The days of the week a question asks about, and the days a source sentence speaks of.

Opening hours, rotas and timetables are written day by day: "Day: Sunday; Ellstead:
Closed" sits next to the Saturday row, matches "What time does the Ellstead surgery close on
Saturdays?" almost as well, and answers it wrongly. A sentence or row that names days of
the week, none of them a day the question names, speaks of other days
(``about_other_days``) and is not the answer.

Days are read as names ("Saturday", "Sat", "Saturdays"), ranges ("Monday to Friday",
"Mon-Fri", "Saturday after closing until Monday 08:00": every day between, the week wrapping
round), and the words "weekdays", "weekends", "daily" and "every day". A text that names no
day speaks of every day: nothing sets it apart.
"""

from __future__ import annotations

import re

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SHORT = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4}
_SHORT |= {"sat": 5, "sun": 6}
_FULL = r"(?i:\b(?:" + "|".join(DAYS) + r")s?\b)"
_ABBREVIATED = r"\b(?:" + "|".join(sorted((a.title() for a in _SHORT), key=len, reverse=True))
_ABBREVIATED += r")\b\.?"  # capitalised: "Sun" is Sunday, "sun" the sun
_DAY = rf"(?:{_FULL}|{_ABBREVIATED})"
_DAY_RE = re.compile(_DAY)
_RANGE = re.compile(
    rf"({_DAY})(?:[ \t]+[\w:.]+){{0,3}}?\s*(?i:\bto\b|\buntil\b|\btill\b|\bthrough\b|\bthru\b"
    rf"|-|–|—)\s*({_DAY})"
)
_GROUPS = {
    re.compile(r"\bweek\s?days?\b", re.IGNORECASE): set(range(5)),
    re.compile(r"\bweek\s?ends?\b", re.IGNORECASE): {5, 6},
    re.compile(r"\b(?:daily|every\s+day|7\s+days\s+a\s+week|seven\s+days)\b", re.IGNORECASE): set(
        range(7)
    ),
}


def _day(name: str) -> int:
    """The day (0 = Monday) a name found by ``_DAY`` stands for."""
    word = name.lower().rstrip(".")
    if word in _SHORT:
        return _SHORT[word]
    return DAYS.index(word.removesuffix("s") if word not in DAYS else word)


def days_named(text: str) -> set[int]:
    """The days of the week ``text`` speaks of (0 = Monday): names, ranges and groups; an
    empty set when it names none."""
    found: set[int] = set()
    for match in _RANGE.finditer(text):
        first, last = _day(match.group(1)), _day(match.group(2))
        span = (last - first) % 7
        found |= {(first + i) % 7 for i in range(span + 1)}
    for match in _DAY_RE.finditer(text):
        found.add(_day(match.group(0)))
    for pattern, days in _GROUPS.items():
        if pattern.search(text):
            found |= days
    return found


def about_other_days(text: str, question: str) -> bool:
    """Whether ``text`` names days of the week and none of those ``question`` names (a
    Sunday row for a question on Saturdays); False when either names no day."""
    return speaks_of_other_days(text, days_named(question))


def speaks_of_other_days(text: str, asked: set[int]) -> bool:
    """``about_other_days`` for a question whose days (``days_named``) are ``asked``: read
    once for all the units checked against the same question."""
    if not asked:
        return False
    spoken = days_named(text)
    return bool(spoken) and not spoken & asked
