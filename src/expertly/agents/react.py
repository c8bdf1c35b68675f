"""The agent route: a ReAct loop (thought → tool call → observation) until a final answer.

``AgentAnswerer`` answers like every other route (``answer(question) -> Answer``, route
"agent"). Each question gets a ``_Run``: optionally a plan first (``agent.plan``), then steps
until the model gives an answer the supervisor accepts (``agent.supervise``) or a budget
(steps, tokens, time, cost) runs out. Then the agent makes one last "answer now from the
observations" call if the budget still allows it, else it summarises what the tools
returned; either way the Answer is ``incomplete`` and ``reason`` names the budget. It never
hangs and never raises for the model's mistakes: an unreadable reply, an unknown tool, bad
arguments, a repeated call or an unsupported answer are observations the model sees next.

Only tools in the registry can run. Sources found by ``search_docs`` are numbered across
the run, so the final answer's ``[n]`` markers map to Citations like the RAG route's.
With an OpenAI-compatible endpoint and ``agent.native_tools`` the endpoint's own tool
calling is used instead of JSON in the text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertly.agents import prompts as P
from expertly.agents.budget import Budget, complete
from expertly.agents.conversation import Conversation, bind_input, native_action
from expertly.agents.guided import guided_reply
from expertly.agents.memory import ConversationMemory, first_sentence
from expertly.agents.parsing import Action, FinalAnswer, ParseError, ToolCall, parse_reply
from expertly.agents.planner import make_plan
from expertly.agents.steps import AgentStep, Sources
from expertly.agents.supervisor import Supervisor, Verdict
from expertly.agents.tools.base import ToolRegistry
from expertly.answer.citations import resolve
from expertly.config import AgentSettings
from expertly.errors import ExpertlyError
from expertly.types import Answer, Citation, Completion, Message, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM

STEP_TOKENS = 192  # most new tokens of one step's reply (a tool call or an answer)
ANSWER_NOW_TOKENS = 160
PLAN_TOKENS = 96
MIN_CALL_TOKENS = 8  # a call with less room than this cannot say anything useful
STOP = ("}\n", "\nObservation")  # one JSON object per reply; the parser closes the brace
ABSTAIN_TEXT = "I could not find support for an answer in what the tools returned."

ToolsFor = ToolRegistry | Callable[[Principal | None], ToolRegistry]


@dataclass
class _Outcome:
    text: str
    abstained: bool = False
    incomplete: bool = False
    reason: str = ""


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
        endpoint = callable(getattr(llm, "generate_with_tools", None))
        self.native = settings.native_tools and endpoint
        self.prefill = getattr(llm, "supports_prefill", False) and not self.native
        self.guided = guided and self.prefill
        # An endpoint model can judge answers; the small local model cannot.
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
        self.budget = Budget.from_settings(agent.settings, agent.clock)
        self.steps: list[AgentStep] = []
        self.prompts: list[tuple[Message, ...]] = []
        self.sources = Sources()
        self.observations: list[str] = []  # successful tool outputs: what answers may use
        self.results: list[tuple[str, str]] = []  # (tool, short text) for the summary
        self.seen: dict[str, tuple[int, str]] = {}
        self.chat = Conversation([], native=agent.native)
        self.retried = False
        self.stop = ""  # set when a step finds the loop cannot go on (context full, time)
        self.seconds = {"llm": 0.0, "tools": 0.0}

    # -- the loop -----------------------------------------------------------------------

    def execute(self) -> Answer:
        started = time.perf_counter()
        plan = self._plan() if self.a.settings.plan else ""
        mode = "native" if self.a.native else "guided" if self.a.guided else "text"
        system = P.loop_system(self.registry, mode=mode, plan=plan)
        memory = self.a.memory.messages() if self.a.memory is not None else []
        question = Message("user", f"Question: {self.question}")
        self.chat = Conversation(
            [Message("system", system), *memory, question], native=self.a.native
        )
        outcome: _Outcome | None = None
        while outcome is None:
            reason = self.stop or self.budget.exhausted(
                next_prompt_tokens=self._next_prompt_tokens()
            )
            outcome = self._out_of_budget(reason) if reason else self._step()
        return self._answer(outcome, time.perf_counter() - started)

    def _step(self) -> _Outcome | None:
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
        if self.a.native:
            return self._think_native(step, max_new)
        if self.a.guided:
            return self._think_guided(step)
        opening = P.PREFILL if self.a.prefill else ""
        messages = self.chat.messages()
        if opening:
            messages.append(Message("assistant", opening))
        completion = self._complete(step, messages, max_new)
        step.raw = opening + completion.text
        return parse_reply(completion.text, prefill=opening)

    def _think_guided(self, step: AgentStep, answer_only: bool = False) -> Action:
        started = time.perf_counter()
        messages = self.chat.messages()
        reply = guided_reply(
            self.llm, messages, self.registry, self.budget, clock=self.a.clock,
            answer_only=answer_only,
        )  # fmt: skip
        self.seconds["llm"] += time.perf_counter() - started
        self.prompts.append(tuple(messages))
        step.prompt, step.raw = len(self.prompts) - 1, reply.text
        step.prompt_tokens = sum(c.prompt_tokens for c in reply.calls)
        step.completion_tokens = sum(c.completion_tokens for c in reply.calls)
        step.finish_reason = "timeout" if reply.timed_out else "guided"
        step.extra["guided_calls"] = len(reply.calls)
        return parse_reply(reply.text)

    def _think_native(self, step: AgentStep, max_new: int) -> Action | None:
        from expertly.generate.openai_compat import LLMTimeoutError

        started = time.perf_counter()
        try:
            reply = self.llm.generate_with_tools(  # type: ignore[attr-defined]
                self.chat.wire,
                self.registry.openai_schema(),
                max_tokens=max_new,
                timeout_s=self.budget.seconds_left(),
            )
        except LLMTimeoutError:
            reason = self.budget.exhausted(steps=False)
            if not reason.startswith("timeout_s"):
                raise  # the server's own limit (llm.timeout_s), not the agent's budget
            step.fail(reason)
            return None
        self._record(step, self.chat.messages(), reply.completion, started)
        self.chat.replied(reply.message, [c.id for c in reply.tool_calls])
        step.raw = json.dumps(reply.message, ensure_ascii=False)
        return native_action(reply)

    def _act(self, step: AgentStep, call: ToolCall) -> None:
        step.tool, step.thought = call.tool, call.thought
        step.arguments = bind_input(call.arguments, self.registry, call.tool)
        key = call.tool + json.dumps(step.arguments, sort_keys=True, default=repr)
        if key in self.seen:
            first, text = self.seen[key]
            step.fail(f"repeated call: the same as step {first}")
            observation = P.REPEATED.format(tool=call.tool, step=first, text=text)
        else:
            result = self.registry.call(call.tool, step.arguments)
            self.seconds["tools"] += result.seconds
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
            self.seen[key] = (step.number, text)
            observation = P.OBSERVATION.format(tool=call.tool, text=text)
        step.observation = observation
        self.chat.add(P.call_json(call.tool, step.arguments, call.thought), observation)

    def _final(self, step: AgentStep, action: FinalAnswer) -> _Outcome | None:
        step.kind, step.thought, step.answer = "answer", action.thought, action.text
        verdict = self._check(step, action.text)
        if verdict.supported:
            return _Outcome(action.text)
        problems = "; ".join(verdict.problems)
        step.fail(f"unsupported ({verdict.method}): {problems}")
        if not self.retried:
            self.retried, step.kind = True, "retry"
            feedback = P.UNSUPPORTED.format(problems=problems)
            self.chat.add(P.answer_json(action.text, action.thought), feedback)
            step.observation = feedback
            return None
        step.kind = "abstain"
        return _Outcome(ABSTAIN_TEXT, abstained=True, reason=f"supervisor: {problems}")

    def _check(self, step: AgentStep, text: str) -> Verdict:
        if not self.a.settings.supervise:
            return Verdict(True, method="off")
        verdict = self.a.supervisor.check(text, self.observations, self.question)
        if verdict.completion is not None:
            self.budget.charge(verdict.completion)
            step.extra["judge_tokens"] = verdict.completion.completion_tokens
        step.extra["supervisor"] = verdict.method
        return verdict

    # -- budgets --------------------------------------------------------------------------

    def _out_of_budget(self, reason: str) -> _Outcome:
        """The best supported answer once ``reason`` stops the loop (never raises)."""
        step = AgentStep(len(self.steps) + 1, kind="answer_now")
        started = time.perf_counter()
        try:
            tokens = self.budget.room(ANSWER_NOW_TOKENS)
            blocked = (
                ("no observations" if not self.observations else "")
                or ("the context window is full" if reason.startswith("context") else "")
                or self.budget.exhausted(steps=False, next_prompt_tokens=self._next_prompt_tokens())
                or ("too few tokens left" if tokens < MIN_CALL_TOKENS else "")
            )
            text = "" if blocked else self._answer_now(step, reason, tokens)
            if text:
                return _Outcome(text, incomplete=True, reason=reason)
            step.kind = "summary"
            if blocked:
                step.extra["why"] = blocked
            return _Outcome(P.summary(reason, self.results), incomplete=True, reason=reason)
        finally:
            step.seconds = time.perf_counter() - started
            self.steps.append(step)

    def _answer_now(self, step: AgentStep, reason: str, tokens: int) -> str:
        """One last call asking for an answer from the observations ('' if unusable)."""
        ask = Message("user", P.ANSWER_NOW.format(reason=reason.split(":")[0]))
        messages = [*self.chat.messages(), ask]
        action: Action
        if self.a.guided:
            self.chat.wire.append(ask)
            action = self._think_guided(step, answer_only=True)
            self.chat.wire.pop()
        elif self.a.native:
            started = time.perf_counter()
            # The tools are offered again (APIs may reject tool results without them); a
            # reply that calls one instead of answering is not an answer.
            reply = self.llm.generate_with_tools(  # type: ignore[attr-defined]
                [*self.chat.wire, ask],
                self.registry.openai_schema(),
                max_tokens=tokens,
                timeout_s=self.budget.seconds_left(),
            )
            self._record(step, messages, reply.completion, started)
            step.raw = reply.completion.text
            action = FinalAnswer("" if reply.tool_calls else reply.completion.text.strip())
        else:
            opening = P.ANSWER_PREFILL if self.a.prefill else ""
            if opening:
                messages.append(Message("assistant", opening))
            completion = self._complete(step, messages, tokens)
            step.raw = opening + completion.text
            action = parse_reply(completion.text, prefill=opening)
        if not isinstance(action, FinalAnswer) or not action.text:
            step.fail("the reply to 'answer now' was not an answer")
            return ""
        step.answer = action.text
        verdict = self._check(step, action.text)
        if not verdict.supported:
            step.fail(f"unsupported ({verdict.method}): {'; '.join(verdict.problems)}")
            return ""
        return action.text

    def _next_prompt_tokens(self) -> int:
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
            self._record(step, list(plan.messages), plan.completion, started)
            step.raw, step.extra["plan"] = plan.raw, list(plan.steps)
            if not plan.steps:
                step.fail("the plan reply had no steps")
            return plan.text
        finally:
            step.seconds = time.perf_counter() - started
            self.steps.append(step)

    def _complete(self, step: AgentStep, messages: list[Message], max_new: int) -> Completion:
        started = time.perf_counter()
        completion = complete(
            self.llm,
            messages,
            max_tokens=max_new,
            stop=STOP,
            deadline_s=self.budget.seconds_left(),
            clock=self.a.clock,
        )
        self._record(step, messages, completion, started)
        return completion

    def _record(
        self, step: AgentStep, messages: list[Message], completion: Completion, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        self.budget.charge(completion, seconds)
        self.seconds["llm"] += seconds
        self.prompts.append(tuple(messages))
        step.prompt = len(self.prompts) - 1
        step.prompt_tokens = completion.prompt_tokens
        step.completion_tokens = completion.completion_tokens
        step.finish_reason = completion.finish_reason

    def _answer(self, outcome: _Outcome, seconds: float) -> Answer:
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
            prompts=tuple(self.prompts),
            trace=tuple(trace),
            timings={**self.seconds, "total": seconds},
            usage=self.budget.usage(),
            abstained=outcome.abstained,
            route="agent",
            model=self.llm.name,
            incomplete=outcome.incomplete,
            reason=outcome.reason,
        )
