"""Review: what the RAG route makes of the model's reply before it cites it.

The reply is cut where it starts to loop or, when it ran out of tokens, after its last full
sentence; a reply that says the sources hold no answer is an abstention. Then it is checked
against its sources: figures none of them holds (``answer.verify_figures``) and sentences
no source unit supports (``answer.support_check``, see ``evidence``) are withheld. A reply
left with nothing falls back to the best-matching source sentence verbatim when it matches
the question well enough (``answer.fallback = "extract"``, see ``units.extraction``), and
otherwise the route abstains, pointing to the closest source sentences (``Answer.leads``).
A reply that matches the question less than ``answer.min_similarity`` speaks of something
else, however well sourced (``relevance``): it is withheld like an unsupported one. An
extract is not checked again: it matched the question under its title and headings to be
chosen, and a bare table row ("Type of item: Passports; How long we keep it: 7 days")
matches a question by cosine far less than a sentence saying the same. A reply to a
question asking for a figure that states one the best-matching source row does not hold,
where that row clears its extraction bar, gives way to the row (``_contradicted``): its
figure came from a neighbouring row the support check accepted.
Each step that changes the reply leaves a trace step saying what it cut and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from expertly.answer.answer_type import asks_for_quantity
from expertly.answer.citations import quote_citation
from expertly.answer.evidence import check_support, figures, stated_figures
from expertly.answer.prompt import (
    ABSTAIN_TEXT,
    cut_repetition,
    cut_unfinished,
    is_abstention,
    unsupported_figures,
)
from expertly.answer.units import Extraction, Unit, extraction, lead_units, unit_body
from expertly.config import AnswerSettings
from expertly.types import Citation, Hit, TraceStep


@dataclass(frozen=True)
class Reviewed:
    """A reviewed reply: the text to cite (or the abstention), whether uncited sentences may
    be attributed to a source (not for a verbatim extract, cited whole), and where an
    abstention points to."""

    text: str
    abstained: bool
    attribute: bool
    leads: tuple[Citation, ...] = ()


def review(
    raw: str,
    finish_reason: str,
    question: str,
    used: Sequence[Hit],
    units: Sequence[Unit],
    settings: AnswerSettings,
    trace: list[TraceStep],
    similarity: Callable[[str], float] | None = None,
    unheard: Collection[str] = (),
    unnamed: Collection[str] = (),
) -> Reviewed:
    """Review the model's reply ``raw`` (prefill included) to ``question`` over the hits
    ``used`` in the prompt and their scored ``units`` (none when neither the support check
    nor the extractive fallback is on); steps that change it are appended to ``trace``.
    ``similarity`` scores an answer against the question (see ``relevance``): an answer
    below ``settings.min_similarity`` does not address it and is withheld. ``unheard``: the
    question's words no document uses (``unheard.unheard_of``, narrowed by the answerer):
    a reply speaking of them is dropped. ``unnamed``: the names the question asks about
    that no document uses ("Sweden"): no source sentence is put in for a reply, as none
    can be about them; the meal allowance for Norway answers nothing about Sweden."""
    looped = cut_repetition(raw)
    if looped != raw:
        trace.append(TraceStep("repetition", {"cut": raw[len(looped) :].strip()}))
        raw = looped
    elif finish_reason == "length":
        finished = cut_unfinished(raw)
        if finished != raw:
            trace.append(TraceStep("unfinished", {"cut": raw[len(finished) :].strip()}))
            raw = finished
    abstained = is_abstention(raw) or not raw
    unsupported = unsupported_figures(raw, used) if settings.verify_figures else []
    sentence_check = settings.support_check and bool(units)
    attribute = settings.attribute_uncited
    if unsupported and not abstained:
        trace.append(TraceStep("verify", {"unsupported_figures": unsupported, "draft": raw}))
        if not sentence_check:  # else the support check drops just those sentences
            abstained, raw = True, ABSTAIN_TEXT
    if not abstained and sentence_check:
        support = check_support(raw, question, units, unheard)
        if support.dropped:
            detail = {"dropped": list(support.dropped), "draft": raw}
            if support.unheard:
                detail["unheard"] = list(support.unheard)
            trace.append(TraceStep("support", detail))
        if not support.kept:
            abstained, raw = True, ABSTAIN_TEXT
        else:
            raw = support.kept
    if not abstained and _off_topic(raw, similarity, settings, trace):
        abstained, raw = True, ABSTAIN_TEXT
    extracts = settings.fallback == "extract" and not unnamed
    if abstained and unnamed and settings.fallback == "extract":
        trace.append(TraceStep("unnamed", {"names": sorted(unnamed), "extract": "skipped"}))
    if not abstained and extracts:
        found = _contradicted(raw, question, units, used, settings)
        if found is not None:
            trace.append(TraceStep("contradicted", _extract_detail(found, raw)))
            return Reviewed(found.text, abstained=False, attribute=False)
    if abstained and extracts:
        found = extraction(
            units, question, settings.extract_min_score, settings.extract_figure_min_score
        )
        if found is not None:
            trace.append(TraceStep("extract", _extract_detail(found, raw)))
            # cited whole: its "ul." or "e.g." ends no sentence to attribute; its own match
            # (with its title and headings) is its relevance check
            if found.strong:
                return Reviewed(found.text, abstained=False, attribute=False)
    if not abstained:
        return Reviewed(raw, abstained=False, attribute=attribute)
    leads = tuple(
        quote_citation(u.hit + 1, used[u.hit], unit_body(u))
        for u in lead_units(units, question, settings.leads)
    )
    return Reviewed(raw or ABSTAIN_TEXT, abstained=True, attribute=attribute, leads=leads)


def _contradicted(
    raw: str,
    question: str,
    units: Sequence[Unit],
    used: Sequence[Hit],
    settings: AnswerSettings,
) -> Extraction | None:
    """The source unit that answers ``question``'s figure when the reply ``raw`` gives
    another: a question asking for a figure (``asks_for_quantity``), the best unit giving
    one clears its bar (``Extraction.strong``), and the reply states a figure that unit
    does not hold: "the Lost Property Office is open on Saturdays, which is Monday to
    Friday, from 10:00 to 18:00" passed the support check on the weekday hours, while the
    Saturday row (10:00-14:00) matched the question best. The unit is read with the rest of
    its line: "A member's session lasts 60 minutes. Members may use the computers for up
    to 2 hours in total each day." is one statement, whichever of its sentences matched
    best. None when every figure of the reply is the line's or no unit is strong
    enough."""
    if not units or not asks_for_quantity(question):
        return None
    found = extraction(
        units, question, settings.extract_min_score, settings.extract_figure_min_score
    )
    if found is None or not found.strong or not found.figure:
        return None
    stated = stated_figures(_TIME.sub(" ", raw), question) | (_times(raw) - _times(question))
    source = " ".join((*found.unit.headings, _line(found.unit, used)))
    if stated <= figures(_TIME.sub(" ", source)) | _times(source):
        return None
    return found


def _line(unit: Unit, used: Sequence[Hit]) -> str:
    """The whole line of its chunk that ``unit`` is in (the unit alone when its hit is not
    in ``used``)."""
    if not 0 <= unit.hit < len(used):
        return unit.text
    text = used[unit.hit].chunk.text
    start = text.rfind("\n", 0, unit.start) + 1
    end = text.find("\n", unit.end)
    return text[start : end if end >= 0 else len(text)]


_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?![\d:])")
"""A time of day: compared whole, as 10:00-18:00 and 10:00-14:00 share "10" and "00"."""


def _times(text: str) -> set[str]:
    return {f"{int(h)}:{m}" for h, m in _TIME.findall(text)}


def _off_topic(
    text: str,
    similarity: Callable[[str], float] | None,
    settings: AnswerSettings,
    trace: list[TraceStep],
) -> bool:
    """Whether the reply ``text`` matches the question less than ``answer.min_similarity``;
    if so, a trace step says by how much."""
    if similarity is None or settings.min_similarity <= 0:
        return False
    score = similarity(text)
    if score >= settings.min_similarity:
        return False
    detail = {
        "draft": text,
        "similarity": round(score, 4),
        "min_similarity": settings.min_similarity,
    }
    trace.append(TraceStep("off_topic", detail))
    return True


def _extract_detail(found: Extraction, draft: str) -> dict[str, Any]:
    """The trace of the extractive fallback: the rejected draft, the sentence it could
    answer with, its match and the bar it had to reach."""
    unit = found.unit
    return {
        "draft": draft,
        "answer": found.text if found.strong else "",
        "best": found.text,
        "score": round(unit.score, 4),
        "min_score": found.min_score,
        "figure": found.figure,
        "code": found.code,
        "cosine": round(unit.cosine, 4),
        "coverage": round(unit.coverage, 4),
    }
