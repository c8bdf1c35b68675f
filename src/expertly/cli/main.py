"""The ``expertly`` command: one typer app, one module per command group."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from expertly.cli import (
    common,
    compare,
    data,
    dataset,
    evaluate,
    finetune,
    migrate,
    query,
    serve,
    setup,
)
from expertly.config.hub import quiet_libraries

app = typer.Typer(
    name="expertly",
    help=(
        "Make a small language model an expert in your documents.\n\n"
        "Typical session:  expertly init · expertly ingest ./docs · "
        'expertly search "..." · expertly ask "..."\n\n'
        "Everything lives in a workspace directory (default ./.expertly) holding "
        "expertly.toml, the index and caches. Settings come from that file and "
        "EXPERTLY_<SECTION>__<FIELD> environment variables (see `expertly config`)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="EXPERTLY_WORKSPACE",
            help="Workspace directory (default ./.expertly).",
            show_default=False,
        ),
    ] = None,
) -> None:
    common.state.workspace = workspace
    # The model libraries print their own progress bars and advisories; expertly shows its own.
    quiet_libraries()
    # pypdf logs a warning for every damaged PDF; ingest reports bad files itself.
    logging.getLogger("pypdf").setLevel(logging.ERROR)


setup.register(app)
data.register(app)
migrate.register(app)
query.register(app)
evaluate.register(app)
finetune.register(app)
dataset.register(app)
compare.register(app)
serve.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
