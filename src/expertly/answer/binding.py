"""Binding: which cell of a table row, or which of several codes, a stated figure belongs to.

Every word of a row is in its unit, and so are the figures of its siblings in a sentence
listing them ("G5 employees receive £4,800 a year and G6 employees £7,200"): the support
check (``evidence``) finds them all there. These checks tell whose figure it is: the
column the sentence and its question name (``other_cell``), the code the question asks
about (``other_code_figure``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from expertly.answer.citations import normalise_figure
from expertly.answer.codes import code_spans, codes
from expertly.answer.measures import FIGURE
from expertly.answer.records import cells
from expertly.answer.units import known, stems


@dataclass(frozen=True)
class _Cell:
    """One ``key: value`` cell of a record unit (``records.cells``): its label's words, all
    its words, and the figures of its value (as words: "12:00", "1500")."""

    label: frozenset[str]
    words: frozenset[str]
    figures: frozenset[str]


def _cells(text: str) -> list[_Cell]:
    """The cells of a record unit as the support check reads them; empty for no record."""
    found = []
    for cell in cells(text):
        label = frozenset(stems(cell.key.replace("_", " ")))
        held = frozenset(stems(cell.value))
        found.append(_Cell(label, label | held, frozenset(w for w in held if _has_digit(w))))
    return found


def _has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def other_cell(labels: set[str], new: set[str], text: str) -> bool:
    """Whether what a sentence states is read off the wrong cell of a record: its one new
    figure (``new``: the sentence's words the question does not give), or, when it states
    none, its new words the record holds, all in one cell. The cells holding it share none
    of ``labels`` (the other words of the sentence and its question), and another cell is
    labelled with one of them (one holding a figure, for a figure), words both labels
    share aside. "The per-claim limit for Home Emergency Plus is £79.99" reads the row's
    "Annual price: £79.99" for its "Main limit: £1,500 per claim"; "the depot is Elm Park"
    reads "via: Elm Park" for "depot: Oxley Moor". Every word of the row is in the unit,
    so nothing else tells the columns apart. A sentence stating several figures is left
    alone: which of its words goes with which figure is not known."""
    cells = _cells(text)
    figures_read = {w for w in new if _has_digit(w)}
    if figures_read:
        if len(figures_read) != 1:
            return False
        figure = next(iter(figures_read))
        own = [c for c in cells if figure in c.figures]
        rivals = [c for c in cells if c.figures and c not in own]
    else:
        held = {w for w in new if any(known(w, c.words - c.label) for c in cells)}
        own = [c for c in cells if held and all(known(w, c.words - c.label) for w in held)]
        rivals = [c for c in cells if c not in own]
        labels = labels - new
    if not own:
        return False
    own_words: set[str] = set().union(*(c.words for c in own))
    rival_labels: set[str] = set().union(*(c.label for c in rivals))
    # a label word both cells share ("Billed monthly" and "Billed annually") tells neither
    if any(known(w, own_words - rival_labels) for w in labels):
        return False
    return bool(labels & (rival_labels - own_words))


_PREFIX = re.compile(r"[^\W\d_]+")


def _letters(code: str) -> str:
    """The letters a code opens with ("g" of "g6", "bf" of "bf410")."""
    match = _PREFIX.match(code)
    return match.group(0) if match else ""


def other_code_figure(new: set[str], question: str, text: str) -> bool:
    """Whether the one new figure a sentence states belongs, in a unit listing figures for
    sibling codes, to another code than the one the question names: in "G5 employees
    receive £4,800 a year and G6 employees £7,200", £4,800 is G5's, so "a G6 employee gets
    £4,800" is unsupported. Siblings share their letters (G5, G6); each code owns the
    figures after it up to the next sibling when the unit names a code before its first
    figure, else the figures before it."""
    if len(new) != 1:
        return False
    asked = codes(question)
    spans = code_spans(text)
    named = {code for _, code in spans}
    wanted = asked & named
    if len(wanted) != 1:
        return False
    code = next(iter(wanted))
    siblings = [(at, c) for at, c in spans if _letters(c) == _letters(code)]
    if not _letters(code) or len({c for _, c in siblings}) < 2:
        return False
    figure = next(iter(new))
    keyed = _keyed_owners(figure, code, text)
    if keyed:
        return code not in keyed
    found = [m.start() for m in FIGURE.finditer(text) if normalise_figure(m.group(0)) == figure]
    if not found:
        return False
    first_figure = min(m.start() for m in FIGURE.finditer(text))
    code_first = siblings[0][0] < first_figure

    def owner(at: int) -> str | None:
        if code_first:
            before = [c for pos, c in siblings if pos < at]
            return before[-1] if before else None
        after = [c for pos, c in siblings if pos > at]
        return after[0] if after else None

    owners = {owner(at) for at in found}
    return code not in owners and bool(owners - {None})


def _keyed_owners(figure: str, code: str, text: str) -> set[str]:
    """The sibling codes of ``code`` labelling the cells of the record ``text`` that hold
    ``figure``; empty when ``text`` is no record or no such cell is labelled by one."""
    owners: set[str] = set()
    for cell in cells(text):
        held = {normalise_figure(m.group(0)) for m in FIGURE.finditer(cell.value)}
        if figure in held:
            owners |= {c for c in codes(cell.key) if _letters(c) == _letters(code)}
    return owners
