"""Table rows read as records: their cells, the row a question names, and code answers."""

from __future__ import annotations

import pytest

from expertly.answer.codes import asks_for_code, new_codes
from expertly.answer.evidence import check_support
from expertly.answer.records import Cell, cells, other_rows
from expertly.answer.units import best_unit, extraction, score_units
from expertly.embed.hashing import HashingEmbedder
from expertly.types import Chunk, Hit

ROOMS = (
    "code: RH-AS-01; item: Campus Meeting Room hire (seats 20); branch: Ashdown; "
    "amount_gbp: 15.00; unit: per hour\n"
    "code: RH-MB-01; item: Mill Loft hire (seats 30); branch: Millbeck; "
    "amount_gbp: 20.00; unit: per hour\n"
)
ARRIVAL = (
    "Site: Brindle Works – day staff; Arrive at: 08:00; Where: The Gatehouse\n"
    "Site: Brindle Works – shift staff; Arrive at: 07:30; Where: The Gatehouse\n"
)


def _hit(text: str) -> Hit:
    chunk = Chunk(id="doc#0", doc_id="doc", index=0, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=1.0, source="/docs/doc", title="Rates")


def test_a_record_is_read_as_cells_and_a_clock_time_opens_none() -> None:
    row = "Day: Saturday; Ellstead: 09:00 - 12:30; notes: Report in 48 hours; form CL-4"
    assert cells(row) == [
        Cell("Day", "Saturday"),
        Cell("Ellstead", "09:00 - 12:30"),
        Cell("notes", "Report in 48 hours; form CL-4"),  # a piece without a label goes on
    ]
    assert cells("Restart the monitor: hold the button.") == []  # one cell is no record


@pytest.mark.parametrize(
    ("texts", "question", "other"),
    [
        (ROOMS.splitlines(), "How much is the hourly room hire at Millbeck Library?", {0}),
        (ARRIVAL.splitlines(), "When do new Brindle Works shift staff arrive on day one?", {0}),
        (ROOMS.splitlines(), "How much is the hourly room hire?", set()),  # names no row
        (ROOMS.splitlines(), "Is Millbeck dearer than Ashdown?", set()),  # names both
        # a value made of codes is named by the code, exactly ("BR-22" is not "BR-22V")
        (["Grade: G5; Allowance: £4,800", "Grade: G6; Allowance: £7,200"], "G6 pay?", {0}),
        (
            [
                "Model: BR-15; Belt deflection at 50 N: 5 mm",
                "Model: BR-22; Belt deflection at 50 N: 7 mm",
                "Model: BR-22V; Belt deflection at 50 N: none",
            ],
            "How far should the belt of a BR-22 deflect?",
            {0, 2},
        ),
        (["grade: G1-G4; device: T14", "grade: G5-G6; device: X1"], "Device for G5?", {0}),
        (  # a name with a figure names its row
            ["Zone: Zone 1; Saturday: 10:00", "Zone: Zone 2; Saturday: 09:30"],
            "What is the Saturday cut-off in Zone 2?",
            {0},
        ),
        (
            ["Month: April 2025; Pallets: 11.50%", "Month: May 2025; Pallets: 11.15%"],
            "What was the pallet fuel surcharge in April 2025?",
            {1},
        ),
        (  # "Next Day" is named only inside "Next Day 10:30"
            ["Service: Next Day; Cover: £50", "Service: Next Day 10:30; Cover: £75"],
            "What cover do I get on Next Day 10:30?",
            {0},
        ),
        (  # a row shaped like the others that the table lacks: every row is another
            ["Month: April 2025; Pallets: 11.50%", "Month: June 2025; Pallets: 10.60%"],
            "What is the pallet fuel surcharge in July 2025?",
            {0, 1},
        ),
        (
            ["Zone: Zone 1; Saturday: 10:00", "Zone: Zone 2; Saturday: 09:30"],
            "Saturday cut-off in Zone 5?",
            {0, 1},
        ),
        (  # the shared word alone, or with a word that is no name, names no row
            ["Month: April 2025; Pallets: 11.50%", "Month: June 2025; Pallets: 10.60%"],
            "What was the pallet fuel surcharge in 2025?",
            set(),
        ),
        (  # a fact with figures names no row
            ["Step: a; Limit: within 7 days of delivery", "Step: b; Limit: within 28 days"],
            "Is it within 7 days of delivery?",
            set(),
        ),
        (["ticket: Weekly; zone: A", "ticket: Weekly; zone: A-D"], "Weekly, zones A to D?", set()),
        (
            ["branch: All branches; fee: £1", "branch: Harwell Central; fee: £2"],
            "What is the fee at Harwell Central?",
            set(),  # a row for all branches is about Harwell Central too
        ),
        (
            ["category: moving in; answer: a", "category: moving out; answer: b"],
            "I'm moving in with my partner. How much notice do I give?",
            set(),  # common words of the story name no row
        ),
        (
            ["branch: Ashdown; fee: £1", "branch: Millbeck; fee: £2"],
            "We're at Millbeck. What is the fee?",
            {0},  # a name in the story does
        ),
    ],
)
def test_a_question_naming_a_cell_value_sets_the_other_rows_apart(
    texts: list[str], question: str, other: set[int]
) -> None:
    """A value with figures names a row when it is short ("Zone 2", "April 2025") or made
    of codes ("G6", "BR-22"); one without a word of three letters that is no code (zone
    "A") names none."""
    assert other_rows(texts, question) == other


def test_the_row_a_question_names_answers_however_many_words_another_shares() -> None:
    question = (
        "We'd like to start a meeting at Millbeck Library and need a room for a couple of "
        "hours. How much is the hourly hire charge?"
    )
    units = score_units(question, [_hit(ROOMS)], HashingEmbedder(dim=64))
    best = best_unit(units, question)
    assert best is not None and "Millbeck" in best.text
    # and the Ashdown row supports no reply about Millbeck
    reply = "The hourly hire charge at Millbeck is £15.00 per hour."
    assert check_support(reply, question, units).kept == ""


def test_a_question_asking_which_form_is_answered_by_a_unit_naming_one() -> None:
    question = "My season ticket costs a fortune. Can the company help, and what form do I need?"
    assert asks_for_code(question)
    assert not asks_for_code("What is the form of payment?")
    text = (
        "Season ticket loan: an interest-free loan of up to £6,000 for an annual season "
        "ticket, repaid over 10 months. Apply on form HR-17 (Season Ticket Loan Application)."
    )
    assert new_codes(text, question) == {"hr17"}
    assert new_codes("Open 24-hour, from 5pm.", question) == set()  # no capital: no code
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    found = extraction(units, question, min_score=0.9, figure_min_score=0.0)
    assert found is not None and "HR-17" in found.text
    assert found.figure and found.min_score == 0.0  # the bar of an answer of the kind asked
