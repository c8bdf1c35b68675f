"""An answer keeps its source's currency (answer/currency.py, used by the support check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expertly.answer.currency import currencies, currency_conflict
from expertly.config import AnswerSettings
from tests.unit.helpers import fake_workspace, write_corpus


def test_amounts_are_read_with_the_currency_around_them_or_in_their_key() -> None:
    assert currencies("code: EM-WE; service: Emergency consultation; price_gbp: 185.00") == {
        "185": {"GBP"}
    }
    assert currencies("It costs £185, EUR 949, US$ 5 or 1,700.00 CHF; 20 euros later") == {
        "185": {"GBP"},
        "949": {"EUR"},
        "5": {"USD"},
        "1700": {"CHF"},
        "20": {"EUR"},
    }
    assert currencies("Step 3: wait 10 minutes; E42 means the fan stalled") == {}
    assert currencies("eurozone_note: 12") == {}  # a key names a currency only by its code


@pytest.mark.parametrize(
    ("sentence", "source", "conflict"),
    [
        ("The consultation costs 185.00 euros.", "price_gbp: 185.00", True),
        ("It costs $1.00 per day.", "Parking: €1.00 per day", True),
        ("The consultation costs £185.", "price_gbp: 185.00", False),
        ("It costs 185 GBP.", "Weekend consultation £185.00", False),
        ("The gateway costs EUR 949.", "EUR 949 per unit", False),
        ("The gateway costs 149.", "price_eur: 149", False),  # stated bare: no conflict
        ("It costs €1.00.", "It costs 1.00 a day", False),  # the source states it bare
        ("It costs 12 euros.", "price_gbp: 185.00", False),  # another amount: not this check's
    ],
)
def test_a_conflict_is_the_same_amount_in_another_currency(
    sentence: str, source: str, conflict: bool
) -> None:
    assert currency_conflict(sentence, source) is conflict


def test_a_reply_in_the_wrong_currency_is_withheld(tmp_path: Path) -> None:
    question = "What does the HX-100 humidity sensor cost?"
    ws = fake_workspace(
        tmp_path,
        replies=["1], the HX-100 costs 149 GBP."],
        answer=AnswerSettings(fallback="abstain"),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])  # prices.csv: price_eur 149
    answer = ws.answerer().answer(question)
    assert answer.abstained and not answer.citations
    support = next(s for s in answer.trace if s.name == "support")
    assert support.detail["dropped"] == ["According to source [1], the HX-100 costs 149 GBP."]
    ws.close()
    ws = fake_workspace(tmp_path / "eur", replies=["1], the HX-100 costs 149 euros."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer(question)
    assert answer.text == "According to source [1], the HX-100 costs 149 euros."
    ws.close()
