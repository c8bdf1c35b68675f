"""``expertly migrate``: copy the workspace's index to PostgreSQL without re-embedding."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated

import typer

from expertly.cli.common import console, handle_errors, print_json, progress_bar, workspace
from expertly.errors import ExpertlyError


@handle_errors
def migrate(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="PostgreSQL database to copy the index into: "
            "postgresql://user:password@host:5432/dbname (pgvector installed or installable).",
            show_default=False,
        ),
    ],
    schema: Annotated[
        str | None,
        typer.Option(help="PostgreSQL schema for the index (default: store.schema)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Copy the index to PostgreSQL + pgvector: documents, chunks, vectors, access fields.

    Nothing is embedded again: the stored vectors are copied. Each document is written in
    one transaction; an interrupted copy is finished by running the same command again
    (documents already there with the same content hash are skipped). The copy is then
    checked (same documents, content hashes and chunk count). The workspace keeps using
    its own index until you point it at the new one (store.backend, store.url).

    \b
    Examples:
      expertly migrate --to postgresql://expertly:secret@db.internal:5432/expertly
      expertly migrate --to "$EXPERTLY_STORE__URL" --schema hr --json
    """
    from expertly.ingest.pipeline import CHUNKING_META_KEY
    from expertly.store.copy import copy_index
    from expertly.store.postgres.schema import redact
    from expertly.store.registry import create_store

    ws = workspace(write=False, must_exist=True)
    if not ws.has_index:
        raise ExpertlyError(f"Nothing is indexed in {ws.root}: there is nothing to migrate.")
    settings = replace(
        ws.settings.store,
        backend="postgres",
        url=to.strip(),
        schema=schema or ws.settings.store.schema,
    )
    source = ws.store
    info = source.stats()
    target = create_store(
        settings, root=ws.root, dim=int(info["dim"]), embedder=str(info["embedder"])
    )
    try:
        with progress_bar(disable=as_json) as bar:
            task = bar.add_task("Copying", total=int(info["documents"]))
            report = copy_index(
                source,
                target,
                meta_keys=(CHUNKING_META_KEY,),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        target.close()
        ws.close()
    where = f"{redact(settings.url)} (schema {settings.schema})"
    if as_json:
        print_json({"target": redact(settings.url), "schema": settings.schema, **asdict(report)})
        return
    console.print(
        f"[bold]{report.copied}[/] documents copied ({report.chunks} chunks), "
        f"{report.skipped} already there; {where} now holds {report.documents_total} "
        f"documents, {report.chunks_total} chunks — checked, in {report.seconds:.1f} s"
    )
    console.print(
        'To use it, set in expertly.toml: \\[store] backend = "postgres"'
        + (f', schema = "{settings.schema}"' if settings.schema != "expertly" else "")
        + ", and store.url (or the EXPERTLY_STORE__URL environment variable)."
    )


def register(app: typer.Typer) -> None:
    app.command()(migrate)
