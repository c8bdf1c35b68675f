"""The commented ``expertly.toml`` that ``expertly init`` writes: every setting at its
default, with its help text."""

from __future__ import annotations

from typing import Any

from expertly.config import describe


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def default_config_text() -> str:
    """``expertly.toml`` with every setting commented out at its default, with its help."""
    lines = [
        "# expertly workspace settings. Uncomment a line to change it.",
        "# Environment variables override this file: EXPERTLY_<SECTION>__<FIELD>=value",
        "",
    ]
    section = None
    for key, _typ, default, help_text in describe():
        sec, name = key.split(".", 1)
        if sec != section:
            if section is not None:
                lines.append("")
            lines.append(f"[{sec}]")
            section = sec
        lines.append(f"# {help_text}")
        lines.append(f"# {name} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"
