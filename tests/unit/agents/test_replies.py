"""The reply strategy is chosen once, from the model's capabilities (the generate protocols)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from expertly.agents import prompts as P
from expertly.agents.react import AgentAnswerer
from expertly.agents.replies import GuidedReplies, NativeReplies, TextReplies, choose_replies
from expertly.agents.tools.base import ToolRegistry
from expertly.config import AgentSettings
from expertly.errors import ExpertlyError, ExpertlyTimeout, LLMError, LLMTimeoutError
from expertly.generate import Closeable, Prefilling, ToolCalling, Warmable
from expertly.generate.openai_compat import OpenAICompatLLM
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Completion, Message
from tests.unit.agents.test_react import calculator, call, final


class PlainLLM:
    """A model with none of the optional capabilities: it answers, and that is all."""

    name, context_window = "plain", 2048

    def __init__(self, replies: Sequence[str]) -> None:
        self.inner = ScriptedLLM(replies)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(messages)

    def generate(self, messages: Sequence[Message], **kw: Any) -> Completion:
        return self.inner.generate(messages, **kw)

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        return self.inner.stream(messages, **kw)


def endpoint() -> OpenAICompatLLM:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    return OpenAICompatLLM("m", base_url="http://llm.test/v1", transport=transport)


def test_backends_declare_their_capabilities() -> None:
    scripted, served = ScriptedLLM(), endpoint()
    assert isinstance(scripted, Prefilling) and scripted.continues_prefill()
    assert not isinstance(scripted, ToolCalling)
    assert isinstance(served, ToolCalling) and isinstance(served, Warmable)
    assert isinstance(served, Closeable) and not isinstance(served, Prefilling)
    assert not isinstance(PlainLLM(["x"]), Prefilling)


def test_one_strategy_per_mode() -> None:
    scripted = ScriptedLLM()
    assert choose_replies(scripted, native_tools=False, guided=False) == TextReplies(
        P.PREFILL, P.ANSWER_PREFILL
    )
    assert isinstance(choose_replies(scripted, native_tools=True, guided=True), GuidedReplies)
    assert choose_replies(PlainLLM(["x"]), native_tools=False, guided=True) == TextReplies()
    native = choose_replies(endpoint(), native_tools=True, guided=True)
    assert isinstance(native, NativeReplies) and native.mode == "native"
    assert choose_replies(endpoint(), native_tools=False, guided=False) == TextReplies()


def test_a_model_without_prefill_gets_plain_text_prompts() -> None:
    llm = PlainLLM([call("calculator", expression="17*23"), final("It is 391.")])
    bot = AgentAnswerer(llm, ToolRegistry.of([calculator()]), AgentSettings(), guided=True)
    answer = bot.answer("What is 17 times 23?")
    assert answer.text == "It is 391." and not answer.incomplete
    assert all(prompt[-1].role == "user" for prompt in answer.prompts)  # nothing prefilled


def test_timeouts_are_one_class_of_the_error_tree() -> None:
    assert issubclass(LLMTimeoutError, ExpertlyTimeout) and issubclass(LLMTimeoutError, LLMError)
    assert issubclass(ExpertlyTimeout, ExpertlyError)
