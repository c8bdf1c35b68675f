"""``expertly advise``: the user's constraints, plus the latest compare when there is one,
turned into a recommended route with its reasons.

The rules are a table (``RULES`` for the answers, ``evidence_rules`` for measured figures):
each rule has a condition, points it gives or takes per route, optional settings, and a
reason that quotes the answer or the figure it rests on. The route with the most points wins
(ties broken by ``ROUTE_ORDER``, simplest first); a route a rule *excludes* cannot win. What
was not answered, or not measured, is listed as the evidence that could change the advice.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError

ROUTE_ORDER = ("rag", "base", "hybrid", "finetuned", "agent")
CHANGES = ("never", "yearly", "monthly", "weekly", "daily")
COMPUTE = ("cpu", "gpu", "served")
TASKS = ("knowledge", "style", "multi-step")


class AdviseError(ExpertlyError):
    """An answer to ``advise`` is invalid; the message names it and the valid values."""


@dataclass(frozen=True)
class Needs:
    """The criteria practitioners weigh; None = not answered.

    Args:
        changes: how often the knowledge changes: never | yearly | monthly | weekly | daily.
        cite: answers must cite their sources (audit).
        latency_s: the latency budget per answer, seconds.
        compute: cpu | gpu | served (an endpoint such as vLLM or Ollama).
        train_minutes: the training budget in minutes.
        documents: how many documents exist.
        qa_pairs: how many question/answer pairs exist.
        task: knowledge | style | multi-step (what the model must get right).
        on_premises: data must stay on the organisation's machines.
    """

    changes: str | None = None
    cite: bool | None = None
    latency_s: float | None = None
    compute: str | None = None
    train_minutes: float | None = None
    documents: int | None = None
    qa_pairs: int | None = None
    task: str | None = None
    on_premises: bool | None = None

    def __post_init__(self) -> None:
        for name, valid in (("changes", CHANGES), ("compute", COMPUTE), ("task", TASKS)):
            value = getattr(self, name)
            if value is not None and value not in valid:
                raise AdviseError(f"{name} = {value!r}; valid: {', '.join(valid)}")
        for name in ("latency_s", "train_minutes", "documents", "qa_pairs"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise AdviseError(f"{name} = {value}; give a number >= 0")


@dataclass(frozen=True)
class Rule:
    """When ``when`` holds: add ``points`` per route, exclude ``exclude``, set ``settings``;
    ``reason`` is formatted with the Needs' fields (and, for evidence rules, the figures)."""

    name: str
    when: Callable[[Needs], bool]
    reason: str
    points: Mapping[str, int] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


def _volatile(n: Needs) -> bool:
    return n.changes in ("weekly", "daily")


def _stable(n: Needs) -> bool:
    return n.changes in ("never", "yearly")


RULES: tuple[Rule, ...] = (
    Rule(
        "volatile knowledge",
        _volatile,
        "the knowledge changes {changes}: retrieval answers from an edited document as soon "
        "as it is re-ingested (seconds); a fine-tuned model must be retrained (minutes to "
        "hours) and answers the stale fact until then",
        {"rag": 3, "hybrid": 1, "finetuned": -3},
    ),
    Rule(
        "audit",
        lambda n: n.cite is True,
        "answers must cite sources: only the routes that answer over retrieved passages "
        "(rag, hybrid, agent with document search) can cite them",
        {"rag": 2, "hybrid": 1, "agent": 1, "finetuned": -2, "base": -2},
    ),
    Rule(
        "fixed style, stable knowledge",
        lambda n: n.task == "style" and (_stable(n) or n.changes is None),
        "the task is a fixed output style and the knowledge changes {changes}: fine-tuning "
        "teaches a format that prompting a small model keeps breaking",
        {"finetuned": 3, "hybrid": 2},
    ),
    Rule(
        "style over volatile knowledge",
        lambda n: n.task == "style" and _volatile(n),
        "a fixed style over knowledge that changes {changes}: let a fine-tuned model write "
        "the style over retrieved passages (hybrid)",
        {"hybrid": 3},
    ),
    Rule(
        "multi-step",
        lambda n: n.task == "multi-step",
        "the questions need several steps or calculations over tables: an agent plans, "
        "calls the calculator/SQL tools and checks its work",
        {"agent": 4},
    ),
    Rule(
        "knowledge",
        lambda n: n.task == "knowledge",
        "the task is knowledge from the documents: retrieval grounds every answer in them",
        {"rag": 2},
    ),
    Rule(
        "no documents",
        lambda n: n.documents == 0,
        "there are no documents (documents = 0): nothing to retrieve from",
        exclude=("rag", "hybrid", "agent"),
    ),
    Rule(
        "no training data",
        lambda n: n.qa_pairs == 0 and (n.documents or 0) > 0,
        "there are no Q/A pairs: fine-tuning data would have to be synthesized from the "
        "documents first (expertly dataset build)",
        {"finetuned": -1, "hybrid": -1},
    ),
    Rule(
        "small budget, no GPU",
        lambda n: n.compute == "cpu" and n.train_minutes is not None and n.train_minutes < 60,
        "CPU only with {train_minutes:g} training minutes: LoRA on a small model, not full "
        "fine-tuning (which updates every weight and needs far more compute)",
        {"finetuned": -1},
        settings={"finetune.method": "lora"},
    ),
    Rule(
        "no training budget",
        lambda n: n.train_minutes == 0,
        "the training budget is 0 minutes: no fine-tuned route",
        exclude=("finetuned", "hybrid"),
    ),
    Rule(
        "GPU",
        lambda n: n.compute == "gpu" and (n.train_minutes or 0) >= 30,
        "one GPU and {train_minutes:g} training minutes: QLoRA keeps memory low on larger models",
        {"finetuned": 1, "hybrid": 1},
        settings={"finetune.method": "qlora"},
    ),
    Rule(
        "tight latency on CPU",
        lambda n: n.latency_s is not None and n.latency_s < 3 and n.compute == "cpu",
        "a {latency_s:g} s latency budget on CPU: an agent's several model calls rarely fit",
        {"agent": -3, "base": 1, "finetuned": 1},
    ),
    Rule(
        "on premises",
        lambda n: n.on_premises is True,
        "data must stay on premises: use the local model or a self-hosted endpoint, never a "
        "hosted API",
        settings={"llm.backend": "transformers (or a self-hosted openai-compatible endpoint)"},
    ),
)

QUESTIONS: dict[str, str] = {
    "changes": f"How often does the knowledge change? ({' | '.join(CHANGES)})",
    "cite": "Must answers cite their sources for audit? (yes/no)",
    "latency_s": "Latency budget per answer, in seconds?",
    "compute": f"Compute available? ({' | '.join(COMPUTE)})",
    "train_minutes": "Training budget, in minutes?",
    "documents": "How many documents are there?",
    "qa_pairs": "How many question/answer pairs exist?",
    "task": f"What must the model get right? ({' | '.join(TASKS)})",
    "on_premises": "Must data stay on premises? (yes/no)",
}


def needs_from_mapping(values: Mapping[str, Any], where: str = "answers") -> Needs:
    """A ``Needs`` from a mapping (a TOML answers file, flags); unknown keys are an error."""
    names = {f.name for f in fields(Needs)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise AdviseError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
        )
    try:
        return Needs(**{k: coerce(k, v) for k, v in values.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise AdviseError(f"{where}: {exc}") from None


def coerce(name: str, value: Any) -> Any:
    """A typed value for field ``name`` from TOML or a typed-in answer."""
    if isinstance(value, str):
        value = value.strip()
    if name in ("cite", "on_premises"):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("yes", "y", "true", "1"):
            return True
        if str(value).lower() in ("no", "n", "false", "0"):
            return False
        raise AdviseError(f"{name} = {value!r}; answer yes or no")
    if name in ("latency_s", "train_minutes"):
        return float(value)
    if name in ("documents", "qa_pairs"):
        return int(value)
    return value


def load_answers(path: Path) -> Needs:
    """The answers of a TOML file (top-level keys named as ``Needs``' fields)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AdviseError(f"{path}: cannot read the answers file ({exc})") from None
    return needs_from_mapping(data, str(path))


def evidence_rules(compare: Mapping[str, Any], needs: Needs) -> list[Rule]:
    """Rules from a compare's measured figures: the most accurate route gains points
    (more when its interval clears every other), and a route whose measured latency p50
    breaks the budget is excluded."""
    rules: list[Rule] = []
    measured = {r: f for r, f in compare.get("routes", {}).items() if f["metrics"].get("correct")}
    if measured:
        ranked = sorted(measured, key=lambda r: -measured[r]["metrics"]["correct"]["mean"])
        best = measured[ranked[0]]["metrics"]["correct"]
        rest_high = max(
            (measured[r]["metrics"]["correct"]["high"] for r in ranked[1:]), default=None
        )
        clear = rest_high is not None and best["low"] > rest_high
        target = ranked[0] if ranked[0] in ROUTE_ORDER else None
        if target:
            rules.append(
                Rule(
                    "measured accuracy",
                    lambda n: True,
                    f"measured: {target} is correct on {best['mean']:.0%} of "
                    f"{best['n']} questions (95% CI {best['low']:.0%}–{best['high']:.0%})"
                    + (
                        "; its interval clears every other route"
                        if clear
                        else "; the intervals overlap, so the lead is not certain"
                    ),
                    {target: 4 if clear else 1},
                )
            )
    if needs.latency_s is not None:
        for route, f in measured.items():
            p50 = f.get("latency_p50_s")
            if route in ROUTE_ORDER and p50 is not None and p50 > needs.latency_s:
                rules.append(
                    Rule(
                        f"latency {route}",
                        lambda n: True,
                        f"measured: {route} takes {p50:.1f} s at p50, over the "
                        f"{needs.latency_s:g} s budget",
                        exclude=(route,),
                    )
                )
    return rules


def advise(needs: Needs, compare: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recommendation: route, settings, reasons (each tied to an answer or a figure),
    per-route points, and what evidence would change it."""
    points = dict.fromkeys(ROUTE_ORDER, 0)
    excluded: dict[str, str] = {}
    reasons: list[dict[str, str]] = []
    settings: dict[str, Any] = {}
    values = asdict(needs)
    rules = [*RULES, *(evidence_rules(compare, needs) if compare else [])]
    for rule in rules:
        if not rule.when(needs):
            continue
        for route, delta in rule.points.items():
            points[route] += delta
        for route in rule.exclude:
            excluded.setdefault(route, rule.name)
        settings.update(rule.settings)
        reasons.append({"rule": rule.name, "reason": rule.reason.format(**values)})
    allowed = [r for r in ROUTE_ORDER if r not in excluded] or ["base"]
    route = max(allowed, key=lambda r: (points[r], -ROUTE_ORDER.index(r)))
    missing = [QUESTIONS[k] for k, v in values.items() if v is None]
    change = [f"an answer to: {q}" for q in missing]
    if not compare:
        change.append("measured figures: run `expertly compare QUESTIONS.jsonl` on your questions")
    return {
        "route": route,
        "settings": settings,
        "reasons": reasons,
        "points": points,
        "excluded": excluded,
        "would_change": change,
        "answers": values,
    }
