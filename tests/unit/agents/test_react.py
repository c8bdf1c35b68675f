"""The agent's ReAct loop with a scripted model and small fake tools that record calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from expertly.agents.memory import ConversationMemory
from expertly.agents.parsing import FORMAT_HINT
from expertly.agents.react import ABSTAIN_TEXT, AgentAnswerer
from expertly.agents.tools.base import ToolError, ToolRegistry, ToolResult
from expertly.config import AgentSettings
from expertly.errors import ExpertlyError
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Chunk, Completion, Hit, Message, Principal

# -- fakes ------------------------------------------------------------------------------


@dataclass
class FakeTool:
    """A tool that records its calls and answers with ``fn``."""

    name: str
    fn: Callable[..., ToolResult]
    params: tuple[str, ...] = ("expression",)
    description: str = "a fake tool"
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p: {"type": "string"} for p in self.params},
            "required": list(self.params),
        }

    def run(self, **arguments: Any) -> ToolResult:
        self.calls.append(arguments)
        return self.fn(**arguments)


PRODUCTS = {"17*23": "391", "20*7": "140"}


def calculator() -> FakeTool:
    def fn(expression: str) -> ToolResult:
        if expression not in PRODUCTS:
            raise ToolError(f"cannot compute {expression!r}")
        return ToolResult(PRODUCTS[expression])

    return FakeTool("calculator", fn)


def hit(doc: str, index: int, text: str) -> Hit:
    chunk = Chunk(f"{doc}#{index}", doc, index, text, 0, len(text))
    return Hit(chunk, 1.0 / (index + 1), source=doc, title=doc)


LEAVE = hit("leave.md", 0, "Employees get 20 weeks of paid parental leave.")
VACATION = hit("leave.md", 1, "Everyone gets 28 days of vacation per calendar year.")


def search(results: dict[str, tuple[Hit, ...]]) -> FakeTool:
    def fn(query: str) -> ToolResult:
        found = results.get(query, ())
        return ToolResult("\n".join(h.chunk.text for h in found) or "no results", hits=found)

    return FakeTool("search_docs", fn, params=("query",))


def call(tool: str, **arguments: Any) -> str:
    return json.dumps({"thought": f"use {tool}", "tool": tool, "arguments": arguments})


def final(text: str) -> str:
    return json.dumps({"thought": "done", "answer": text})


def agent(
    replies: Sequence[str] | Callable[[Sequence[Message]], str],
    tools: Sequence[FakeTool],
    **settings: Any,
) -> tuple[AgentAnswerer, ScriptedLLM]:
    llm = ScriptedLLM(replies)
    return AgentAnswerer(llm, ToolRegistry.of(tools), AgentSettings(**settings)), llm


def kinds(answer: Any) -> list[str]:
    return [s.detail["kind"] for s in answer.trace if s.name != "agent.budget"]


# -- the loop ---------------------------------------------------------------------------


def test_tool_call_then_answer_with_a_well_formed_trace() -> None:
    calc = calculator()
    bot, llm = agent([call("calculator", expression="17*23"), final("17 times 23 is 391.")], [calc])
    answer = bot.answer("What is 17 times 23?")
    assert (answer.route, answer.text, answer.incomplete, answer.abstained) == (
        "agent", "17 times 23 is 391.", False, False,
    )  # fmt: skip
    assert calc.calls == [{"expression": "17*23"}]
    assert kinds(answer) == ["action", "answer"]
    first = answer.trace[0].detail
    assert first["tool"] == "calculator" and first["arguments"] == {"expression": "17*23"}
    assert (
        first["ok"] and "391" in first["observation"] and "not instructions" in first["observation"]
    )
    assert first["prompt"] == 0 and first["raw"].startswith('{"thought": ')
    assert first["prompt_tokens"] == llm.count_tokens(answer.prompts[0])
    assert first["completion_tokens"] > 0
    # The second prompt holds the observation; the prompts are exactly what the model saw.
    assert [list(p) for p in answer.prompts] == llm.calls
    assert "391" in answer.prompts[1][-2].content
    budget = answer.trace[-1]
    assert budget.name == "agent.budget" and budget.detail["steps"] == 2
    assert answer.usage["calls"] == 2
    assert answer.usage["completion_tokens"] == sum(
        s.detail["completion_tokens"] for s in answer.trace[:2]
    )


def test_search_hits_are_numbered_across_the_run_and_cited() -> None:
    docs = search({"parental leave": (LEAVE,), "leave policy": (VACATION, LEAVE)})
    bot, _ = agent(
        [
            call("search_docs", query="parental leave"),
            call("search_docs", query="leave policy"),
            final("Parental leave is 20 weeks [1] and vacation 28 days [2]."),
        ],
        [docs],
    )
    answer = bot.answer("How much leave do we get?")
    second = answer.trace[1].detail
    assert second["sources"] == [2, 1]  # the new chunk gets 2, the known one keeps 1
    assert second["observation"].index("[2]") < second["observation"].index("[1]")
    assert [c.number for c in answer.citations] == [1, 2]
    assert [c.chunk_id for c in answer.citations] == ["leave.md#0", "leave.md#1"]
    assert [h.chunk.id for h in answer.hits] == ["leave.md#0", "leave.md#1"]


def test_malformed_replies_unknown_tools_and_bad_arguments_are_observations() -> None:
    calc = calculator()
    bot, llm = agent(
        [
            "I think the answer is probably big.",
            call("weather", city="Paris"),
            call("calculator", formula="17*23"),
            call("calculator", expression="1/0"),
            call("calculator", expression="17*23"),
            final("391"),
        ],
        [calc],
        max_steps=8,
    )
    answer = bot.answer("What is 17 times 23?")
    steps = [s.detail for s in answer.trace[:5]]
    assert [s["ok"] for s in steps] == [False, False, False, False, True]
    assert FORMAT_HINT in steps[0]["error"] and FORMAT_HINT in llm.calls[1][-2].content
    assert "no tool 'weather'" in steps[1]["observation"]
    assert "missing argument(s) expression" in steps[2]["observation"]
    assert "cannot compute '1/0'" in steps[3]["observation"]
    assert calc.calls == [{"expression": "1/0"}, {"expression": "17*23"}]
    assert answer.text == "391" and not answer.incomplete


def test_a_bug_in_a_tool_is_raised_not_hidden() -> None:
    def broken(expression: str) -> ToolResult:
        raise KeyError("bug")

    bot, _ = agent([call("calculator", expression="1")], [FakeTool("calculator", broken)])
    with pytest.raises(KeyError):
        bot.answer("What is 1?")


def test_react_text_action_binds_its_input_to_the_only_parameter() -> None:
    calc = calculator()
    bot, _ = agent(["Thought: math\nAction: calculator[17*23]", final("391")], [calc])
    assert bot.answer("17 times 23?").text == "391"
    assert calc.calls == [{"expression": "17*23"}]


def test_a_task_engineered_to_loop_stops_at_max_steps_with_an_honest_incomplete_answer() -> None:
    calc = calculator()
    bot, llm = agent([call("calculator", expression="17*23")], [calc], max_steps=4)
    answer = bot.answer("What is 17 times 23?")
    assert calc.calls == [{"expression": "17*23"}]  # repeats are not re-run
    steps = [s.detail for s in answer.trace[:4]]
    assert all(s["error"] == "repeated call: the same as step 1" for s in steps[1:])
    assert "Do not repeat a call" in llm.calls[2][-2].content
    assert answer.incomplete and answer.reason.startswith("max_steps: 4 steps taken")
    # One "answer now" call was made (5 calls); the model called a tool again, so the
    # answer is the summary of what the tools returned.
    assert len(llm.calls) == 5 and kinds(answer)[-1] == "summary"
    assert "I could not finish (max_steps" in answer.text and "calculator: 391" in answer.text


def test_answer_now_after_the_steps_ran_out_is_used_when_supported() -> None:
    def reply(messages: Sequence[Message]) -> str:
        if "You cannot call more tools" in messages[-2].content:
            return '391"}'  # continues the {"answer": " prefill
        return call("calculator", expression="17*23")

    bot, llm = agent(reply, [calculator()], max_steps=2)
    answer = bot.answer("What is 17 times 23?")
    assert (answer.text, answer.incomplete) == ("391", True)
    assert answer.reason.startswith("max_steps") and kinds(answer)[-1] == "answer_now"
    assert llm.calls[-1][-1] == Message("assistant", '{"answer": "')


class RecordingLLM(ScriptedLLM):
    """Records the max_tokens each call was given."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.limits: list[int] = []

    def generate(self, messages: Sequence[Message], *, max_tokens: int, **kw: Any) -> Completion:
        self.limits.append(max_tokens)
        return super().generate(messages, max_tokens=max_tokens, **kw)


def test_token_budget_shrinks_each_call_and_stops_the_loop() -> None:
    reply = call("calculator", expression="17*23")
    n = len(reply.split())  # the fake counts a word as a token
    llm = RecordingLLM(
        [reply, call("calculator", expression="20*7"), call("calculator", expression="x")]
    )
    settings = AgentSettings(max_tokens=18, max_steps=10)
    answer = AgentAnswerer(llm, ToolRegistry.of([calculator()]), settings).answer("q?")
    assert llm.limits[:3] == [18, 18 - n, 18 - 2 * n]
    assert answer.incomplete and answer.reason.startswith("max_tokens: 18 tokens generated")
    assert answer.usage["completion_tokens"] == 18
    assert kinds(answer)[-1] == "summary"  # no tokens left for an "answer now" call


def test_timeout_is_checked_before_each_step_and_bounds_the_call() -> None:
    now = [0.0]

    def reply(messages: Sequence[Message]) -> str:
        now[0] += 10.0  # each model call takes 10 s of the fake clock
        return call("calculator", expression="17*23" if len(messages) < 4 else "20*7")

    llm = ScriptedLLM(reply)
    settings = AgentSettings(timeout_s=25, max_steps=10)
    bot = AgentAnswerer(llm, ToolRegistry.of([calculator()]), settings, clock=lambda: now[0])
    answer = bot.answer("q?")
    assert len(llm.calls) == 3  # at 0, 10 and 20 s; at 30 s the budget is spent
    assert answer.incomplete and answer.reason.startswith("timeout_s: 30.0 s passed")
    assert "calculator: 391" in answer.text and "calculator: 140" in answer.text


def test_cost_budget_refuses_a_call_whose_prompt_would_pass_it() -> None:
    bot, llm = agent(
        [call("calculator", expression="17*23"), call("calculator", expression="20*7")],
        [calculator()],
        cost_per_1k_tokens=1000.0,  # 1 per token: the fake counts words
        max_cost=200.0,
    )
    answer = bot.answer("What is 17 times 23?")
    assert answer.incomplete and answer.reason.startswith("max_cost: estimated cost")
    assert answer.trace[-1].detail["cost"] < 200.0
    assert len(llm.calls) == 1


def test_supervisor_sends_an_unsupported_answer_back_once_then_accepts() -> None:
    bot, llm = agent(
        [call("calculator", expression="17*23"), final("It is 400."), final("It is 391.")],
        [calculator()],
    )
    answer = bot.answer("What is 17 times 23?")
    assert answer.text == "It is 391." and kinds(answer) == ["action", "retry", "answer"]
    assert "figure 400" in answer.trace[1].detail["error"]
    assert "not supported by the tool results" in llm.calls[2][-2].content


def test_supervisor_abstains_after_a_second_unsupported_answer() -> None:
    bot, _ = agent([final("It is 400."), final("Still 400.")], [calculator()])
    answer = bot.answer("What is 17 times 23?")
    assert (answer.text, answer.abstained, answer.incomplete) == (ABSTAIN_TEXT, True, False)
    assert answer.reason.startswith("supervisor: no tool result contains the figure 400")
    assert kinds(answer) == ["retry", "abstain"]


def test_without_supervision_any_answer_is_accepted() -> None:
    bot, _ = agent([final("It is 400.")], [calculator()], supervise=False)
    assert bot.answer("What is 17 times 23?").text == "It is 400."


def test_plan_is_written_first_traced_and_put_in_the_loop_prompt() -> None:
    bot, llm = agent(
        [" Use calculator on 17*23.\n2. Answer.", call("calculator", expression="17*23"),
         final("391")],
        [calculator()],
        plan=True,
    )  # fmt: skip
    answer = bot.answer("What is 17 times 23?")
    plan = answer.trace[0]
    assert plan.name == "agent.plan" and plan.detail["plan"] == [
        "Use calculator on 17*23.",
        "Answer.",
    ]
    assert llm.calls[0][-1] == Message("assistant", "1.")  # the plan's prefill
    assert "Your plan:\n1. Use calculator on 17*23.\n2. Answer." in llm.calls[1][0].content
    assert answer.text == "391" and answer.usage["calls"] == 3


def test_memory_puts_earlier_turns_before_the_question_and_remembers_answers() -> None:
    memory = ConversationMemory(turns=2)
    llm = ScriptedLLM([final("Hello Ada."), final("Your name is Ada.")])
    bot = AgentAnswerer(llm, ToolRegistry(), AgentSettings(supervise=False), memory=memory)
    bot.answer("My name is Ada.")
    bot.answer("What is my name?")
    second = llm.calls[1]
    assert second[1:4] == [
        Message("user", "My name is Ada."),
        Message("assistant", "Hello Ada."),
        Message("user", "Question: What is my name?"),
    ]
    assert len(memory) == 2 and memory.recent[-1].answer == "Your name is Ada."


def test_tools_can_depend_on_the_principal() -> None:
    seen: list[Principal | None] = []

    def tools_for(principal: Principal | None) -> ToolRegistry:
        seen.append(principal)
        return ToolRegistry.of([calculator()])

    llm = ScriptedLLM([final("Nothing to compute.")])
    who = Principal("u1", tenant="acme")
    AgentAnswerer(llm, tools_for, AgentSettings()).answer("hi", principal=who)
    assert seen == [who]


def test_empty_question_is_a_clear_error() -> None:
    bot, _ = agent([final("x")], [])
    with pytest.raises(ExpertlyError, match="question is empty"):
        bot.answer("   ")


def test_old_observations_are_shortened_to_fit_the_context_window() -> None:
    long_text = " ".join(["word"] * 400)
    tool = FakeTool("search_docs", lambda query: ToolResult(f"{query}: {long_text}"), ("query",))
    llm = ScriptedLLM(
        [call("search_docs", query="a"), call("search_docs", query="b"), final("done")],
        context_window=900,
    )
    settings = AgentSettings(supervise=False)
    answer = AgentAnswerer(llm, ToolRegistry.of([tool]), settings, step_tokens=100).answer("q?")
    assert answer.text == "done"
    last = llm.calls[-1]
    assert any(m.content.startswith("[observation omitted") for m in last)
    assert llm.count_tokens(last) <= 900 - 100


def test_with_the_real_search_and_calculator_tools_the_answer_cites_the_document(
    tmp_path: Path,
) -> None:
    from expertly.agents.tools.factory import build_tools
    from tests.unit.helpers import fake_workspace, write_corpus

    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    settings = AgentSettings(tools=["search_docs", "calculator"])

    def reply(messages: Sequence[Message]) -> str:
        last = messages[-2].content
        if last.startswith("Question:"):
            return call("search_docs", query="humidity sensor price")
        if "Observation from search_docs" in last:
            return call("calculator", expression="3*149")
        return final("Three humidity sensors cost 447 EUR: 149 EUR each [1].")

    who = Principal("u1")
    tools = lambda principal: build_tools(settings, retriever=ws.retriever, principal=principal)  # noqa: E731
    bot = AgentAnswerer(ScriptedLLM(reply), tools, settings)
    answer = bot.answer("What do three humidity sensors cost?", principal=who)
    assert answer.text.startswith("Three humidity sensors cost 447 EUR") and not answer.incomplete
    assert [c.doc_id for c in answer.citations] == ["prices.csv"]
    assert "HX-100" in answer.citations[0].quote
    assert answer.trace[1].detail["observation"].splitlines()[1] == "447"
    ws.close()


def test_no_plan_is_asked_for_when_the_token_budget_cannot_hold_one() -> None:
    bot, llm = agent([final("No tool needed.")], [calculator()], plan=True, max_tokens=7)
    answer = bot.answer("Hello?")
    assert answer.trace[0].detail["error"] == "no plan: 7 tokens left in agent.max_tokens"
    assert "Your plan" not in llm.calls[0][0].content
    assert answer.text == "No tool needed."


def test_a_conversation_that_cannot_fit_the_window_stops_with_a_context_reason() -> None:
    llm = ScriptedLLM([final("never asked")], context_window=150)
    answer = AgentAnswerer(llm, ToolRegistry.of([calculator()]), AgentSettings()).answer("q?")
    assert llm.calls == []
    assert answer.incomplete and answer.reason.startswith("context: the conversation no longer")
    assert kinds(answer) == ["action", "summary"]
    assert answer.trace[0].detail["error"] == answer.reason


def test_a_tool_call_past_the_time_left_is_stopped_and_ends_the_loop() -> None:
    release = threading.Event()

    def stuck(expression: str) -> ToolResult:
        release.wait(30)  # a tool that cannot stop itself
        return ToolResult("too late")

    slow = FakeTool("calculator", stuck)
    bot, llm = agent([call("calculator", expression="1+1"), final("2")], [slow], timeout_s=0.5)
    started = time.monotonic()
    try:
        answer = bot.answer("What is 1 + 1?")
    finally:
        release.set()
    assert time.monotonic() - started < 1.5
    assert len(llm.calls) == 1  # no further step, and no "answer now" without observations
    step = answer.trace[0].detail
    assert step["kind"] == "action" and not step["ok"]
    assert "still running when the agent's time ran out" in step["error"]
    assert answer.incomplete and answer.reason.startswith("timeout_s:")
    assert kinds(answer)[-1] == "summary"


def test_a_tool_bug_in_a_timed_call_is_raised_not_swallowed() -> None:
    def broken(expression: str) -> ToolResult:
        raise KeyError("a bug in the tool")

    bot, _ = agent([call("calculator", expression="1+1")], [FakeTool("calculator", broken)])
    with pytest.raises(KeyError, match="a bug in the tool"):
        bot.answer("What is 1 + 1?")


def test_a_registry_call_with_no_time_left_runs_nothing() -> None:
    calc = calculator()
    result = ToolRegistry.of([calc]).call("calculator", {"expression": "17*23"}, timeout_s=0.0)
    assert result.timed_out and not result.ok and "was not run" in result.output
    assert calc.calls == []
    result = ToolRegistry.of([calc]).call("calculator", {"expression": "17*23"}, timeout_s=5.0)
    assert result.ok and result.output == "391" and not result.timed_out
