"""Units: the sentences and table rows of the retrieved chunks, how well each matches the
question, and which one may answer it verbatim.

A unit's match to the question is the cosine between the question and the unit (the
workspace's embedder, query against passage) plus ``LEXICAL_WEIGHT`` times the share of the
question's content words the unit contains, figures and codes counting triple. A unit is
read in its place: its document's title and its chunk's headings (a step of "Manual
calibration" in the Stratus procedure, a row of the "Accommodation" caps) count for the
cosine, which is the better of the unit alone and the unit under that context, and for the
words, a word found only in the context at ``CONTEXT_WEIGHT``. Without the context a table
row or a numbered step says too little of what it is about, and a sentence that merely
repeats the question's topic words outranks it.

When the model's reply is rejected, ``best_unit`` picks the unit the route may answer with
verbatim (``extractive_answer``, under its innermost headings): never one about the group the
question sets apart ("non-birth"), never one that does not name the codes the question
names, and for a question asking for a figure only one giving it (``answer_type``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from expertly.answer.answer_type import asks_for_quantity, asks_for_value, expected_units
from expertly.answer.bands import outside
from expertly.answer.citations import content_words, weight
from expertly.answer.codes import asks_for_code, codes, names_codes, new_codes, unexcluded
from expertly.answer.groups import about_the_other_group
from expertly.answer.measures import quantities_stated, states_measure, words
from expertly.answer.records import other_rows
from expertly.answer.weekdays import days_named, speaks_of_other_days
from expertly.types import Hit

if TYPE_CHECKING:
    from expertly.embed import Embedder

LEXICAL_WEIGHT = 0.5
CONTEXT_WEIGHT = 0.5
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+(?:[.!?]+|$)")
_RECORD = re.compile(r"(?:[^;:\n]+:[^;\n]+;){2,}")  # "key: value; key: value; ..." (CSV, JSON)
MIN_UNIT_WORDS = 4
ANAPHORS = words("it its they them their these those this that he she his her")
"""First words that make a sentence continue the one before it on its line: "2. Mark the
two holes. *They* are 83.5 mm apart." is one unit, or the distance would be a fact about
nothing."""


@dataclass(frozen=True)
class Unit:
    """One sentence or row of a hit's chunk: ``text[start:end]`` of ``hits[hit]``."""

    hit: int
    start: int
    end: int
    text: str
    cosine: float = 0.0  # question against unit, by the workspace's embedder
    coverage: float = 0.0  # lexical_coverage of the question by the unit
    headings: tuple[str, ...] = ()  # the chunk's headings below the document's title
    title: str = ""  # the document's title

    @property
    def in_place(self) -> str:
        """The unit after its document's title and its headings: where the codes it speaks
        of may be named."""
        return " ".join((self.title, *self.headings, self.text))

    @property
    def score(self) -> float:
        """What units are ranked by: the cosine plus ``LEXICAL_WEIGHT`` times the coverage."""
        return self.cosine + LEXICAL_WEIGHT * self.coverage


def split_units(text: str) -> list[tuple[int, int]]:
    """Spans of ``text``'s units, in order: each line, cut into sentences unless it is a
    record (``key: value; ...``), which stays whole. A unit of fewer than ``MIN_UNIT_WORDS``
    words joins its neighbour: a short sentence the one before it on its line ("Restart the
    monitor."), a short line (a heading, a table header) the unit after it. A sentence that
    opens with a pronoun (``ANAPHORS``) joins the one before it on its line too."""
    spans: list[tuple[int, int, bool]] = []  # (start, end, starts its line)
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            lead = offset + line.index(stripped[0])
            if _RECORD.search(stripped + ";"):
                spans.append((lead, lead + len(stripped), True))
            else:
                for n, match in enumerate(_SENTENCE.finditer(stripped)):
                    piece = match.group(0)
                    s = lead + match.start() + (len(piece) - len(piece.lstrip()))
                    e = lead + match.end() - (len(piece) - len(piece.rstrip()))
                    if e > s:
                        spans.append((s, e, n == 0))
        offset += len(line)
    merged: list[tuple[int, int]] = []
    heading: int | None = None  # start of short lines waiting for the next unit
    for s, e, line_start in spans:
        words = text[s:e].split()
        short = len(words) < MIN_UNIT_WORDS
        continues = short or words[0].lower() in ANAPHORS
        if continues and not line_start and merged and heading is None:
            merged[-1] = (merged[-1][0], e)
        elif short and line_start:
            heading = s if heading is None else heading
        else:
            merged.append((heading if heading is not None else s, e))
            heading = None
    if heading is not None:
        if merged:
            merged[-1] = (merged[-1][0], spans[-1][1])
        else:
            merged.append((heading, spans[-1][1]))
    return merged


def stems(text: str) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in content_words(text)}


def known(word: str, vocabulary: AbstractSet[str]) -> bool:
    """``word`` or a word sharing its stem: one is a prefix of the other, the shorter of at
    least 3 letters ("priced" and "price", "euros" and "EUR")."""
    if word in vocabulary:
        return True
    return any(
        min(len(word), len(v)) >= 3 and (word.startswith(v) or v.startswith(word))
        for v in vocabulary
    )


def lexical_coverage(question: str, unit: str, context: str = "") -> float:
    """Share of the question's content words (figures and codes triple, a plural's "s"
    ignored) found in ``unit``; a word found only in ``context`` (the unit's title and
    headings) counts ``CONTEXT_WEIGHT``."""
    wanted = stems(question)
    total = weight(wanted)
    if not total:
        return 0.0
    held = wanted & stems(unit)
    around = (wanted & stems(context)) - held if context else set()
    return (weight(held) + CONTEXT_WEIGHT * weight(around)) / total


def unit_context(hit: Hit) -> str:
    """What a unit of ``hit`` is about beyond its own words: the document's title and the
    chunk's headings, as "Title > Heading > Subheading"."""
    title = [" ".join(hit.title.split())] if hit.title.strip() else []
    return " > ".join([*title, *headings_below_title(hit)])


def headings_below_title(hit: Hit) -> list[str]:
    """The chunk's headings, white space collapsed, without those repeating the document's
    title or the heading above them (a document's first heading is often its title)."""
    seen = [" ".join(hit.title.split()).lower()] if hit.title else []
    out: list[str] = []
    for heading in hit.chunk.heading_path:
        norm = " ".join(heading.split())
        if norm and norm.lower() not in seen:
            out.append(norm)
            seen.append(norm.lower())
    return out


def _is_heading(text: str, hit: Hit) -> bool:
    """Whether ``text`` is only its document's title or one of its chunk's headings: a
    heading names a topic and answers nothing ("Cirrus WS-450 - Installation Guide"), yet it
    shares the question's words and would outrank the sentence that answers."""
    norm = " ".join(text.lower().split())
    return any(norm == " ".join(h.lower().split()) for h in (hit.title, *hit.chunk.heading_path))


def score_units(question: str, hits: Sequence[Hit], embedder: Embedder) -> list[Unit]:
    """Every unit of every hit but the bare headings, scored against ``question`` alone and
    under its context (``unit_context``), in one embedding batch."""
    units = [
        Unit(i, s, e, hit.chunk.text[s:e])
        for i, hit in enumerate(hits)
        for s, e in split_units(hit.chunk.text)
        if not _is_heading(hit.chunk.text[s:e], hit)
    ]
    if not units:
        return []
    around = [unit_context(hit) for hit in hits]
    contexts = [around[u.hit] for u in units]
    placed = [f"{c}: {u.text}" if c else u.text for u, c in zip(units, contexts, strict=True)]
    q = np.asarray(embedder.embed([question], kind="query")[0], dtype=np.float32)
    texts = [u.text for u in units] + placed
    vectors = np.asarray(embedder.embed(texts, kind="passage"), np.float32)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(q) or 1.0)
    cosines = (vectors @ q / np.where(norms == 0, 1.0, norms)).reshape(2, len(units)).max(axis=0)
    headed = [tuple(headings_below_title(hit)) for hit in hits]
    return [
        replace(
            u,
            cosine=float(c),
            coverage=lexical_coverage(question, u.text, context),
            headings=headed[u.hit],
            title=hits[u.hit].title or "",
        )
        for u, c, context in zip(units, cosines, contexts, strict=True)
    ]


HEADINGS_SHOWN = 2
"""How many of a unit's innermost headings an extractive answer names before the sentence:
"3.1.0 - 10 June 2024 > New: Support for WPA2-Enterprise networks [1]." says which release
the line belongs to, which the line alone does not."""
_BULLET = re.compile(r"^(?:[-*\u2022]|\d{1,2}[.)])\s+")
"""A bullet or a list number opening an extracted line: dropped, as "1." after a heading
would read as a sentence of its own."""


def unit_body(unit: Unit) -> str:
    """``unit``'s text on one line without the heading lines it carries (its chunk's
    headings say them) and without a list number or bullet opening it."""
    lines = [line.strip() for line in unit.text.splitlines() if line.strip()]
    while len(lines) > 1 and len(lines[0].split()) < MIN_UNIT_WORDS:
        lines.pop(0)
    return _BULLET.sub("", " ".join(" ".join(lines).split()))


def extractive_answer(unit: Unit, items: Sequence[Unit] = ()) -> str:
    """``unit`` as an answer: its text on one line, after its innermost headings
    (``HEADINGS_SHOWN``) instead of the heading lines it carries, then the list ``items``
    it announces (``listed_after``), joined by semicolons, cited as source ``unit.hit + 1``
    (the marker before the closing full stop)."""
    text = unit_body(unit)
    if items:
        text = f"{text} " + "; ".join(unit_body(i).rstrip(";,. ") for i in items) + "."
    headings = [h for h in unit.headings[-HEADINGS_SHOWN:] if h.lower() not in text.lower()]
    if headings:
        text = f"{' > '.join(headings)}: {text}"
    body = text.rstrip(".!?")
    return f"{body} [{unit.hit + 1}]{text[len(body) :]}"


LIST_ITEMS = 8
"""How many list items an extracted sentence ending on a colon takes along."""


def listed_after(unit: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The list items (``LIST_ITEMS`` at most) right after ``unit`` in its chunk when it
    ends on a colon: "we will reimburse a taxi home:" says nothing without "up to EUR 45 per
    party ..." on the lines below it."""
    if not unit_body(unit).endswith(":"):
        return []
    following = sorted((u for u in units if u.hit == unit.hit and u.start >= unit.end),
                       key=lambda u: u.start)  # fmt: skip
    items: list[Unit] = []
    for u in following:
        if not _BULLET.match(u.text.lstrip()) or len(items) == LIST_ITEMS:
            break
        items.append(u)
    return items


def best_unit(units: Sequence[Unit], question: str = "") -> Unit | None:
    """The highest-scoring unit, or None when there is none. When ``question`` asks for a
    quantity (``asks_for_quantity``), the best of those stating one it does not give, in
    their text or headings, and in the unit of measure it asks for when it names one
    (``expected_units``): "Do not tighten the bolts fully yet." answers no "What torque
    ...?", however close its words, nor a price row "What is the altitude...?"; when it
    asks which form or code to use, the best of those naming one (``gives_code``). A unit
    about the group the question sets itself apart from (``about_the_other_group``), or
    that does not name, with its title and headings, every code the question names
    (``codes``: "WS-450", "E42"), is never the answer: the transmit power in the Stratus
    manual answers nothing about the Cirrus WS-450."""
    units = _on_topic(units, question)
    if question and asks_for_quantity(question):
        units = [u for u in units if gives_figure(u, question)]
    elif question and asks_for_code(question):
        units = [u for u in units if gives_code(u, question)]
    return max(units, key=lambda u: u.score) if units else None


def _on_topic(units: Sequence[Unit], question: str) -> list[Unit]:
    """The units that speak of what ``question`` speaks of: they name every code it names,
    are not about the group it sets apart, and, when it names days of the week, do not
    speak of other days only (``weekdays.about_other_days``: a Sunday row answers nothing
    about Saturdays), and are not table rows about another row than the one it names
    (``set_apart``: "branch: Ashdown" for a room at Millbeck, the 0-1 kg row for a 1.5 kg
    parcel). For a question asking for a figure or a code, a code the unit names only to
    leave it out ("Not for BR-22V", ``codes.unexcluded``) is not named."""
    named, asked = codes(question), days_named(question)
    other = set_apart(units, question)
    wants_value = asks_for_value(question)
    return [
        u
        for i, u in enumerate(units)
        if i not in other
        and not about_the_other_group(u.text, question)
        and names_codes(named, code_place(u, wants_value))
        and not speaks_of_other_days(_read(u), asked)
    ]


def set_apart(units: Sequence[Unit], question: str) -> set[int]:
    """The indices of ``units`` that are rows about another row than the one ``question``
    asks about: another value of a cell it names (``records.other_rows``: "branch: Ashdown"
    for a room at Millbeck) or, for a question asking for a value, bands of a measure that
    leave out the amount it states (``bands.outside``: the 0-1 kg row for a 1.5 kg parcel,
    "Up to £300" for a parcel worth £450)."""
    texts = [u.text for u in units]
    other = other_rows(texts, question)
    return other | outside(texts, question) if asks_for_value(question) else other


def code_place(unit: Unit, wants_value: bool) -> str:
    """Where ``unit`` names the codes it speaks of: its text under its title and headings,
    less, for a question asking for a value (``answer_type.asks_for_value``), the codes it
    names only to leave them out ("Not for BR-22V", ``codes.unexcluded``)."""
    return unexcluded(unit.in_place) if wants_value else unit.in_place


def lead_units(units: Sequence[Unit], question: str, n: int) -> list[Unit]:
    """The ``n`` best-matching units that speak of what ``question`` speaks of (its codes,
    its group), best first: where a reader should look when the route could not answer.
    Units saying the same words twice (a table's header repeated) count once."""
    seen: set[str] = set()
    out: list[Unit] = []
    if n <= 0:
        return out
    for u in sorted(_on_topic(units, question), key=lambda u: -u.score):
        key = " ".join(u.text.lower().split())
        if key not in seen:
            seen.add(key)
            out.append(u)
        if len(out) == n:
            break
    return out


@dataclass(frozen=True)
class Extraction:
    """The source sentence the route may answer with verbatim when it rejects the model's
    reply (``extraction``), and the match it needs to."""

    unit: Unit
    text: str  # extractive_answer(unit)
    figure: bool  # gives the figure or the code the question asks for (gives_figure, gives_code)
    min_score: float
    code: bool = False  # the one unit naming the question's codes (singled_out)

    @property
    def strong(self) -> bool:
        """Whether the unit matches the question well enough to answer with."""
        return self.unit.score >= self.min_score


def extraction(
    units: Sequence[Unit], question: str, min_score: float, figure_min_score: float
) -> Extraction | None:
    """The ``best_unit`` as an answer (with the list it announces, ``listed_after``), with
    the bar it must reach: ``min_score``, or the lower of it and ``figure_min_score`` when
    it gives the figure the question asks for or is the one unit naming the codes the
    question names (``singled_out``): a relaxation, never a raise. None when no unit may
    answer."""
    unit = best_unit(units, question)
    if unit is None:
        return None
    figure = gives_figure(unit, question) or gives_code(unit, question)
    code = singled_out(unit, units, question)
    floor = min(min_score, figure_min_score) if figure or code else min_score
    text = extractive_answer(unit, listed_after(unit, units))
    return Extraction(unit, text, figure, floor, code)


def singled_out(unit: Unit, units: Sequence[Unit], question: str) -> bool:
    """Whether ``question`` names codes (``codes``), ``unit``'s own text names them all and
    no other unit names them, even under its title and headings: "E42" in the row of the
    error table that explains it, where a code naming a whole product ("AQ-200", under
    every heading of its manual) singles out nothing. Like a figure, such a code is
    evidence beyond shared words that the unit is the one asked about."""
    named = codes(question)
    if not named or not names_codes(named, unit.text):
        return False
    body = unit_body(unit)
    return not any(names_codes(named, u.in_place) for u in units if unit_body(u) != body)


def gives_figure(unit: Unit, question: str) -> bool:
    """Whether ``question`` asks for a figure (``asks_for_quantity``) and ``unit`` gives one
    it does not already hold, in the unit of measure it asks for when it names one (a
    currency for "What does X cost?"): evidence, beyond the words they share, that the
    unit answers. ``best_unit`` picks only such units for such a question."""
    if not asks_for_quantity(question) or not quantities_stated(_read(unit), question):
        return False
    wanted = expected_units(question)
    return not wanted or states_measure(_read(unit), wanted)


def gives_code(unit: Unit, question: str) -> bool:
    """Whether ``question`` asks which form or code to use (``codes.asks_for_code``) and
    ``unit`` names one it does not ("Apply on form HR-17"): like a figure for "How
    much...?", the kind of answer asked for. ``best_unit`` picks only such units for such a
    question; "Season ticket loan: an interest-free loan of up to £6,000" names no form."""
    return asks_for_code(question) and bool(new_codes(_read(unit), question))


def _read(unit: Unit) -> str:
    """A unit's text after its headings: a release's version is in its heading."""
    return "\n".join((*unit.headings, unit.text))
