"""Days of the week: a row about other days than the question's is not its answer
(answer/weekdays.py, used by answer/units.py)."""

from __future__ import annotations

import pytest

from expertly.answer.units import best_unit, lead_units, score_units
from expertly.answer.weekdays import about_other_days, days_named
from expertly.embed.hashing import HashingEmbedder
from expertly.types import Chunk, Hit

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Day: Sunday; Harrowby: 10:00 - 12:00", {SUN}),
        ("Saturdays 09:00 - 12:30", {SAT}),
        ("Monday to Friday 10:00-18:00", {MON, TUE, WED, THU, FRI}),
        ("operating_days: Mon-Sat", {MON, TUE, WED, THU, FRI, SAT}),
        ("from Saturday after closing until Monday 08:00", {SAT, SUN, MON}),
        ("Tuesdays and Thursdays only", {TUE, THU}),
        ("open on weekdays", {MON, TUE, WED, THU, FRI}),
        ("weekends and bank holidays", {SAT, SUN}),
        ("The helpline is staffed daily", set(range(7))),
        ("Thu. and Fri.", {THU, FRI}),
    ],
)
def test_days_named(text: str, days: set[int]) -> None:
    assert days_named(text) == days


def test_words_that_are_no_days() -> None:
    for text in ("a wedding on the sunny side", "the panel runs 10 days without sun", "satisfied"):
        assert days_named(text) == set(), text


def test_a_text_about_other_days_only() -> None:
    question = "What time does the Ellstead surgery close on Saturdays?"
    assert about_other_days("Day: Sunday; Ellstead: Closed", question)
    assert not about_other_days("Day: Saturday; Ellstead: 09:00 - 12:30", question)
    assert not about_other_days("Mon-Sat 08:00 - 18:00", question)
    assert not about_other_days("The surgery closes for stock checks.", question)  # no day
    assert not about_other_days("Day: Sunday; Ellstead: Closed", "When does it close?")


def _hit(text: str) -> Hit:
    chunk = Chunk(id="h#1", doc_id="hours.html", index=1, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=1.0, source="/docs/hours.html", title="Opening hours")


def test_a_row_about_another_day_is_neither_answer_nor_lead() -> None:
    question = "What time does the Ellstead surgery close on Saturdays?"
    text = "Day: Sunday; Ellstead surgery: closed\nDay: Saturday; Ellstead surgery: 09:00 - 12:30"
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    assert len(units) == 2
    best = best_unit(units, question)
    assert best is not None and "Saturday" in best.text
    assert [u.text for u in lead_units(units, question, 5)] == [best.text]
    sunday_only = score_units(question, [_hit(text.splitlines()[0])], HashingEmbedder(dim=64))
    assert best_unit(sunday_only, question) is None
