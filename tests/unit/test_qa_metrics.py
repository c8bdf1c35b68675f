from __future__ import annotations

import pytest

from expertly.evaluate.qa import contains, exact_match, normalise, token_f1


def test_normalise_drops_case_punctuation_articles_and_markers() -> None:
    assert normalise("The Eiffel Tower [1].") == "eiffel tower"


def test_exact_match_takes_the_best_gold() -> None:
    assert exact_match("the Eiffel tower", ["Louvre", "Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_token_f1_partial_and_yes_no() -> None:
    assert token_f1("Eiffel", ["Eiffel Tower"]) == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert token_f1("yes", ["no"]) == 0.0
    assert token_f1("no", ["no"]) == 1.0
    assert token_f1("", ["x"]) == 0.0


def test_contains_matches_whole_words_only() -> None:
    assert contains("It was built by Gustave Eiffel in 1889.", ["1889"]) == 1.0
    assert contains("In 18890 years", ["1889"]) == 0.0


def test_numbers_lose_thousands_separators_and_trailing_decimal_zeros() -> None:
    """ "list_price_eur: 689.00" holds the "689" a question's must_contain asks for."""
    assert normalise("list_price_eur: 689.00; unit: piece") == "listpriceeur 689 unit piece"
    assert normalise("EUR 1,700.50") == "eur 17005"
    assert normalise("1,700.5") == normalise("1700.50") == "17005"
    assert normalise("2.50 mm") == normalise("2.5 mm") != normalise("2.05 mm")
    assert normalise("a 10.0 V supply") == "10 v supply"
    assert contains("The price is EUR 689.00 [1].", ["689"]) == 1.0
    assert contains("The price is EUR 6890 [1].", ["689"]) == 0.0
