"""How the CLI shows what retrieval and the answerers return: hits and answers as JSON
(``--json``) and as text for people (citations, the agent's steps, timings)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.panel import Panel

from expertly.cli.common import console, ms
from expertly.server.wire import hit_dict
from expertly.types import Answer, Citation


def answer_dict(answer: Answer) -> dict[str, Any]:
    """The ``--json`` form of an Answer (also used by ``chat --json``)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "incomplete": answer.incomplete,
        "route": answer.route,
        "reason": answer.reason,
        "rewrites": list(answer.rewrites),
        "model": answer.model,
        "citations": answer.citations,
        "leads": answer.leads,
        "hits": [hit_dict(i, h) for i, h in enumerate(answer.hits, 1)],
        "prompts": [[{"role": m.role, "content": m.content} for m in p] for p in answer.prompts],
        "trace": answer.trace,
        "timings": answer.timings,
        "usage": answer.usage,
    }


def print_answer(answer: Answer, *, show_prompt: bool = False) -> None:
    """Human-readable answer: the text, the sources it cites, the timings."""
    if show_prompt:
        for prompt in answer.prompts:
            for m in prompt:
                console.print(
                    Panel(escape(m.content), title=m.role, title_align="left", style="dim")
                )
    style = "yellow" if answer.abstained or answer.incomplete else "green"
    title = f"Answer ({answer.route}{', incomplete' if answer.incomplete else ''})"
    console.print(Panel(escape(answer.text), title=title, title_align="left", border_style=style))
    if answer.reason:
        console.print(f"[dim]why: {escape(answer.reason)}[/]")
    for query in answer.rewrites:
        console.print(f"[dim]searched: {escape(query)}[/]")
    for step in answer.trace:
        if step.name.startswith("agent."):
            console.print(f"[dim]{escape(_agent_step_line(step.name, step.detail))}[/]")
    for c in answer.citations:
        _print_citation(c, "" if c.method == "cited" else " [dim](attributed)[/]")
    if answer.leads:
        console.print("[dim]Closest passages (they did not answer it; read on there):[/]")
        for c in answer.leads:
            _print_citation(c, "")
    t = answer.timings
    parts = [f"{k} {ms(v)}" for k, v in t.items() if k != "total"]
    usage = answer.usage
    tokens = ""
    if usage:
        prompt_t, answer_t = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        tokens = f" · {prompt_t} prompt + {answer_t} answer tokens"
    console.print(
        f"[dim]{ms(t.get('total', 0.0))} ({', '.join(parts)}){tokens} · {answer.model}[/]"
    )


def _print_citation(c: Citation, tag: str) -> None:
    """One cited source: where it is, then the sentence quoted."""
    where = [c.doc_id]
    if c.page is not None:
        where.append(f"p. {c.page}")
    if c.heading_path:
        where.append(" > ".join(c.heading_path))
    where.append(f"chars {c.start}-{c.end}")
    console.print(f"  [bold][{c.number}][/] {escape(', '.join(where))}{tag}")
    if c.quote:
        console.print(f'      [italic]"{escape(c.quote[:200])}"[/]')


def _agent_step_line(name: str, detail: Any) -> str:
    """One agent step as a line: what it called with which arguments, and what came back."""
    if "step" not in detail:  # the closing budget record, invalid citation numbers, ...
        facts = ", ".join(f"{k} {v}" for k, v in detail.items() if v not in ("", None))
        return f"  {name.removeprefix('agent.')}: {facts}"
    head = f"  step {detail['step']} {detail.get('kind', '')}"
    if detail.get("tool"):
        args = ", ".join(f"{k}={v!r}" for k, v in detail.get("arguments", {}).items())
        head += f": {detail['tool']}({args})"
    tail = detail.get("error") or detail.get("observation") or detail.get("answer") or ""
    tail = " ".join(str(tail).split())
    return f"{head} -> {tail[:110]}{'...' if len(tail) > 110 else ''}" if tail else head
