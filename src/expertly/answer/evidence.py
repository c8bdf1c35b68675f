"""Evidence: which of the units of the retrieved chunks (``units``) support an answer.

A 135M model reading three 200-token chunks often takes a figure from the wrong line, or
writes a sentence none of its sources says. The RAG route therefore checks each sentence of
the model's reply against the *units* of its sources (a sentence, or a whole line when the
line is a ``key: value`` record): a sentence is kept only when one unit
holds every figure it states and most of its other words (those it does not take from the
question), among the units that bear on the question (``RELEVANCE_MARGIN``); a sentence
that restates an earlier one must find every word it changes in that unit, and a figure
must keep the unit's measure ("10 days", not "10 minutes") and, in a table row, come from
the cell the sentence or its question speaks of ("Annual price", not "Main limit":
``binding``), and a
code the sentence names
("WS-450") must be named by the unit or its title and headings. Sentences that
fail are dropped; when none is left (or, for a question asking for a figure, none left gives
one: ``answer_type``) the reply is rejected, and the
route answers with the best-matching unit verbatim when it matches the question well enough
(``answer.fallback = "extract"``, ``answer.extract_min_score``; ``units.best_unit`` says which
units may answer, ``answer.extract_figure_min_score`` when the unit gives the figure asked
for), and abstains otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from expertly.answer.answer_type import asks_for_quantity, asks_for_value, expected_units
from expertly.answer.binding import other_cell, other_code_figure
from expertly.answer.citations import MARKER, content_words, normalise_figure, weight
from expertly.answer.codes import codes, names_codes
from expertly.answer.currency import currency_conflict
from expertly.answer.groups import about_the_other_group
from expertly.answer.measures import FIGURE, MEASURE_UNITS, quantities_stated, states_measure
from expertly.answer.unheard import speaks_of
from expertly.answer.units import Unit, code_place, known, set_apart, stems

SUPPORT_THRESHOLD = 0.6
"""Share (figures and codes triple) of a sentence's new words — those not in the question —
that one unit must hold for the sentence to count as supported."""
FIGURE_SLACK = 1.0
"""Weight of new words a sentence may add beyond ``SUPPORT_THRESHOLD`` when it states a
figure the question does not give and the unit holds it: "20 weeks of leave are *available*"
paraphrases a source that says "Employees get 20 weeks"; the figure, checked exactly, is the
claim. One plain word only (a code weighs 3), and never without a new figure: "E42 means the
battery *overheats*" states none, so its one invented word still rejects it."""
ALL_WORDS_THRESHOLD = 1 / 3
"""Share of *all* the sentence's content words, the question's included, that the unit
holding its figures must hold too: the row next to the right one, with the wrong price,
shares little else with the sentence."""
SUBJECT_MARGIN = 0.25
"""How much less of a sentence's content words, weighed by rarity among the units, the unit
holding its figures may share with it than the unit sharing the most: a figure is read off
the unit the sentence is about. "The Rotterdam centre has 23 employees" shares its rare words
(Rotterdam, logistics) with Rotterdam's row (21), and only common ones (centre, employees)
with Gdansk's (23): the 23 came from the wrong row."""
RELEVANCE_MARGIN = 0.5
"""How far below the best unit's match to the question (``Unit.score``) a unit may be and
still support a sentence. A unit that far down bears on something else: "Returns without an
RMA number cannot be accepted" (0.14 against the best unit's 0.91 for a question on the
restocking fee) let a 135M model write "this is a refundable charge that is not available to
customers who have returned their products without an RMA number", which blends it with the
fee. The right answer from a weak unit still passes: 0.40 against 0.80 for the London hotel
cap of a travel policy."""
RESTATEMENT_SHARE = 0.8
"""Share of a sentence's content words (figures included) that an earlier sentence of the
same reply may hold before the sentence counts as its restatement. A restatement's claim is
what it changes: "...is available at https://api.example/v2 for all *devices*" after "...for
all subscriptions" adds one word, and a unit must hold every word it adds, not just most of
its words (the paraphrase allowance would let the swapped word through)."""
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nor|neither|nothing|cannot|without)\b|n't\b", re.IGNORECASE
)
_QUANTITY = re.compile(r"(?<![\w.-])(\d(?:[\d,.]*\d)?)[\s-]*(%|[^\W\d_]+)")  # not in "E42"
_ANSWER_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+(?:[.!?]+|$)")
_OPENING = re.compile(r"^\s*according to (the )?sources?\s*,?\s*", re.IGNORECASE)


def figures(text: str) -> set[str]:
    """Numbers in ``text``, normalised ("1,700" → "1700", "949.00" → "949")."""
    return {normalise_figure(match.group(0)) for match in FIGURE.finditer(text)}


def quantities(text: str) -> dict[str, set[str]]:
    """Each figure of ``text`` (normalised as by ``figures``) with the stems of the content
    words written right after it: its unit of measure ("10 days" → ``{"10": {"day"}}``)."""
    found: dict[str, set[str]] = {}
    for match in _QUANTITY.finditer(text):
        word = match.group(2).lower()
        if word == "%" or content_words(word):
            found.setdefault(normalise_figure(match.group(1)), set()).update(stems(word) or {word})
    return found


def _measure_conflict(sentence: str, unit_words: set[str], unit_text: str) -> bool:
    """Whether ``sentence`` puts a figure with a unit of measure the unit never uses where
    the unit gives the same figure another one: "runs for 10 *minutes*" against "Autonomy
    without sun | 14 days | 10 days". Each measure the sentence gives the figure is checked:
    "a 2-*week* leave of 2 days" against "Paid leave: 2 days per year" conflicts, though its
    second "2 days" is right. A measure word the unit holds anywhere passes ("949 EUR"
    against "EUR 949 per unit"), and so does a figure the unit states bare."""
    theirs = quantities(unit_text)
    return any(
        theirs.get(value)
        and not all(known(w, theirs[value]) or known(w, unit_words) for w in words)
        for value, words in quantities(_bare(sentence)).items()
    )


_UNIT_WORDS = frozenset().union(*MEASURE_UNITS.values())
_NAMED_NUMBER = re.compile(r"\b([A-Z][a-z]+)\s+(\d+)(?![\d.,:]*\d)")
"""A number naming a thing after a capitalised word: "Stage 2", "Zone 3", "Step 4"."""


def _name_numbers(text: str) -> list[str]:
    """The numbers of names in ``text`` ("Stage 2", "Zone 3"), not measures after a
    capitalised word ("WS-450 Pro 10 days"), normalised as by ``figures``."""
    out = []
    for match in _NAMED_NUMBER.finditer(text):
        after = _NEXT_WORD.match(text, match.end())
        measure = after is not None and after.group(1).lower() in _UNIT_WORDS
        if content_words(match.group(1)) and not measure:  # not "The 24-hour ..."
            out.append(normalise_figure(match.group(2)))
    return out


_NEXT_WORD = re.compile(r"[\s-]*([^\W\d_]+|%)")


def _name_taken_as_measure(sentence: str, unit_text: str) -> bool:
    """Whether ``sentence`` gives a figure a unit of measure ("within 2 *weeks*") that the
    unit writes only as the number of a name ("go to *Stage 2* within 6 weeks"): the figure
    was read off the name, the measure off another figure."""
    named = _name_numbers(unit_text)
    if not named:
        return False
    measured = {v for v, w in quantities(_bare(sentence)).items() if w & _UNIT_WORDS}
    for value in measured & set(named):
        uses = [m for m in FIGURE.finditer(unit_text) if normalise_figure(m.group(0)) == value]
        if len(uses) == named.count(value):
            return True
    return False


_DURATION_WORD = r"(?:years?|months?|weeks?|days?|hours?|hrs?|minutes?|mins?|seconds?|secs?)"
_COMPOUND = re.compile(
    rf"(?<![\d.,])(\d+)\s*({_DURATION_WORD})\s*(?:,\s*|\s+and\s+|\s+)(\d+)\s*{_DURATION_WORD}\b",
    re.IGNORECASE,
)
"""A duration in two parts: "4 hours 15 minutes", "2 years and 6 months"."""


def _cut_compound(sentence: str, unit_text: str) -> bool:
    """Whether ``sentence`` gives the first part of one of the unit's two-part durations
    without the second: "must not drive for more than 4 hours" where the unit says "4 hours
    15 minutes" states a limit the unit does not give."""
    for match in _COMPOUND.finditer(unit_text):
        first, word, second = match.group(1), match.group(2).lower()[:3], match.group(3)
        stated = re.search(rf"(?<![\d.,]){first}\s*{word}", sentence, re.IGNORECASE)
        if stated and not re.search(rf"(?<![\d.,]){second}(?![\d])", sentence[stated.end() :]):
            return True
    return False


@dataclass(frozen=True)
class Support:
    """The outcome of checking a reply sentence by sentence against its sources' units."""

    kept: str  # the supported sentences, in order ('' when none is)
    dropped: tuple[str, ...]  # the sentences no unit supports
    unheard: tuple[str, ...] = ()  # the question's words a dropped reply used (unheard_of)


Context = tuple[set[str], set[str], str, str]
"""A unit as the support check reads it: its figures, its word stems, its text, and its
text after its title and headings (where the codes it speaks of may be named)."""


def _contexts(units: Sequence[Unit], question: str) -> list[Context]:
    """Each unit's figures, word stems and text, for the units within ``RELEVANCE_MARGIN``
    of the best match to the question, less the table rows about another row than the one
    the question names or whose bands leave out its amount (``units.set_apart``: "branch:
    Ashdown" for a question about Millbeck, the 0-1 kg row for a 1.5 kg parcel). One unit,
    not a window: with its neighbours, the row next to the right one
    (the wrong price) would pass as support. For a question asking for a value, the codes
    a unit names only to leave them out ("Not for BR-22V") are not named there
    (``codes.unexcluded``)."""
    floor = max((u.score for u in units), default=0.0) - RELEVANCE_MARGIN
    other = set_apart(units, question)
    wants_value = asks_for_value(question)
    return [
        (figures(u.text), stems(u.text), u.text, code_place(u, wants_value))
        for i, u in enumerate(units)
        if u.score >= floor and i not in other
    ]


def sentence_supported(
    sentence: str,
    question: str,
    contexts: Sequence[Context],
    changed: frozenset[str] = frozenset(),
) -> bool:
    """Whether one unit holds every figure of ``sentence``, at least ``SUPPORT_THRESHOLD``
    of its content words that the question does not give (``FIGURE_SLACK`` forgiven when it
    states a figure of its own), ``ALL_WORDS_THRESHOLD`` of all of them and, when it states
    a figure, within ``SUBJECT_MARGIN`` of the rarity-weighted most any unit holds; a
    negation, when the sentence has one (``not``, ``never``, ``n't``...); every word of
    ``changed`` (what a restatement of an earlier sentence changes, see ``restated``);
    each figure with the unit of measure the unit gives it (``_measure_conflict``), never
    a measure for the number of a name (``_name_taken_as_measure``: "Stage 2") and an
    amount in the unit's currency (``currency.currency_conflict``); and
    every code it or the question names ("WS-450", "E42"), in the unit or its title and
    headings: the Stratus manual's "LoRaWAN 14 dBm" says nothing of the Cirrus WS-450's
    radio, and the row of error BF-410 nothing of a BF-411 no source names."""
    stated, words_needed = _claims(sentence, question)
    if not stated and not words_needed:
        return True  # restates the question: no claim to check
    slack = FIGURE_SLACK if stated - figures(question) else 0.0
    every = {w for w in stems(_bare(sentence)) if not any(ch.isdigit() for ch in w)}
    shares = [_share(every, words) for _, words, _, _ in contexts]
    # A figure comes from the unit the sentence is about, not a neighbour holding it too:
    # the sentence's words weighed by how few units hold them (the place name that picks
    # the row counts, "EUR" and "per" hardly).
    held = [{w for w in every if known(w, words)} for _, words, _, _ in contexts]
    rarity = {w: math.log((len(contexts) + 1) / (0.5 + sum(w in h for h in held))) for w in every}
    about_shares = [_rare_share(rarity, h) for h in held]
    about = max(about_shares, default=0.0) - SUBJECT_MARGIN if stated else 0.0
    negated = negated_words(sentence)
    named = codes(_bare(sentence)) | codes(question)
    labels = every | stems(question)
    claimed = stems(_bare(sentence)) - stems(question)
    claimed_figures = stated - figures(question)
    return any(
        stated <= unit_figures
        and _share(words_needed, words, slack) >= SUPPORT_THRESHOLD
        and share >= ALL_WORDS_THRESHOLD
        and about_share >= about
        # "is not a refund" is no paraphrase of "refunds are made": a negation needs one,
        # and what it denies must be the unit's ("does not give access to museums" is not
        # "does not give access to DVDs")
        and (negated is None or (bool(_NEGATION.search(text)) and _all_known(negated, placed)))
        and all(known(w, words) for w in changed)
        and not _measure_conflict(sentence, words, text)
        and not _name_taken_as_measure(sentence, text)
        and not _cut_compound(_bare(sentence), text)
        and not currency_conflict(_bare(sentence), text)
        and not other_cell(labels, claimed, text)
        and not other_code_figure(claimed_figures, question, text)
        and names_codes(named, placed)
        for (unit_figures, words, text, placed), share, about_share in zip(
            contexts, shares, about_shares, strict=True
        )
    )


def negated_words(sentence: str) -> frozenset[str] | None:
    """The content-word stems a negated ``sentence`` denies: those after its first negation,
    to the end of its clause ("A card does not give access to local museums" → give,
    access, local, museum). None when it has no negation."""
    bare = _bare(sentence)
    match = _NEGATION.search(bare)
    if match is None:
        return None
    clause = _CLAUSE_END.split(bare[match.end() :], maxsplit=1)[0]
    return frozenset(w for w in stems(clause) if not any(ch.isdigit() for ch in w))


_CLAUSE_END = re.compile(r"[,;:()]|\b(?:but|unless|except|although|though|because|so)\b", re.I)


def _all_known(words: frozenset[str], text: str) -> bool:
    vocabulary = stems(text)
    return all(known(w, vocabulary) for w in words)


def _rare_share(rarity: dict[str, float], held: set[str]) -> float:
    """Share of the words' rarity weight that a unit holds (``held``: those of the words it
    knows); 1.0 for no words."""
    total = sum(rarity.values())
    if total <= 0:
        return 1.0
    return sum(r for w, r in rarity.items() if w in held) / total


def _share(wanted: set[str], vocabulary: set[str], slack: float = 0.0) -> float:
    """Share of ``wanted`` (by ``weight``) known to ``vocabulary``, ``slack`` of the unknown
    weight forgiven; 1.0 when nothing is wanted."""
    total = weight(wanted)
    if not total:
        return 1.0
    held = weight({w for w in wanted if known(w, vocabulary)})
    return (held + min(slack, total - held)) / total


def stated_figures(answer: str, question: str) -> set[str]:
    """The figures ``answer`` states (normalised as by ``figures``) that ``question`` does
    not give, its citation markers, list numbers and number words aside."""
    return figures(" ".join(quantities_stated(_bare(answer), question)))


def _bare(sentence: str) -> str:
    return _OPENING.sub("", MARKER.sub(" ", sentence))


def _claims(sentence: str, question: str) -> tuple[set[str], set[str]]:
    """The figures ``sentence`` states and its content words the question does not give."""
    bare = _bare(sentence)
    asked = stems(question)
    new = {w for w in stems(bare) if not any(ch.isdigit() for ch in w) and not known(w, asked)}
    return figures(bare), new


def restated(sentence: str, earlier: Sequence[str]) -> frozenset[str]:
    """The words ``sentence`` changes when it restates one of the ``earlier`` sentences (an
    earlier one holds at least ``RESTATEMENT_SHARE`` of its content words, figures
    included): those it adds to the closest one. Empty when it restates none, or adds
    nothing."""
    words = stems(_bare(sentence))
    if not words:
        return frozenset()
    closest = max((stems(_bare(e)) for e in earlier), key=lambda e: len(words & e), default=None)
    if closest is None or len(words & closest) < RESTATEMENT_SHARE * len(words):
        return frozenset()
    return frozenset(w for w in words - closest if not known(w, closest))


def check_support(
    answer: str, question: str, units: Sequence[Unit], unheard: Collection[str] = ()
) -> Support:
    """Split ``answer`` into sentences and keep those a source unit supports and that do not
    speak of the group the question sets apart (``about_the_other_group``). Nothing is kept
    (every sentence is dropped) when no kept sentence states a claim, or, for a question
    asking for a quantity (``asks_for_quantity``), when none states a quantity the question
    does not give, in the unit of measure it asks for when it names one (``expected_units``:
    a time of day for "What time does it close?"). A sentence's added relative clauses
    (``added_clauses``) must each be supported too. A claim is a word or a figure the
    question does not give: "the 24-hour trend page was empty" restates "...the 24-hour
    trend page shows an empty chart" and answers nothing. A sentence that announces what
    follows and stops ("the error code is:") is dropped. A reply using one of the
    ``unheard`` words (words of the question no source uses: ``unheard_of``, narrowed by
    the answerer to those no document uses) is dropped whole: its claim about what the
    sources never mention is the model's, and its other sentences talk around it."""
    contexts = _contexts(units, question)
    wants_quantity = asks_for_quantity(question)
    wanted = expected_units(question) if wants_quantity else frozenset()
    kept: list[str] = []
    dropped: list[str] = []
    informative = False
    for sentence in _sentences(answer):
        changed = restated(sentence, kept + dropped)
        if speaks_of(_bare(sentence), unheard):  # the rest talks around it
            return Support("", tuple(_sentences(answer)), tuple(sorted(unheard)))
        if about_the_other_group(_bare(sentence), question) or _announces(sentence):
            dropped.append(sentence)
        elif sentence_supported(sentence, question, contexts, changed) and all(
            sentence_supported(clause, question, contexts) for clause in added_clauses(sentence)
        ):
            kept.append(sentence)
            stated, new = _claims(sentence, question)
            claims = bool(stated - figures(question)) or bool(new)
            answers = not wants_quantity or _answers_quantity(_bare(sentence), question, wanted)
            informative = informative or (claims and answers)
        else:
            dropped.append(sentence)
    if not informative:
        return Support("", tuple(_sentences(answer)))
    return Support(answer if not dropped else " ".join(kept), tuple(dropped))


def _answers_quantity(sentence: str, question: str, wanted: frozenset[str]) -> bool:
    """Whether ``sentence`` gives a quantity ``question`` does not, in one of the units
    of measure it asks for (``wanted``, any when empty): "closes 30 minutes before the end
    of consulting hours" is no closing time."""
    if not quantities_stated(sentence, question):
        return False
    return not wanted or states_measure(sentence, wanted)


_ADDED_CLAUSE = re.compile(r",\s+(?:which|who|whose|where)\b[^,;]*", re.IGNORECASE)


def added_clauses(sentence: str) -> list[str]:
    """The non-defining relative clauses of ``sentence`` (", which is located in the corner
    of the reception area"): each adds a claim of its own, and a small model often hangs an
    invented one on a true sentence, whose other words then carry it past the check. Each
    must be supported on its own, as a sentence is."""
    return [
        " ".join(m.group(0).lstrip(", ").rstrip(" .!?").split())
        for m in _ADDED_CLAUSE.finditer(_bare(sentence))
    ]


def _announces(sentence: str) -> bool:
    """Whether ``sentence`` ends on a colon: it announces what follows, which is not there
    (the model stopped, or what it listed is a sentence of its own, checked as such)."""
    return _bare(sentence).rstrip().endswith(":")


def _sentences(text: str) -> list[str]:
    return [m.group(0).strip() for m in _ANSWER_SENTENCE.finditer(text) if m.group(0).strip()]
