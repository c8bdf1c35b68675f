"""``expertly search``, ``ask`` and ``chat``: finding passages and answering with citations."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel

from expertly.cli.common import (
    console,
    err_console,
    handle_errors,
    ms,
    principal,
    print_json,
    workspace,
)
from expertly.errors import ExpertlyError
from expertly.types import Answer, Hit

K_HELP = "How many passages to retrieve (default: retrieval.k)."
TENANT_HELP = "Search as this tenant: only its documents and public ones."
GROUP_HELP = "Search as a member of this group; repeat for several."


def _hit_dict(rank: int, hit: Hit) -> dict[str, Any]:
    c = hit.chunk
    return {
        "rank": rank,
        "score": hit.score,
        "scores": dict(hit.scores),
        "ranks": dict(hit.ranks),
        "doc_id": c.doc_id,
        "chunk_id": c.id,
        "source": hit.source,
        "title": hit.title,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "start": c.start,
        "end": c.end,
        "text": c.text,
    }


@handle_errors
def search(
    question: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int | None, typer.Option("-k", help=K_HELP)] = None,
    mode: Annotated[
        str | None, typer.Option(help="hybrid | dense | sparse (default: retrieval.mode).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help=TENANT_HELP)] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", metavar="GROUP", help=GROUP_HELP)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Show the ranked passages retrieval finds, with scores, source and location.

    No language model is loaded: this is what `ask` would put in its prompt.

    \b
    Example:
      expertly search "parental leave" -k 3
    """
    from expertly.types import Filters

    ws = workspace()
    mode_value = mode or ws.settings.retrieval.mode
    filters = Filters.for_principal(principal(tenant, group))
    try:
        searcher = ws.searcher(mode=mode_value)
    except ValueError as exc:  # an unknown --mode
        raise typer.BadParameter(str(exc), param_hint="--mode") from None
    with err_console.status("Loading the embedder..."):
        ws.warmup()
    result = searcher.search(question, k=k, filters=filters)
    hits, timings, queries = list(result.hits), dict(result.timings), tuple(result.queries)
    ws.close()
    if as_json:
        print_json(
            {
                "question": question,
                "mode": mode_value,
                "queries": list(queries),
                "timings": timings,
                "hits": [_hit_dict(i, h) for i, h in enumerate(hits, 1)],
            }
        )
        return
    for query in queries:
        console.print(f"[dim]also searched: {escape(query)}[/]")
    if not hits:
        console.print("No passage matches. Is anything ingested? See: expertly status")
        return
    for i, hit in enumerate(hits, 1):
        details = " ".join(f"{m}={v:.3f}" for m, v in hit.scores.items() if m != "fused")
        where = hit.chunk.location
        console.print(
            f"[bold]{i}.[/] [cyan]{escape(hit.chunk.doc_id)}[/] ({escape(where)})  "
            f"score {hit.score:.4f}  [dim]{details}[/]"
        )
        snippet = " ".join(hit.chunk.text.split())
        console.print(f"   {escape(snippet[:300])}{'...' if len(snippet) > 300 else ''}")
    console.print(
        f"[dim]{len(hits)} hits in {ms(sum(timings.values()))} "
        f"({', '.join(f'{k} {ms(v)}' for k, v in timings.items())})[/]"
    )


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
        "hits": [_hit_dict(i, h) for i, h in enumerate(answer.hits, 1)],
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
        where = [c.doc_id]
        if c.page is not None:
            where.append(f"p. {c.page}")
        if c.heading_path:
            where.append(" > ".join(c.heading_path))
        where.append(f"chars {c.start}-{c.end}")
        tag = "" if c.method == "cited" else " [dim](attributed)[/]"
        console.print(f"  [bold][{c.number}][/] {escape(', '.join(where))}{tag}")
        if c.quote:
            console.print(f'      [italic]"{escape(c.quote[:200])}"[/]')
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


def load_answerer(
    ws: Any,
    mode: str = "rag",
    *,
    model: str | None = None,
    k: int | None = None,
    cache: bool = True,
    conversational: bool = False,
) -> tuple[Any, float]:
    """The answerer for ``mode`` with its models loaded and warmed up (the first generation
    of a process is several times slower), so that the timings it reports are the real ones."""
    started = time.perf_counter()
    needs_index = mode not in ("base", "finetuned")
    if needs_index and (not ws.index_path.exists() or not int(ws.stats().get("documents", 0))):
        raise ExpertlyError(
            f"Nothing is indexed in {ws.root} yet: run `expertly ingest <folder>` first "
            "(or choose another workspace with --workspace, or use --mode base)."
        )
    answerer = ws.answerer(mode, model=model, conversational=conversational, k=k, cache=cache)
    ws.warmup()
    return answerer, time.perf_counter() - started


MODE_HELP = (
    "rag (documents + base model, cited) | base (model alone) | finetuned (fine-tuned model "
    "alone) | hybrid (fine-tuned model over the documents) | agent (tools, several steps) | "
    "auto (the router picks per question and says why)."
)
MODEL_HELP = "Fine-tuned model for finetuned/hybrid/auto (see `expertly models`; default newest)."
NO_CACHE_HELP = "Answer afresh even when the same question was answered over the same index."


@handle_errors
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    k: Annotated[int | None, typer.Option("-k", help=K_HELP)] = None,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print the exact prompt sent to the model.")
    ] = False,
    tenant: Annotated[str | None, typer.Option(help=TENANT_HELP)] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", metavar="GROUP", help=GROUP_HELP)
    ] = None,
    mode: Annotated[str, typer.Option("--mode", "-m", help=MODE_HELP)] = "rag",
    model: Annotated[str | None, typer.Option("--model", help=MODEL_HELP)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help=NO_CACHE_HELP)] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the whole Answer (citations, prompts, trace, timings) as JSON."
        ),
    ] = False,
) -> None:
    """Answer a question from the ingested documents, citing its sources as [1], [2].

    When the documents hold nothing relevant it says so instead of guessing. --mode picks
    the route; every answer says which route answered, and with --mode auto why.

    \b
    Examples:
      expertly ask "How many days of parental leave do we get?" --show-prompt
      expertly ask "What is 17% of 2,340 EUR?" --mode agent
      expertly ask "Draft a reply to the customer" --mode auto --json
    """
    ws = workspace()
    with err_console.status("Loading models..."):
        answerer, load_s = load_answerer(ws, mode, model=model, k=k, cache=not no_cache)
    with err_console.status("Thinking..."):
        answer = answerer.answer(question, principal=principal(tenant, group))
    ws.close()
    if as_json:
        print_json({**answer_dict(answer), "load_seconds": round(load_s, 3)})
    else:
        print_answer(answer, show_prompt=show_prompt)
        console.print(f"[dim]models loaded and warmed up in {ms(load_s)} (not counted above)[/]")


@handle_errors
def chat(
    k: Annotated[int | None, typer.Option("-k", help=K_HELP)] = None,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print each prompt sent to the model.")
    ] = False,
    mode: Annotated[str, typer.Option("--mode", "-m", help=MODE_HELP)] = "rag",
    model: Annotated[str | None, typer.Option("--model", help=MODEL_HELP)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help=NO_CACHE_HELP)] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON answer per line (for scripts).")
    ] = False,
) -> None:
    """Ask questions one after another (models stay loaded). Empty line or Ctrl-D quits.

    With --mode rag (default) each question is answered on its own from the documents, with
    citations; with --mode agent the agent remembers the conversation (the last
    agent.memory_turns turns word for word, older ones summarised).
    """
    ws = workspace()
    with err_console.status("Loading models..."):
        answerer, _ = load_answerer(
            ws, mode, model=model, k=k, cache=not no_cache, conversational=True
        )
    interactive = sys.stdin.isatty()
    while True:
        try:
            question = console.input("[bold cyan]you> [/]") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not question or not question.strip():
            break
        if not interactive and not as_json:
            console.print(f"\n[bold cyan]Q:[/] {escape(question.strip())}")
        answer = answerer.answer(question.strip())
        if as_json:
            print_json(answer_dict(answer), one_line=True)
        else:
            print_answer(answer, show_prompt=show_prompt)
    ws.close()


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(ask)
    app.command()(chat)
