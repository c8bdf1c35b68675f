"""``expertly ingest``, ``remove`` and ``status``: putting documents in and seeing what is there."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from expertly.cli.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    progress_bar,
    renamed_option,
    workspace,
)
from expertly.errors import ExpertlyError


@handle_errors
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (folders are read recursively).", metavar="PATH"),
    ],
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also remove indexed documents whose files under these folders are gone."
        ),
    ] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Discard the index and build it again (needed after changing the embedder).",
        ),
    ] = False,
    reindex: Annotated[
        bool,
        renamed_option("--reindex", "--rebuild"),
    ] = False,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant that owns these documents (search filters by it).")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            help="Group allowed to read these documents; repeat for several. None = everyone.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 2 if any file failed.")
    ] = False,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Read symbolic links that lead outside the folder (else they are skipped "
            "and reported, unless ingest.follow_links is set).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Index documents: PDF, DOCX, HTML, Markdown, TXT, CSV, JSON/JSONL.

    Incremental: unchanged files are skipped by content hash, changed ones re-indexed.
    Each document is written atomically, so an interrupted run is finished by running the
    same command again. Files that cannot be read are reported with the reason and skipped;
    the others are indexed. Only regular files inside the folder are read; links out of it
    are skipped (see --follow-links). Text in a legacy encoding (cp1252, Latin-1...) is
    decoded with the encoding detected, which the summary names.

    \b
    Examples:
      expertly ingest ./handbook ./manuals
      expertly ingest ./docs --sync          # also drop documents whose files were deleted
      expertly ingest ./hr --tenant acme --group hr
      expertly ingest ./docs --rebuild       # after changing embedder settings
    """
    reindex = rebuild or reindex
    ws = workspace()
    if reindex:
        ws.reset_index()
    metadata: dict[str, Any] = {}
    if tenant:
        metadata["tenant"] = tenant
    if group:
        metadata["groups"] = list(group)
    with err_console.status("Loading the embedder..."):
        ingestor = ws.ingestor
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("Ingesting", total=None)
        report = ingestor.ingest(
            paths,
            sync=sync,
            reindex=reindex,
            metadata=metadata or None,
            on_total=lambda n: bar.update(task, total=n),
            progress=lambda r: bar.advance(task) if r.status != "removed" else None,
            follow_links=True if follow_links else None,
        )
    summary = report.to_dict()
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"[bold]{summary['added']}[/] added, [bold]{summary['updated']}[/] updated, "
            f"{summary['unchanged']} unchanged, {summary['removed']} removed, "
            f"{summary['skipped']} skipped, "
            f"[{'red' if summary['failed'] else 'green'}]{summary['failed']} failed[/] — "
            f"{summary['chunks_written']} chunks written, {summary['chunks_embedded']} embedded "
            f"in {summary['seconds']:.1f} s"
        )
        for failure in report.failed:
            console.print(
                f"  [red]failed[/] {escape(failure.path)}: {escape(failure.reason)}",
                soft_wrap=True,
            )
        for skip in report.skipped:
            console.print(
                f"  [yellow]skipped[/] {escape(skip.path)}: {escape(skip.reason)}", soft_wrap=True
            )
        for decoded in report.legacy_encoded:
            console.print(
                f"  [cyan]decoded[/] {escape(decoded.path)} as {escape(decoded.encoding)} "
                "(detected; not UTF-8)",
                soft_wrap=True,
            )
    ws.close()
    if strict and report.failed:
        raise typer.Exit(2)


@handle_errors
def remove(
    doc_ids: Annotated[
        list[str],
        typer.Argument(
            help="Document ids as shown by `expertly status --documents`.", metavar="DOC_ID"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove documents from the index; they are unfindable at once.

    \b
    Examples:
      expertly remove handbook/leave.md
      expertly status --documents      # lists the ids
    """
    from expertly.errors import DocumentNotFoundError

    ws = workspace(must_exist=True)
    if not ws.has_index:
        raise ExpertlyError(f"Nothing is indexed in {ws.root}: there is nothing to remove.")
    removed = {d: ws.store.delete(d) for d in doc_ids}
    ws.close()
    if as_json:
        print_json(
            {
                "removed": [d for d, ok in removed.items() if ok],
                "not_found": [d for d, ok in removed.items() if not ok],
            }
        )
    else:
        for d, ok in removed.items():
            console.print(f"removed {d}" if ok else f"[yellow]not found[/] {d}")
    missing = [d for d, ok in removed.items() if not ok]
    if missing and not as_json:
        raise DocumentNotFoundError(
            f"{len(missing)} id(s) not in the index; list them with: expertly status --documents"
        )


@handle_errors
def status(
    documents: Annotated[
        bool, typer.Option("--documents", "-d", help="List every document.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show the workspace: documents, chunks, index size, models.

    A workspace that does not exist is an error (exit 1), not an empty one.

    \b
    Examples:
      expertly status
      expertly -w /srv/hr-workspace status --documents --json
    """
    ws = workspace(write=False, must_exist=True)
    if not ws.has_index and not ws.config_path.exists():
        raise ExpertlyError(
            f"{ws.root} is not an expertly workspace (no {ws.config_path.name}, nothing "
            "indexed): create one with `expertly init` or `expertly ingest FOLDER`, or point "
            "--workspace at an existing one."
        )
    if not ws.has_index:
        info: dict[str, Any] = {
            "workspace": str(ws.root),
            "documents": 0,
            "chunks": 0,
            "bytes": 0,
            "index": None,
        }
    else:
        info = {"workspace": str(ws.root), "index": ws.index_location, **ws.store.stats()}
    s = ws.settings
    info["embedder"] = info.get("embedder") or (
        s.embedder.model or f"{s.embedder.backend} (default)"
    )
    info["llm"] = f"{s.llm.backend}: {s.llm.model or 'SmolLM2-135M-Instruct (packaged)'}"
    docs = [d for d in ws.store.documents()] if (documents and info["index"]) else []
    ws.close()
    if as_json:
        if documents:
            info["document_list"] = docs
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    for key in ("workspace", "index", "documents", "chunks", "bytes", "embedder", "llm"):
        value = info.get(key)
        if key == "bytes" and isinstance(value, int):
            value = f"{value / 2**20:.1f} MiB"
        table.add_row(key, str(value))
    console.print(table)
    if documents:
        dt = Table("id", "format", "chunks", "title")
        for d in docs:
            dt.add_row(d.id, d.format, str(d.chunks), d.title)
        console.print(dt)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(remove)
    app.command()(status)
