"""``expertly search``, ``ask`` and ``chat``: finding passages and answering with citations."""

from __future__ import annotations

import io
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from expertly.cli.answers import answer_dict, hit_dict, print_answer
from expertly.cli.common import (
    check_query,
    console,
    err_console,
    handle_errors,
    ms,
    principal,
    print_json,
    query_argument,
    renamed_option,
    workspace,
)
from expertly.errors import ExpertlyError

K_HELP = "How many passages to retrieve, 1 or more (default: retrieval.k)."
RETRIEVAL_MODES = ("hybrid", "dense", "sparse")
TENANT_HELP = "Search as this tenant: only its documents and public ones."
GROUP_HELP = "Search as a member of this group; repeat for several."

# Options shared by search, ask and chat: one definition each.
KOption = Annotated[int | None, typer.Option("-k", min=1, help=K_HELP)]
TenantOption = Annotated[str | None, typer.Option(help=TENANT_HELP)]
GroupOption = Annotated[list[str] | None, typer.Option("--group", metavar="GROUP", help=GROUP_HELP)]


@handle_errors
def search(
    question: Annotated[
        str, typer.Argument(help="What to look for, in plain words.", callback=query_argument)
    ],
    k: KOption = None,
    retrieval: Annotated[
        str | None,
        typer.Option(
            "--retrieval",
            "-r",
            help="hybrid | dense | sparse (default: retrieval.mode).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str | None,
        renamed_option("--mode", "--retrieval"),
    ] = None,
    tenant: TenantOption = None,
    group: GroupOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Show the ranked passages retrieval finds, with scores, source and location.

    No language model is loaded: this is what `ask` would put in its prompt. --retrieval
    chooses how to search: by meaning (dense), by words (sparse, BM25) or both (hybrid).

    \b
    Examples:
      expertly search "parental leave" -k 3
      expertly search "error E42" --retrieval sparse --json
    """
    from expertly.types import Filters

    chosen = retrieval or mode
    if chosen is not None and chosen not in RETRIEVAL_MODES:
        raise typer.BadParameter(
            f"{chosen!r} is not a retrieval mode; choose one of: {', '.join(RETRIEVAL_MODES)}",
            param_hint="--retrieval",
        )
    ws = workspace(write=False)  # reads an index that must exist; creates nothing
    if not ws.has_index:
        raise ExpertlyError(
            f"Nothing is indexed in {ws.root} yet: run `expertly ingest <folder>` first "
            "(or choose another workspace with --workspace)."
        )
    mode_value = chosen or ws.settings.retrieval.mode
    filters = Filters.for_principal(principal(tenant, group))
    searcher = ws.searcher(mode=mode_value)
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
                "hits": [hit_dict(i, h) for i, h in enumerate(hits, 1)],
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
    if needs_index and (not ws.has_index or not int(ws.stats().get("documents", 0))):
        raise ExpertlyError(
            f"Nothing is indexed in {ws.root} yet: run `expertly ingest <folder>` first "
            "(or choose another workspace with --workspace, or use --route base)."
        )
    answerer = ws.answerer(mode, model=model, conversational=conversational, k=k, cache=cache)
    ws.warmup()
    return answerer, time.perf_counter() - started


ROUTE_HELP = (
    "rag (documents + base model, cited) | base (model alone) | finetuned (fine-tuned model "
    "alone) | hybrid (fine-tuned model over the documents) | agent (tools, several steps) | "
    "auto (the router picks per question and says why)."
)
MODEL_HELP = (
    "Fine-tuned model for the finetuned/hybrid/auto routes (see `expertly finetune models`; "
    "default the newest)."
)
NO_CACHE_HELP = "Answer afresh even when the same question was answered over the same index."
RouteOption = Annotated[
    str | None, typer.Option("--route", "-r", help=ROUTE_HELP, show_default="rag")
]
ModeOption = Annotated[str | None, renamed_option("--mode", "--route", "-m")]
ModelOption = Annotated[str | None, typer.Option("--model", help=MODEL_HELP)]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help=NO_CACHE_HELP)]


@handle_errors
def ask(
    question: Annotated[str, typer.Argument(help="Your question.", callback=query_argument)],
    k: KOption = None,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print the exact prompt sent to the model.")
    ] = False,
    tenant: TenantOption = None,
    group: GroupOption = None,
    route: RouteOption = None,
    mode: ModeOption = None,
    model: ModelOption = None,
    no_cache: NoCacheOption = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the whole Answer (citations, prompts, trace, timings) as JSON."
        ),
    ] = False,
) -> None:
    """Answer a question from the ingested documents, citing its sources as [1], [2].

    When the documents hold nothing relevant it says so instead of guessing; when they hold
    relevant passages but no answer it can stand behind, it says so and names the closest
    source sentences (answer.leads) as where to read on. --route picks the route; every
    answer says which route answered, and with --route auto why.

    \b
    Examples:
      expertly ask "How many days of parental leave do we get?" --show-prompt
      expertly ask "What is 17% of 2,340 EUR?" --route agent
      expertly ask "Draft a reply to the customer" --route auto --json
    """
    chosen = _route(route, mode)
    ws = workspace()
    with err_console.status("Loading models..."):
        answerer, load_s = load_answerer(ws, chosen, model=model, k=k, cache=not no_cache)
    with err_console.status("Thinking..."):
        answer = answerer.answer(question, principal=principal(tenant, group))
    ws.close()
    if as_json:
        print_json({**answer_dict(answer), "load_seconds": round(load_s, 3)})
    else:
        print_answer(answer, show_prompt=show_prompt)
        console.print(f"[dim]models loaded and warmed up in {ms(load_s)} (not counted above)[/]")


def _route(route: str | None, mode: str | None) -> str:
    """The route --route (or its old name --mode) chose, checked; rag by default."""
    from expertly.workspace import MODES

    chosen = route or mode or "rag"
    if chosen not in MODES:
        raise typer.BadParameter(
            f"{chosen!r} is not a route; choose one of: {', '.join(MODES)}",
            param_hint="--route",
        )
    return chosen


@handle_errors
def chat(
    k: KOption = None,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print each prompt sent to the model.")
    ] = False,
    tenant: TenantOption = None,
    group: GroupOption = None,
    route: RouteOption = None,
    mode: ModeOption = None,
    model: ModelOption = None,
    no_cache: NoCacheOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON answer per line (for scripts).")
    ] = False,
) -> None:
    """Ask questions one after another (models stay loaded). Empty line or Ctrl-D quits.

    With --route rag (default) each question is answered on its own from the documents, with
    citations; with --route agent the agent remembers the conversation (the last
    agent.memory_turns turns word for word, older ones summarised). Questions are read from
    the terminal, or one per line from standard input; a line that cannot be a question
    (not UTF-8, a NUL byte) stops a piped session with an error.

    \b
    Examples:
      expertly chat --route agent
      expertly chat --tenant acme --group hr
      printf 'Who approves leave?\\nAnd for how long?\\n' | expertly chat --json
    """
    chosen = _route(route, mode)
    who = principal(tenant, group)
    ws = workspace()
    with err_console.status("Loading models..."):
        answerer, _ = load_answerer(
            ws, chosen, model=model, k=k, cache=not no_cache, conversational=True
        )
    interactive = sys.stdin.isatty()
    while True:
        try:
            question = _next_question(interactive)
        except EOFError:
            break
        if not question or not question.strip():
            break
        try:
            question = check_query(question)
        except ExpertlyError as exc:
            if not interactive:
                ws.close()
                raise
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", soft_wrap=True)
            continue
        if not interactive and not as_json:
            console.print(f"\n[bold cyan]Q:[/] {escape(question)}")
        answer = answerer.answer(question, principal=who)
        if as_json:
            print_json(answer_dict(answer), one_line=True)
        else:
            print_answer(answer, show_prompt=show_prompt)
    ws.close()


def _next_question(interactive: bool) -> str:
    """The next line typed or piped in ("" at the end). Piped bytes are decoded line by line
    and undecodable ones kept as lone surrogates, so that a bad line is reported as such
    by ``check_query`` after the good lines before it were answered."""
    if interactive:
        return console.input("[bold cyan]you> [/]")
    if isinstance(sys.stdin, io.TextIOWrapper):
        return sys.stdin.buffer.readline().decode("utf-8", "surrogateescape")
    return sys.stdin.readline()


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(ask)
    app.command()(chat)
