"""Conversation memory: recent turns verbatim, older ones folded into a bounded summary."""

from __future__ import annotations

import pytest

from expertly.agents.memory import SUMMARY_HEADER, ConversationMemory, first_sentence
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message


def test_recent_turns_are_kept_verbatim_in_order() -> None:
    memory = ConversationMemory(turns=2)
    memory.add("Who are you?", "An assistant.")
    memory.add("What is 2+2?", "4.")
    assert memory.messages() == [
        Message("user", "Who are you?"),
        Message("assistant", "An assistant."),
        Message("user", "What is 2+2?"),
        Message("assistant", "4."),
    ]
    assert memory.summary == ""


def test_older_turns_fold_into_an_extractive_summary_without_an_llm() -> None:
    memory = ConversationMemory(turns=1)
    memory.add("My name is Ada. I work in Berlin.", "Nice to meet you, Ada! How can I help?")
    memory.add("How much leave do I get?", "20 weeks [1].")
    assert len(memory) == 1
    assert memory.summary == "Q: My name is Ada. A: Nice to meet you, Ada!"
    messages = memory.messages()
    assert messages[0] == Message("user", SUMMARY_HEADER + memory.summary)
    assert messages[-2:] == [
        Message("user", "How much leave do I get?"),
        Message("assistant", "20 weeks [1]."),
    ]


def test_the_summary_stays_bounded_and_keeps_the_newest_part() -> None:
    memory = ConversationMemory(turns=0, summary_chars=200)
    for i in range(50):
        memory.add(f"Question number {i}?", f"Answer number {i}.")
    assert len(memory.summary) <= 200 and memory.summary.startswith("…")
    assert "Answer number 49." in memory.summary and "number 3." not in memory.summary
    assert memory.recent == []


def test_an_llm_writes_the_summary_and_an_empty_one_falls_back_to_extraction() -> None:
    llm = ScriptedLLM(["The user, Ada, asked about leave: 20 weeks.", "   "])
    memory = ConversationMemory(turns=1, llm=llm)
    memory.add("I am Ada.", "Hello Ada.")
    memory.add("Leave?", "20 weeks.")  # folds the first turn: one summary call
    assert memory.summary == "The user, Ada, asked about leave: 20 weeks."
    assert "User: I am Ada.\nAssistant: Hello Ada." in llm.calls[0][0].content
    memory.add("Vacation?", "28 days.")  # the model returns nothing: extract instead
    assert memory.summary == ("The user, Ada, asked about leave: 20 weeks.\nQ: Leave? A: 20 weeks.")
    assert "Summary so far: The user, Ada" in llm.calls[1][0].content
    assert len(memory.usage) == 2


def test_bad_settings_and_clear() -> None:
    with pytest.raises(ValueError, match="memory_turns"):
        ConversationMemory(turns=-1)
    memory = ConversationMemory(turns=0)
    memory.add("q", "a")
    memory.clear()
    assert memory.messages() == []


def test_first_sentence() -> None:
    assert first_sentence("One.  Two.", 50) == "One."
    assert first_sentence("no end " * 20, 20) == "no end no end no en…"
