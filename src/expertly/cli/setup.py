"""``expertly init`` and ``expertly config``: creating a workspace and showing its settings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from expertly.cli.common import (
    console,
    handle_errors,
    print_json,
    renamed_option,
    workspace,
)


@handle_errors
def init(
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing expertly.toml by the defaults."),
    ] = False,
    force: Annotated[
        bool,
        renamed_option("--force", "--overwrite"),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the file written (or kept) as JSON.")
    ] = False,
) -> None:
    """Create a workspace with an expertly.toml listing every setting at its default.

    Optional: every command works without it, on the defaults.

    \b
    Examples:
      expertly init
      expertly -w /srv/hr-workspace init --overwrite
    """
    overwrite = overwrite or force
    ws = workspace()
    existed = ws.config_path.exists()
    path = ws.init(overwrite=overwrite)
    if as_json:
        print_json({"config": str(path), "written": overwrite or not existed})
    elif existed and not overwrite:
        console.print(f"{path} already exists (use --overwrite to replace it).")
    else:
        console.print(f"Created {path}. Next: expertly ingest <folder>")


@handle_errors
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Show the effective settings (defaults < expertly.toml < EXPERTLY_* variables).

    \b
    Examples:
      expertly config
      EXPERTLY_LLM__BACKEND=openai expertly config --json
    """
    from expertly.config import describe

    ws = workspace(write=False)
    if as_json:
        print_json({"workspace": str(ws.root), **asdict(ws.settings)})
        return
    table = Table(title=f"Settings of {ws.root}", show_lines=False)
    for col in ("setting", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for key, _typ, _default, help_text in describe():
        section, name = key.split(".", 1)
        value = getattr(getattr(ws.settings, section), name)
        table.add_row(key, repr(value), help_text)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(config)
