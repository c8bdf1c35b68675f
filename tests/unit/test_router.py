"""The router: rules, nearest examples, fallback, unavailable routes, and the reason."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from expertly.answer.router import (
    Example,
    RouteClassifier,
    Router,
    load_examples,
)
from expertly.errors import ConfigError
from expertly.types import Answer, Principal


class Fixed:
    """An answerer that records questions and answers with its own name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked: list[str] = []

    def answer(self, question: str, *, principal: Principal | None = None) -> Answer:
        self.asked.append(question)
        return Answer(question, f"{self.name} says", route=self.name, timings={"total": 0.1})


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A tiny deterministic embedder: normalised counts over a fixed vocabulary."""
    vocab = ["warranty", "price", "policy", "joke", "capital", "hello", "poem", "weather"]
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, text in enumerate(texts):
        for j, word in enumerate(vocab):
            out[i, j] = text.lower().count(word)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


@pytest.mark.parametrize(
    ("question", "route"),
    [
        ("What is 1,200 * 0.17?", "agent"),
        ("Calculate the total cost of three sensors", "agent"),
        ("Which rows in the database have status late?", "agent"),
        ("Fetch https://status.example.com and summarise it", "agent"),
        ("Compare the HX-100 and the TX-200 and tell me which is cheaper", "agent"),
        ("Draft a reply to the customer about the delay", "finetuned"),
        ("Write a product description for the HX-100", "finetuned"),
    ],
)
def test_rules_route_clear_cases(question: str, route: str) -> None:
    decision = RouteClassifier().classify(question)
    assert decision.route == route
    assert decision.step == "rules"
    assert decision.reason.startswith("rule: ")


def test_examples_vote_when_no_rule_matches() -> None:
    examples = [
        Example("what is the warranty policy", "rag"),
        Example("what is the price policy", "rag"),
        Example("tell me a joke", "base"),
        Example("hello there, a joke please", "base"),
    ]
    classifier = RouteClassifier(examples, bag_of_words, k=2, min_similarity=0.3)
    rag = classifier.classify("How long is the warranty?")
    assert (rag.route, rag.step) == ("rag", "examples")
    assert "warranty" in rag.reason
    base = classifier.classify("Do you know a good joke?")
    assert (base.route, base.step) == ("base", "examples")


def test_fallback_when_nothing_is_close() -> None:
    classifier = RouteClassifier(
        [Example("tell me a joke", "base")], bag_of_words, min_similarity=0.5
    )
    decision = classifier.classify("Where is the weather station mounted?")
    assert (decision.route, decision.step) == ("rag", "fallback")


def test_router_delegates_and_explains(tmp_path: Path) -> None:
    rag, agent = Fixed("rag"), Fixed("agent")
    router = Router({"rag": rag, "agent": agent}, RouteClassifier())
    answer = router.answer("What is 12 * 7?")
    assert agent.asked == ["What is 12 * 7?"] and rag.asked == []
    assert answer.route == "agent"
    assert answer.reason.startswith("router: rule: an arithmetic expression")
    assert answer.trace[0].name == "route" and answer.trace[0].detail["route"] == "agent"
    assert "route" in answer.timings


def test_unavailable_route_falls_back_with_reason() -> None:
    rag = Fixed("rag")
    router = Router({"rag": rag}, RouteClassifier())
    answer = router.answer("Draft an email to the supplier")
    assert answer.route == "rag" and rag.asked
    assert "'finetuned' is not available" in answer.reason
    assert "expertly finetune" in answer.reason


def test_router_needs_its_fallback() -> None:
    with pytest.raises(ConfigError, match="fallback route 'rag' has no answerer"):
        Router({"agent": Fixed("agent")}, RouteClassifier())


def test_shipped_and_user_examples_load(tmp_path: Path) -> None:
    shipped = load_examples()
    assert {e.route for e in shipped} == {"rag", "finetuned", "agent", "base"}
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"text": "How do I calibrate?", "route": "rag"}\n\n', encoding="utf-8")
    assert len(load_examples(mine)) == len(shipped) + 1
    mine.write_text('{"text": "x", "route": "oracle"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 1: route 'oracle' is not one of"):
        load_examples(mine)
    mine.write_text("not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1: expected"):
        load_examples(mine)
    with pytest.raises(ConfigError, match="does not exist"):
        load_examples(tmp_path / "missing.jsonl")


def test_the_index_decides_between_rag_and_base() -> None:
    scores = {"What is the warranty?": 0.6, "Who painted the Mona Lisa?": 0.05}
    classifier = RouteClassifier(relevance=scores.__getitem__, min_relevance=0.2)
    rag = classifier.classify("What is the warranty?")
    assert (rag.route, rag.step) == ("rag", "index") and "0.60 >= 0.2" in rag.reason
    base = classifier.classify("Who painted the Mona Lisa?")
    assert (base.route, base.step) == ("base", "index") and "0.05 < 0.2" in base.reason
    # Rules still come first: arithmetic goes to the agent whatever the index says.
    assert RouteClassifier(relevance=lambda q: 0.9).classify("What is 3 * 4?").route == "agent"


def test_a_percentage_of_a_figure_goes_to_the_agent() -> None:
    classifier = RouteClassifier()
    question = "What do three gateways cost at 689 EUR each plus 19% VAT?"
    assert classifier.classify(question).route == "agent"
    assert classifier.classify("What is the VAT rate on gateways?").step != "rules"


def test_a_quantity_at_a_unit_price_goes_to_the_agent() -> None:
    decision = RouteClassifier().classify("What do 3 gateways at 689 EUR each cost?")
    assert (decision.route, decision.step) == ("agent", "rules")
    assert RouteClassifier().classify("What is the price of the gateway?").step != "rules"
