"""Records: the ``key: value`` cells of a table row, and the rows a question names.

A CSV row, a JSON record or an HTML table row reaches the answerer as one line of cells
("branch: Millbeck; item: Mill Loft hire (seats 30); amount_gbp: 20.00; unit: per hour").
Near-identical rows differ in one cell: the branch, the site, the grade. Their other words
match a question equally well, so a question that names the value of such a cell ("at
Millbeck Library") picks its row, and the sibling rows with another value there
("branch: Ashdown") are about something else (``other_rows``), however many words they
share with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from expertly.answer.answer_type import asking_sentences
from expertly.answer.codes import code_value, codes

_CELL = re.compile(r"^\s*([^:;]{1,60}?):\s+(.*)$", re.DOTALL)
"""A cell: a label of up to 60 characters, a colon, a space and its value. A label may hold
figures ("zone_1", "BR-15", "Belt deflection at 50 N"); a clock time's colon opens none, as
no space follows it ("09:00")."""
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Cell:
    """One ``key: value`` cell of a record."""

    key: str
    value: str


def cells(text: str) -> list[Cell]:
    """The ``key: value`` cells of a record ("Annual price: £79.99; Main limit: £1,500 per
    claim; ..."), a piece without a label continuing the cell before it ("notes: Report
    within 48 hours; claim form CL-4"). Empty for a text that is no record (fewer than two
    cells)."""
    found: list[Cell] = []
    for piece in text.split(";"):
        match = _CELL.match(piece)
        if match:
            found.append(Cell(match.group(1).strip(), match.group(2).strip()))
        elif found:
            found[-1] = Cell(found[-1].key, f"{found[-1].value}; {piece.strip()}")
    return found if len(found) > 1 else []


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _names(question: str, value: str, *, as_name: bool = False) -> bool:
    """Whether ``question`` holds the words of ``value`` in a row, in order ("Brindle Works
    shift staff" names "Brindle Works – shift staff", not "Brindle Works – day staff",
    whose words are all in "...shift staff arrive on their first day"); ``as_name``: with
    one of them capitalised there, as a name is ("at *Millbeck* Library")."""
    words = _tokens(value)
    written = _WORD.findall(question)
    asked = [w.lower() for w in written]
    n = len(words)
    return any(
        asked[i : i + n] == words
        and (not as_name or any(w[0].isupper() for w in written[i : i + n]))
        for i in range(len(asked) - n + 1)
    )


_EVERY = re.compile(r"^\s*(?:all|any|every|each)\b", re.IGNORECASE)
"""A value covering every row ("All branches", "any one of B/C/D"): never another row."""


_NAMED_WITH_FIGURES = 4
"""How many words a value holding figures may have and still name a row: "Zone 2", "April
2025", "Next Day 10:30" name one; "within 7 days of delivery" states a fact."""


def _distinct(value: str) -> bool:
    """Whether ``value`` can tell a row apart by words: it has a word of three letters or
    more (a zone "A" or a grade "G6" is left to the code checks), no more than
    ``_NAMED_WITH_FIGURES`` words when it holds figures, and does not cover every row
    (``_EVERY``)."""
    words = _tokens(value)
    return (
        any(len(w) >= 3 and w.isalpha() for w in words)
        and (len(words) <= _NAMED_WITH_FIGURES or not any(ch.isdigit() for ch in value))
        and not _EVERY.match(value)
    )


def _within(shorter: str, longer: str) -> bool:
    """Whether the words of ``shorter`` are a run of those of ``longer`` (and fewer)."""
    short, long = _tokens(shorter), _tokens(longer)
    n = len(short)
    return n < len(long) and any(long[i : i + n] == short for i in range(len(long) - n + 1))


def _unlisted(values: Sequence[str], question: str) -> bool:
    """Whether ``question`` names a value shaped like ``values`` that none of them is: values
    alike but for one word ("January 2025" ... "June 2025", "Zone 1" ... "Zone 4") and, in
    the question, the words they share around another one in its place, a name (capitalised)
    where they have words, a figure where they have figures ("July 2025", "Zone 5"). The
    question then asks about a row the table does not have."""
    shapes = {tuple(_tokens(v)) for v in values}
    n = len(next(iter(shapes), ()))
    if len(shapes) < 2 or n < 2 or any(len(s) != n for s in shapes):
        return False
    varying = [i for i in range(n) if len({s[i] for s in shapes}) > 1]
    if len(varying) != 1:
        return False
    at = varying[0]
    known = {s[at] for s in shapes}
    numeric = all(w.isdigit() for w in known)
    if not numeric and not all(w.isalpha() for w in known):
        return False
    fixed = next(iter(shapes))
    written = _WORD.findall(question)
    asked = [w.lower() for w in written]
    for i in range(len(asked) - n + 1):
        if all(asked[i + j] == fixed[j] for j in range(n) if j != at):
            word = written[i + at]
            alike = word.isdigit() if numeric else word.isalpha() and word[0].isupper()
            if alike and word.lower() not in known:
                return True
    return False


def other_rows(texts: Sequence[str], question: str) -> set[int]:
    """The indices of ``texts`` that are records about another row than the one
    ``question`` names: for some key, the question names the value of one record and these
    records give another value there (``_distinct`` values only). A value is named in a
    sentence that asks (``answer_type.asking_sentences``), or as a name in the story around
    it: "We'd like a meeting at Millbeck Library. How much is the hourly hire?" names
    "branch: Millbeck", so "branch: Ashdown" is another row; "I'm moving in with my
    partner. How much notice do I give?" names no FAQ "category: moving in". A value named
    only as part of a longer one that is named too ("Next Day" in "Next Day 10:30") is
    not named. A value made of codes ("Model: BR-15") is named by its code anywhere in the
    question, and only exactly ("BR-22" is not "BR-22V"): under a heading naming both
    models, the BR-15 row says nothing of a BR-22. Nothing is set aside when the question
    names no value, or names the value of every record. When it names a value shaped like
    those of a key that none of them is ("July 2025" where the months run to June), every
    record is about another row (``_unlisted``)."""
    asking, story = asking_sentences(question)
    asked, scene = " ".join(asking), " ".join(story)
    named_codes = codes(question)
    values: dict[str, dict[int, str]] = {}
    for i, text in enumerate(texts):
        for cell in cells(text):
            if _distinct(cell.value) or code_value(cell.value):
                values.setdefault(cell.key.lower(), {})[i] = cell.value
    other: set[int] = set()
    for by_text in values.values():
        named = {
            i
            for i, value in by_text.items()
            if code_value(value) & named_codes
            or _names(asked, value)
            or _names(scene, value, as_name=True)
        }
        longest = {by_text[i] for i in named}
        named = {i for i in named if not any(_within(by_text[i], v) for v in longest)}
        if named and len(named) < len(by_text):
            other |= set(by_text) - named
        elif not named and _unlisted(list(by_text.values()), question):
            other |= set(by_text)
    return other
