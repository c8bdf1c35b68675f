"""bands: the ranges of a measure a table is cut by, and the row a question's amount is in."""

from __future__ import annotations

import math

import pytest

from expertly.answer.bands import Band, amounts, bands, outside
from expertly.answer.retrieval import table_rows
from expertly.answer.units import Unit, best_unit, set_apart
from expertly.types import Chunk, Hit

pytestmark = pytest.mark.unit

SHOP = [
    "service_code: SHP; weight_band: 0-1 kg; zone_4: £7.95; notes: max 15 kg and 60 cm",
    "service_code: SHP; weight_band: 1.01-2 kg; zone_4: £8.90; notes: max 15 kg and 60 cm",
    "service_code: SHP; weight_band: 2.01-5 kg; zone_4: £10.85; notes: max 15 kg and 60 cm",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("weight_band: 0-1 kg; zone_1: £3.20", [Band("mass", 0, 1)]),
        ("Weight: Up to 2 kg; EX1 Group E1: £18.50", [Band("mass", -math.inf, 2)]),
        ("Weight: 500 g to 2 kg; Price: £4", [Band("mass", 0.5, 2)]),
        ("Declared value: £300.01 to £500; Price: £4.00", [Band("money:gbp", 300.01, 500)]),
        ("Invoice total: £10,000 or more; Fee: £100", [Band("money:gbp", 10_000, math.inf)]),
        ("Invoice total: under £1,000; Fee: £40", [Band("money:gbp", -math.inf, 1000)]),
        ("Rental length: 7+ days; Price: £30", [Band("duration", 7, math.inf)]),
        ("Length: 3-6 working days; Price: £41", [Band("duration", 3, 6)]),
        (
            "Parcels per month: 250 to 499; Discount: 7%",
            [Band("count:parcel", 250, 499), Band("count:month", 250, 499)],
        ),
        ("Parcels between 2 and 5 kg cost £4.", [Band("mass", 2, 5)]),  # a sentence
        # a limit inside a longer value, clock times and codes are no bands
        ("weight_band: 5 kg; notes: max 15 kg and 60 cm", []),
        ("Open: Mon-Fri 07:00-19:30; Sat: 09:00-12:00", []),
        ("Model: BR-15-BR-22; Weight: 345 kg", []),
        ("Parcels over 30 kg are refused.", []),  # one end, in a sentence
    ],
)
def test_bands_are_ranges_a_record_cell_holds_whole_or_a_sentence_states_with_both_ends(
    text: str, expected: list[Band]
) -> None:
    assert sorted(bands(text), key=repr) == sorted(expected, key=repr)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much is Shop to Shop for a 1.5 kg parcel to Zone 4?", [Band("mass", 1.5, 1.5)]),
        ("Protect for a declared value of £450?", [Band("money:gbp", 450, 450)]),
        ("Price in the 5.01-10 kg weight band?", [Band("mass", 5.01, 10)]),
        ("We sent 300 parcels last month; our discount?", [Band("count:parcel", 300, 300)]),
        ("A 750 g parcel", [Band("mass", 0.75, 0.75)]),
        # codes, times, years and zone numbers state no amount
        ("What did N10 cost at 10:30 in April 2025 for Zone 3?", []),
        # a measure stated twice with different amounts tells no row apart
        ("Is a 4 kg parcel dearer than a 12 kg one?", []),
    ],
)
def test_amounts_a_question_states(question: str, expected: list[Band]) -> None:
    assert amounts(question) == expected


def test_rows_whose_bands_leave_out_the_amount_are_set_apart() -> None:
    assert outside(SHOP, "What does Shop to Shop cost for a 1.5 kg parcel to Zone 4?") == {0, 2}
    assert outside(SHOP, "What does Shop to Shop cost for a 2 kg parcel?") == {0, 2}
    assert outside(SHOP, "What does Shop to Shop cost for a 40 kg parcel?") == {0, 1, 2}
    # no amount of the banded measure, or no bands: nothing is set apart
    assert outside(SHOP, "What does Shop to Shop cost to Zone 4?") == set()
    assert outside(SHOP, "Shop to Shop for a parcel worth £450?") == set()
    assert outside(["Shop to Shop costs £7.95 in Zone 4."], "A 1.5 kg parcel?") == set()


def test_the_answer_to_an_amount_is_the_row_of_its_band() -> None:
    question = "How much does the Shop to Shop (SHP) service cost for a 1.5 kg parcel to Zone 4?"
    # the 0-1 kg row scores best by words and meaning; its band leaves 1.5 kg out
    units = [Unit(i, 0, len(t), t, cosine=0.9 - 0.1 * i) for i, t in enumerate(SHOP)]
    assert set_apart(units, question) == {0, 2}
    best = best_unit(units, question)
    assert best is not None and "1.01-2 kg" in best.text
    # a yes/no question reads every row (its answer may be a limit in any of them)
    assert set_apart(units, "Can I send a 40 kg parcel by Shop to Shop?") == set()


class _Chunks:
    """A store giving one document's chunks back (``DocumentReader``)."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks

    def get_document(self, doc_id: str) -> None:
        return None

    def document_text(self, doc_id: str) -> str | None:
        return None

    def chunks(self, doc_id: str) -> list[Chunk]:
        return [c for c in self._chunks if c.doc_id == doc_id]


def _chunk(index: int, text: str, heading: str = "Europe") -> Chunk:
    return Chunk(f"guide.md#{index}", "guide.md", index, text, 0, len(text), ("Guide", heading))


def test_the_chunk_holding_the_row_of_the_asked_amount_is_read_after_its_neighbour() -> None:
    table = [
        _chunk(0, "Weight: Up to 2 kg; E1: £18.50\nWeight: 2.01 to 5 kg; E1: £23.75"),
        _chunk(1, "Weight: 5.01 to 10 kg; E1: £31.20\nWeight: 10.01 to 20 kg; E1: £42.60"),
        _chunk(2, "Weight: 20.01 to 30 kg; E1: £55.80\nEurope parcels are charged by weight."),
        _chunk(3, "Weight: 2.01 to 5 kg; Price: £9.00", heading="UK"),  # another table
    ]
    store = _Chunks(table)
    hits = [Hit(table[2], 1.0, scores={"fused": 1.0}), Hit(table[3], 0.5)]
    question = "How much is Europe Express for a 4 kg box?"
    found = table_rows(hits, question, store)
    assert [h.chunk.id for h in found] == ["guide.md#2", "guide.md#0", "guide.md#3"]
    assert found[1].score == 1.0 and found[1].scores["table"] == 1.0
    # a hit holding the amount's row, a question stating no amount or asking no value, or
    # a store that gives no chunks back: the hits as they were
    assert table_rows(hits[:1], "How much is it for a 25 kg box?", store) == hits[:1]
    assert table_rows(hits[:1], "How much is Europe Express?", store) == hits[:1]
    assert table_rows(hits[:1], "Can I send a 4 kg box?", store) == hits[:1]
    assert table_rows(hits[:1], question, object()) == hits[:1]


def test_the_chunk_holding_the_row_a_question_names_is_read_after_its_siblings() -> None:
    table = [
        _chunk(0, "Collection address: Zone 1; Saturday: 10:00", heading="Cut-off"),
        _chunk(1, "Collection address: Zone 2; Saturday: 09:30", heading="Cut-off"),
        _chunk(2, "Collection address: Zone 3; Saturday: none", heading="Cut-off"),
    ]
    store = _Chunks(table)
    hits = [Hit(table[0], 1.0), Hit(table[2], 0.9)]
    question = "What is the Saturday booking cut-off for a collection address in Zone 2?"
    found = table_rows(hits, question, store)
    assert [h.chunk.id for h in found] == ["guide.md#0", "guide.md#1", "guide.md#2"]
    # a question naming no row, or naming a hit's row, reads the hits alone
    assert table_rows(hits, "What is the Saturday booking cut-off?", store) == hits
    assert table_rows(hits, "What is the Saturday cut-off in Zone 3?", store) == hits


def test_a_long_table_is_looked_through_only_near_the_hit() -> None:
    rows = [_chunk(i, f"Weight: {i}.01 to {i + 1} kg; E1: £{i}.00") for i in range(40)]
    store = _Chunks(rows)
    near = table_rows([Hit(rows[0], 1.0)], "What is the price for a 5.5 kg box?", store)
    assert [h.chunk.id for h in near] == ["guide.md#0", "guide.md#5"]
    far = table_rows([Hit(rows[0], 1.0)], "What is the price for a 30.5 kg box?", store)
    assert [h.chunk.id for h in far] == ["guide.md#0"]  # row 30 is past TABLE_REACH
