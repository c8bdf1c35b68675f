"""Shared CLI plumbing: the workspace chosen by ``--workspace``, consoles, error handling."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
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


def workspace(*, write: bool = True, must_exist: bool = False) -> Any:
    """The Workspace chosen by --workspace / EXPERTLY_WORKSPACE / ./.expertly, after checking
    that its path can be one: not a file, not below a file, and (``write``) a directory
    expertly can create and write in. ``must_exist`` for commands that only look at an
    existing workspace (``status``)."""
    from expertly.config import resolve_workspace
    from expertly.workspace import Workspace

    root = resolve_workspace(state.workspace)
    check_workspace_path(root, write=write, must_exist=must_exist)
    return Workspace(root)


def check_workspace_path(root: Path, *, write: bool, must_exist: bool) -> None:
    """Raise an ExpertlyError naming the problem when ``root`` cannot hold a workspace."""
    if root.exists() and not root.is_dir():
        raise ExpertlyError(
            f"The workspace {root} is a file, not a directory: give a directory with "
            "--workspace DIR (it is created if missing)."
        )
    blocker = next((p for p in root.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ExpertlyError(
            f"The workspace {root} cannot be created: {blocker} is a file. Give a directory "
            "with --workspace DIR."
        )
    if must_exist and not root.is_dir():
        raise ExpertlyError(
            f"There is no workspace at {root}: create one with `expertly init` or "
            "`expertly ingest FOLDER`, or point --workspace at an existing one."
        )
    if not write:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise ExpertlyError(
            f"Cannot write in the workspace {root} ({exc.strerror or exc}): give a directory "
            "you may write in with --workspace DIR."
        ) from None


def check_query(text: str, *, what: str = "question") -> str:
    """``text`` stripped of surrounding space, or an ExpertlyError when it cannot be a
    query: empty or only spaces, holding a NUL byte, or not valid UTF-8 (a shell passes
    undecodable bytes through as lone surrogates)."""
    if "\x00" in text:
        raise ExpertlyError(f"The {what} contains a NUL byte: remove it and try again.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExpertlyError(
            f"The {what} is not valid UTF-8 text: check the terminal's or the file's encoding "
            "(e.g. `iconv -f latin1 -t utf-8`)."
        ) from None
    if not text.strip():
        raise ExpertlyError(f"The {what} is empty: say what to look for in words.")
    return text.strip()


def query_argument(value: str) -> str:
    """typer callback for a query argument: ``check_query`` as a usage error (exit 2)."""
    try:
        return check_query(value)
    except ExpertlyError as exc:
        raise typer.BadParameter(str(exc)) from None


def renamed_option(old: str, new: str, *short: str) -> Any:
    """A hidden option kept for one release under its old name ``old`` (and ``short``
    spellings): when given, a one-line note on stderr says to use ``new``. Its help, shown
    only in the generated CLI reference, names the new spelling."""
    return typer.Option(
        old, *short, hidden=True, help=f"Deprecated: use {new}.", callback=_note(old, new)
    )


def _note(old: str, new: str) -> Callable[[Any], Any]:
    def note(value: Any) -> Any:
        if value is not None and value is not False:
            err_console.print(
                f"[yellow]Note:[/] {old} is deprecated and will be removed in the next "
                f"release; use {new}.",
                soft_wrap=True,
            )
        return value

    return note


def deprecated_command(func: F, old: str, new: str) -> F:
    """``func`` under its old command name ``old``, printing a one-line note on stderr that
    says to use ``expertly new`` instead (kept for one release)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        err_console.print(
            f"[yellow]Note:[/] `expertly {old}` is deprecated and will be removed in the next "
            f"release; use `expertly {new}`.",
            soft_wrap=True,
        )
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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
