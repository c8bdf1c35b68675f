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

_CELL = re.compile(r"^\s*([^:;\d]{1,60}?):\s+(.*)$", re.DOTALL)
"""A cell: a label of up to 60 characters without digits (a clock time's colon opens
none), a colon, a space and its value."""
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


def _distinct(value: str) -> bool:
    """Whether ``value`` can tell a row apart by words: it has a word of three letters or
    more and no digit (a zone "A" or a grade "G6" is left to the code checks), and does not
    cover every row (``_EVERY``)."""
    return (
        not any(ch.isdigit() for ch in value)
        and any(len(w) >= 3 for w in _tokens(value))
        and not _EVERY.match(value)
    )


def other_rows(texts: Sequence[str], question: str) -> set[int]:
    """The indices of ``texts`` that are records about another row than the one
    ``question`` names: for some key, the question names the value of one record and these
    records give another value there (``_distinct`` values only). A value is named in a
    sentence that asks (``answer_type.asking_sentences``), or as a name in the story around
    it: "We'd like a meeting at Millbeck Library. How much is the hourly hire?" names
    "branch: Millbeck", so "branch: Ashdown" is another row; "I'm moving in with my
    partner. How much notice do I give?" names no FAQ "category: moving in". Nothing is
    set aside when the question names no value, or names the value of every record."""
    asking, story = asking_sentences(question)
    asked, scene = " ".join(asking), " ".join(story)
    values: dict[str, dict[int, str]] = {}
    for i, text in enumerate(texts):
        for cell in cells(text):
            if _distinct(cell.value):
                values.setdefault(cell.key.lower(), {})[i] = cell.value
    other: set[int] = set()
    for by_text in values.values():
        named = {
            i
            for i, value in by_text.items()
            if _names(asked, value) or _names(scene, value, as_name=True)
        }
        if named and len(named) < len(by_text):
            other |= set(by_text) - named
    return other
