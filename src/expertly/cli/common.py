"""Shared CLI plumbing: the workspace chosen by ``--workspace``, consoles, error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from expertly.errors import ExpertlyError
from expertly.types import Principal

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """Options of the top-level ``expertly`` command, shared by every sub-command."""

    workspace: Path | None = None


state = State()


def workspace() -> Any:
    """The Workspace chosen by --workspace / EXPERTLY_WORKSPACE / ./.expertly."""
    from expertly.workspace import Workspace

    return Workspace(state.workspace)


def handle_errors(func: F) -> F:
    """Print an ExpertlyError as one red line and exit 1; let real bugs show a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExpertlyError as exc:
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]Interrupted.[/] Re-run the same command to finish.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _default(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def print_json(data: Any, *, one_line: bool = False) -> None:
    """Machine-readable output on stdout (nothing else is printed there with --json);
    ``one_line`` for streams of records (JSON Lines)."""
    indent = None if one_line else 2
    sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=indent) + "\n")
    sys.stdout.flush()


def principal(tenant: str | None, groups: list[str] | None) -> Principal | None:
    """A Principal from --tenant/--group options, or None (no access filter) if neither."""
    if tenant is None and not groups:
        return None
    return Principal(id="cli", tenant=tenant, groups=tuple(groups or ()))


def progress_bar(*, disable: bool = False, loss: bool = False) -> Progress:
    """The progress bar long commands show on stderr (hidden with --json); ``loss`` adds a
    column for the task's ``loss`` field (training commands)."""
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if loss:
        columns.insert(3, TextColumn("{task.fields[loss]}"))
    return Progress(*columns, console=err_console, transient=True, disable=disable)


@contextmanager
def training_progress(*, disable: bool = False) -> Iterator[Callable[[int, int, float], None]]:
    """A "Training" progress bar with a loss column; yields the trainers' ``progress``
    callback, ``(step, total steps, loss)``."""
    with progress_bar(disable=disable, loss=True) as bar:
        task = bar.add_task("Training", total=None, loss="")

        def show(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"loss {loss:.3f}")

        yield show


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
