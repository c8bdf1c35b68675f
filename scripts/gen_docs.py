"""Generate docs/cli.md from the CLI's own --help output and docs/configuration.md from the
settings' own documentation (neither is written by hand).

    python scripts/gen_docs.py          # rewrite both
    python scripts/gen_docs.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ["COLUMNS"] = "100"
os.environ["TERM"] = "dumb"
os.environ["NO_COLOR"] = "1"

import typer.main
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.config import describe

DOCS = Path(__file__).resolve().parent.parent / "docs"


def help_text(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="expertly", terminal_width=100)
    if result.exit_code != 0:
        raise SystemExit(f"'expertly {' '.join(args)} --help' failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip().splitlines())


def render() -> str:
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `scripts/gen_docs.py` (`make docs`); do not edit by hand.",
        "",
        "## expertly",
        "",
        "```text",
        help_text([]),
        "```",
    ]
    for name, command in commands.items():
        if command.hidden:
            continue
        parts += ["", f"## expertly {name}", "", "```text", help_text([name]), "```"]
        for subname, sub in getattr(command, "commands", {}).items():
            if sub.hidden:
                continue
            parts += [
                "",
                f"### expertly {name} {subname}",
                "",
                "```text",
                help_text([name, subname]),
                "```",
            ]
    return "\n".join(parts + render_deprecated(commands)) + "\n"


def render_deprecated(commands: dict[str, Any]) -> list[str]:
    """The old spellings kept for one release (hidden from --help), with their new names."""
    rows = []
    for name, command in commands.items():
        if command.hidden:
            rows.append(f"| `expertly {name}` | {command.help} |")
            continue
        for sub_name, sub in [("", command), *getattr(command, "commands", {}).items()]:
            where = " ".join(n for n in (name, sub_name) if n)
            for param in sub.params:
                if getattr(param, "hidden", False):
                    spelled = " / ".join(f"`{o}`" for o in param.opts)
                    rows.append(f"| `expertly {where}` {spelled} | {param.help} |")
    if not rows:
        return []
    return [
        "",
        "## Deprecated names",
        "",
        "These spellings still work until the next release and print a note on stderr; they",
        "are hidden from `--help`.",
        "",
        "| old spelling | note |",
        "|---|---|",
        *rows,
    ]


def render_config() -> str:
    parts = [
        "# Configuration",
        "",
        "Generated from the settings' documentation by `scripts/gen_docs.py` (`make docs`).",
        "",
        "Settings are read from `expertly.toml` in the workspace directory (`expertly init` writes",
        "one with every default commented out), then overridden by environment variables named",
        "`EXPERTLY_<SECTION>__<FIELD>` (double underscore), e.g. `EXPERTLY_LLM__BACKEND=openai`.",
        "`EXPERTLY_WORKSPACE` (or `expertly --workspace DIR`) chooses the workspace directory",
        "(default `./.expertly`). `expertly config` prints the effective values.",
    ]
    section = None
    for key, typ, default, help_text in describe():
        sec, name = key.split(".", 1)
        if sec != section:
            parts += [
                "",
                f"## [{sec}]",
                "",
                "| setting | type | default | meaning |",
                "|---|---|---|---|",
            ]
            section = sec
        shown = repr(default).replace("|", "\\|")
        parts.append(f"| `{name}` | {typ} | `{shown}` | {help_text.replace('|', '/')} |")
    return "\n".join(parts) + "\n"


def main() -> int:
    outputs = {DOCS / "cli.md": render(), DOCS / "configuration.md": render_config()}
    if "--check" in sys.argv:
        stale = [
            p
            for p, text in outputs.items()
            if not p.is_file() or p.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is out of date: run `make docs` (python scripts/gen_docs.py)")
        return 1 if stale else 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
