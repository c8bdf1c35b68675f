"""The supervisor: answers must be supported by what the tools returned."""

from __future__ import annotations

import pytest

from expertly.agents.supervisor import Supervisor, key_terms, unsupported
from expertly.generate.scripted import ScriptedLLM

OBS = ["[1] (prices.csv)\nsku: HX-100, product: Humidity sensor, price_eur: 1,499.00"]


def test_key_terms_are_codes_acronyms_and_names_inside_sentences() -> None:
    text = "The HX-100 costs 1499 EUR [1]. It ships from Berlin. Yes, it does."
    assert key_terms(text) == {"hx-100", "eur", "berlin"}


@pytest.mark.parametrize(
    ("answer", "problems"),
    [
        ("The HX-100 costs 1499 euros [1].", []),  # "1,499.00" and "1499" are the same figure
        ("The HX-100 costs 1,499 [1].", []),
        # a code's digits are no figure: the code itself is the unsupported term
        ("The HX-200 costs 1499 [1].", ["the term 'hx-200'"]),
        ("It costs 1599.", ["the figure 1599"]),
        ("It is made in Munich.", ["the term 'munich'"]),
        ("The humidity sensor is the one to buy.", []),
    ],
)
def test_rule_check_names_unsupported_figures_and_terms(answer: str, problems: list[str]) -> None:
    assert unsupported(answer, OBS) == problems


def test_question_words_count_as_support_and_abstentions_are_always_supported() -> None:
    sup = Supervisor()
    assert sup.check("Yes, 14 characters are enough.", [], "Are 14 characters enough?").supported
    assert sup.check("The documents do not say.", []).supported
    for empty in ("  ", "...", "[1]."):
        verdict = sup.check(empty, OBS)
        assert not verdict.supported and verdict.problems == ("the answer is empty",)
    bad = sup.check("It costs 99.", OBS)
    assert (bad.supported, bad.method) == (False, "rules")
    assert bad.problems == ("no tool result contains the figure 99",)


def test_a_judge_is_asked_only_when_the_rules_pass() -> None:
    judge = ScriptedLLM(["NO: the answer says it is waterproof, the results do not."])
    sup = Supervisor(judge=judge)
    assert not sup.check("It costs 77.", OBS).supported
    assert judge.calls == []  # the rules already failed it
    verdict = sup.check("The HX-100 is waterproof [1].", OBS, "Is it waterproof?")
    assert (verdict.supported, verdict.method) == (False, "judge")
    assert verdict.problems == ("the answer says it is waterproof, the results do not.",)
    assert verdict.completion is not None and verdict.completion.completion_tokens > 0
    assert "HX-100, product: Humidity sensor" in judge.calls[0][0].content
    ok = Supervisor(judge=ScriptedLLM(["YES."])).check("The HX-100 costs 1499 [1].", OBS)
    assert (ok.supported, ok.method) == (True, "judge")
    unclear = Supervisor(judge=ScriptedLLM(["Maybe."])).check("The HX-100 [1].", OBS)
    assert unclear.supported and "not YES/NO" in unclear.problems[0]
