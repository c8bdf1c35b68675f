"""The agent route: a ReAct loop (thought → tool call → observation) until a final answer.

``AgentAnswerer`` answers like every other route (``answer(question) -> Answer``, route
"agent"). Each question gets a ``_Run``: optionally a plan first (``agent.plan``), then steps
until the model gives an answer the supervisor accepts (``agent.supervise``) or a budget
(steps, tokens, time, cost) runs out; then ``budget_exit.out_of_budget`` gives the best
supported answer it can, marked ``incomplete`` with the budget as ``reason``. It never hangs
and never raises for the model's mistakes: an unreadable reply, an unknown tool, bad
arguments, a repeated call or an unsupported answer are observations the model sees next.
Tool calls run under the time the budget has left: one that outlives it is stopped (or, if it
cannot be, abandoned), recorded as the step's error, and ends the loop.

How replies are obtained (text, prefilled text, guided, or the endpoint's native tool
calling with ``agent.native_tools``) is one strategy from ``replies.py``, chosen once when
the agent is built. Only tools in the registry can run. Sources found by ``search_docs`` are
numbered across the run, so the final answer's ``[n]`` markers map to Citations like the RAG
route's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from expertly.agents import prompts as P
from expertly.agents.budget import Budget
from expertly.agents.budget_exit import MIN_CALL_TOKENS, Outcome, out_of_budget
from expertly.agents.conversation import Conversation, bind_input
from expertly.agents.memory import ConversationMemory, first_sentence
from expertly.agents.parsing import Action, FinalAnswer, ParseError, ToolCall
from expertly.agents.planner import make_plan
from expertly.agents.replies import ModelCalls, NativeReplies, choose_replies, prefills
from expertly.agents.steps import AgentStep, Sources
from expertly.agents.supervisor import Supervisor, Verdict
from expertly.agents.tools.base import ToolRegistry
from expertly.answer.citations import resolve
from expertly.config import AgentSettings
from expertly.errors import ExpertlyError
from expertly.generate import ToolCalling
from expertly.types import Answer, Citation, Message, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM

STEP_TOKENS = 192  # most new tokens of one step's reply (a tool call or an answer)
PLAN_TOKENS = 96
ABSTAIN_TEXT = "I could not find support for an answer in what the tools returned."

ToolsFor = ToolRegistry | Callable[[Principal | None], ToolRegistry]


class AgentAnswerer:
    """Answers by calling tools in a loop; see the module docstring.

    ``tools`` is a registry, or a function giving the registry for a principal (so that
    search sees only what the caller may read). ``memory`` makes it conversational: earlier
    turns are put before each question and each answer is remembered. ``guided`` builds
    each reply field by field (see ``guided.py``): for small local models that cannot
    follow the reply format on their own; it needs a model that accepts a prefill.
    """

    route = "agent"

    def __init__(
        self,
        llm: LLM,
        tools: ToolsFor,
        settings: AgentSettings,
        *,
        memory: ConversationMemory | None = None,
        supervisor: Supervisor | None = None,
        attribute: bool = True,
        guided: bool = False,
        step_tokens: int = STEP_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.llm = llm
        self.tools = tools
        self.settings = settings
        self.memory = memory
        self.replies = choose_replies(llm, native_tools=settings.native_tools, guided=guided)
        self.native = isinstance(self.replies, NativeReplies)
        self.prefill = prefills(llm) and not self.native
        # An endpoint model can judge answers; the small local model cannot.
        endpoint = isinstance(llm, ToolCalling)
        self.supervisor = supervisor or Supervisor(judge=llm if endpoint else None)
        self.attribute = attribute
        self.step_tokens = step_tokens
        self.clock = clock

    def answer(self, question: str, *, principal: Principal | None = None) -> Answer:
        """Answer ``question`` with the tools ``principal`` may use."""
        question = question.strip()
        if not question:
            raise ExpertlyError("The question is empty: ask something the tools can answer.")
        registry = self.tools if isinstance(self.tools, ToolRegistry) else self.tools(principal)
        answer = _Run(self, question, registry).execute()
        if self.memory is not None:
            self.memory.add(question, answer.text)
        return answer


class _Run:
    """The state of one question: messages, steps, sources, observations, budget."""

    def __init__(self, agent: AgentAnswerer, question: str, registry: ToolRegistry) -> None:
        self.a = agent
        self.llm = agent.llm
        self.question = question
        self.registry = registry
        self.replies = agent.replies
        self.budget = Budget.from_settings(agent.settings, agent.clock)
        self.calls = ModelCalls(agent.llm, self.budget, agent.clock)
        self.steps: list[AgentStep] = []
        self.sources = Sources()
        self.observations: list[str] = []  # successful tool outputs: what answers may use
        self.results: list[tuple[str, str]] = []  # (tool, short text) for the summary
        self.seen: dict[str, tuple[int, str]] = {}
        self.chat = Conversation([], native=agent.native)
        self.retried = False
        self.stop = ""  # set when a step finds the loop cannot go on (context full, time)
        self.tool_seconds = 0.0

    # -- the loop -----------------------------------------------------------------------

    def execute(self) -> Answer:
        started = time.perf_counter()
        plan = self._plan() if self.a.settings.plan else ""
        system = P.loop_system(self.registry, mode=self.replies.mode, plan=plan)
        memory = self.a.memory.messages() if self.a.memory is not None else []
        question = Message("user", f"Question: {self.question}")
        self.chat = Conversation(
            [Message("system", system), *memory, question], native=self.a.native
        )
        outcome: Outcome | None = None
        while outcome is None:
            reason = self.stop or self.budget.exhausted(
                next_prompt_tokens=self.next_prompt_tokens()
            )
            outcome = out_of_budget(self, reason) if reason else self._step()
        return self._answer(outcome, time.perf_counter() - started)

    def _step(self) -> Outcome | None:
        step = AgentStep(len(self.steps) + 1)
        self.budget.steps += 1
        started = time.perf_counter()
        try:
            action = self._think(step)
            if action is None:  # recorded first, then the loop stops for this reason
                self.stop = step.error
                return None
            if isinstance(action, ParseError):
                step.fail(action.message)
                self.chat.add(step.raw or "(empty reply)", action.message)
                step.observation = action.message
                return None
            if isinstance(action, FinalAnswer):
                return self._final(step, action)
            self._act(step, action)
            return None
        finally:
            step.seconds = time.perf_counter() - started
            self.steps.append(step)

    def _think(self, step: AgentStep) -> Action | None:
        """One model call; the action it asks for (None: the context window is full or the
        time ran out during the call; ``step.error`` says which)."""
        max_new = self.budget.room(self.a.step_tokens)
        if not self.chat.fit(self.llm, max_new):
            step.fail("context: the conversation no longer fits the model's context window")
            return None
        step.thought = ""
        return self.replies.think(self.calls, self.chat, self.registry, step, max_new)

    def _act(self, step: AgentStep, call: ToolCall) -> None:
        step.tool, step.thought = call.tool, call.thought
        step.arguments = bind_input(call.arguments, self.registry, call.tool)
        key = call.tool + json.dumps(step.arguments, sort_keys=True, default=repr)
        if key in self.seen:
            first, text = self.seen[key]
            step.fail(f"repeated call: the same as step {first}")
            observation = P.REPEATED.format(tool=call.tool, step=first, text=text)
        else:
            result = self.registry.call(
                call.tool, step.arguments, timeout_s=self.budget.seconds_left()
            )
            self.tool_seconds += result.seconds
            step.extra["tool_seconds"] = round(result.seconds, 4)
            if result.hits:
                numbered = self.sources.number(result.hits)
                text = P.format_sources(numbered)
                step.extra["sources"] = [n for n, _ in numbered]
                short = "\n".join(f"[{n}] {first_sentence(h.chunk.text, 200)}" for n, h in numbered)
            else:
                text, short = result.output, first_sentence(result.output, 300)
            text, step.extra["cut"] = P.cut(text, self.a.settings.output_chars)
            if result.ok:
                self.observations.append(text)
                self.results.append((call.tool, short))
            else:
                step.fail(first_sentence(result.output, 300))
            if result.timed_out:  # the loop ends with the time budget's reason
                self.stop = self.budget.exhausted(steps=False) or (
                    f"timeout_s: a call to {call.tool} outlived the time left "
                    f"(agent.timeout_s = {self.budget.timeout_s:g})"
                )
            self.seen[key] = (step.number, text)
            observation = P.OBSERVATION.format(tool=call.tool, text=text)
        step.observation = observation
        self.chat.add(P.call_json(call.tool, step.arguments, call.thought), observation)

    def _final(self, step: AgentStep, action: FinalAnswer) -> Outcome | None:
        step.kind, step.thought, step.answer = "answer", action.thought, action.text
        verdict = self.check(step, action.text)
        if verdict.supported:
            return Outcome(action.text)
        problems = "; ".join(verdict.problems)
        step.fail(f"unsupported ({verdict.method}): {problems}")
        if not self.retried:
            self.retried, step.kind = True, "retry"
            feedback = P.UNSUPPORTED.format(problems=problems)
            self.chat.add(P.answer_json(action.text, action.thought), feedback)
            step.observation = feedback
            return None
        step.kind = "abstain"
        return Outcome(ABSTAIN_TEXT, abstained=True, reason=f"supervisor: {problems}")

    def check(self, step: AgentStep, text: str) -> Verdict:
        """The supervisor's verdict on an answer; a judge call is charged to the budget."""
        if not self.a.settings.supervise:
            return Verdict(True, method="off")
        verdict = self.a.supervisor.check(text, self.observations, self.question)
        if verdict.completion is not None:
            self.budget.charge(verdict.completion)
            step.extra["judge_tokens"] = verdict.completion.completion_tokens
        step.extra["supervisor"] = verdict.method
        return verdict

    def next_prompt_tokens(self) -> int:
        """The next prompt's tokens when a cost limit needs them (0 otherwise)."""
        if self.a.settings.max_cost <= 0:
            return 0
        return self.llm.count_tokens(self.chat.messages())

    # -- plumbing -------------------------------------------------------------------------

    def _plan(self) -> str:
        step = AgentStep(0, kind="plan")
        started = time.perf_counter()
        try:
            tokens = self.budget.room(PLAN_TOKENS)
            if tokens < MIN_CALL_TOKENS:
                step.fail(f"no plan: {tokens} tokens left in agent.max_tokens")
                return ""
            plan = make_plan(
                self.llm,
                self.question,
                self.registry.describe(),
                max_tokens=tokens,
                deadline_s=self.budget.seconds_left(),
                prefill=self.a.prefill,
                clock=self.a.clock,
            )
            self.calls.record(step, list(plan.messages), plan.completion, started)
            step.raw, step.extra["plan"] = plan.raw, list(plan.steps)
            if not plan.steps:
                step.fail("the plan reply had no steps")
            return plan.text
        finally:
            step.seconds = time.perf_counter() - started
            self.steps.append(step)

    def _answer(self, outcome: Outcome, seconds: float) -> Answer:
        text, citations = outcome.text, list[Citation]()
        trace = [s.trace() for s in self.steps]
        if not outcome.abstained and self.sources.hits:
            text, citations, invalid = resolve(text, self.sources.hits, attribute=self.a.attribute)
            if invalid:
                trace.append(TraceStep("agent.citations", {"invalid_numbers": invalid}))
        trace.append(self.budget.trace(outcome.reason, seconds))
        return Answer(
            question=self.question,
            text=text,
            citations=tuple(citations),
            hits=tuple(self.sources.hits),
            prompts=tuple(self.calls.prompts),
            trace=tuple(trace),
            timings={"llm": self.calls.seconds, "tools": self.tool_seconds, "total": seconds},
            usage=self.budget.usage(),
            abstained=outcome.abstained,
            route="agent",
            model=self.llm.name,
            incomplete=outcome.incomplete,
            reason=outcome.reason,
        )
