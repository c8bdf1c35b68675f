"""Turning ``expertly.toml`` and ``EXPERTLY_*`` variables into typed section values.

Each value remembers where it came from (an environment variable, a key of a TOML file, or a
dict handed to ``Settings.from_dict``), so that an error names exactly what the user has to
change, the type expected and an example, rather than a field name the user never typed.

The conversion is driven by the sections' own type hints (``str``, ``int``, ``float``,
``bool``, ``list[str]``): no second description of the settings exists.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import MISSING, Field, dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from expertly.errors import ConfigError

ENV_PREFIX = "EXPERTLY_"
NOT_SETTINGS = frozenset({"EXPERTLY_WORKSPACE"})
"""``EXPERTLY_*`` variables that are not ``<SECTION>__<FIELD>`` settings."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Value:
    """A raw setting and where it came from (``origin`` is what the user would edit)."""

    raw: Any
    origin: str


Raw = dict[str, dict[str, Value]]
"""section name → field name → value, before conversion."""


def read_toml(path: Path) -> Raw:
    """The settings of one ``expertly.toml``; each value's origin is ``<file>: section.key``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix or delete it.") from exc
    raw: Raw = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: {section} = {table!r} is not a section; settings are written in "
                f"tables, e.g. [{section}] then one 'name = value' per line"
            )
        raw[section] = {k: Value(v, f"{path}: {section}.{k}") for k, v in table.items()}
    return raw


def read_env(env: dict[str, str], sections: list[str]) -> Raw:
    """The ``EXPERTLY_<SECTION>__<FIELD>`` variables of ``env``; origin is the variable name.

    A variable that looks like a setting but is misspelt (an unknown section, or one
    underscore where two belong) is an error rather than silently ignored.
    """
    raw: Raw = {}
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        if "__" not in rest:
            near = [s for s in sections if rest.startswith(f"{s}_")]
            if near:
                name = rest[len(near[0]) + 1 :].upper()
                raise ConfigError(
                    f"{key}: a setting needs two underscores between section and field: "
                    f"{ENV_PREFIX}{near[0].upper()}__{name}"
                )
            continue
        section, _, name = rest.partition("__")
        if section not in sections:
            raise ConfigError(
                f"{key}: unknown settings section '{section}'{_did_you_mean(section, sections)}; "
                f"valid sections: {', '.join(sections)}"
            )
        raw.setdefault(section, {})[name] = Value(value, key)
    return raw


def merge(*layers: Raw) -> Raw:
    """Later layers win, field by field (defaults < file < environment)."""
    merged: Raw = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


def build_section(name: str, section_cls: type, values: dict[str, Value]) -> Any:
    """An instance of ``section_cls`` from raw values, each converted to its field's type.

    The section's own checks (``__post_init__``) still run; their message is followed by
    where the offending values came from.
    """
    hints = get_type_hints(section_cls)
    known = {f.name: f for f in fields(section_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        first = values[unknown[0]]
        raise ConfigError(
            f"{first.origin}: [{name}] has no setting '{unknown[0]}'"
            f"{_did_you_mean(unknown[0], list(known))}; valid: {', '.join(sorted(known))}"
        )
    converted = {k: convert(v, hints[k], known[k]) for k, v in values.items()}
    try:
        return section_cls(**converted)
    except ConfigError as exc:
        where = ", ".join(v.origin for v in values.values())
        raise ConfigError(f"{exc} (set by {where})" if where else str(exc)) from exc


def convert(value: Value, typ: Any, spec: Field[Any]) -> Any:
    """``value.raw`` as ``typ``: strings (environment) are parsed, other values type-checked."""
    raw = value.raw
    list_type = getattr(typ, "__origin__", None) is list
    if list_type:
        if isinstance(raw, str):
            return [v.strip() for v in raw.split(",") if v.strip()]
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return raw
        raise _type_error(value, typ, spec)
    if isinstance(raw, str) and typ is not str:
        text = raw.strip()
        if typ is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise _type_error(value, typ, spec)
        try:
            return typ(text)
        except ValueError:
            raise _type_error(value, typ, spec) from None
    if typ is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, bool) and typ is not bool:
        raise _type_error(value, typ, spec)
    if not isinstance(raw, typ):
        raise _type_error(value, typ, spec)
    return raw


_EXPECTED = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
}


def _type_error(value: Value, typ: Any, spec: Field[Any]) -> ConfigError:
    """'<origin> = <value>: expected <type>, e.g. <default>. <help>'."""
    env = value.origin.startswith(ENV_PREFIX)
    if getattr(typ, "__origin__", None) is list:
        expected = "a comma-separated list" if env else "a list of strings"
    else:
        expected = _EXPECTED.get(typ, getattr(typ, "__name__", str(typ)))
    if typ is bool and env:
        expected += " (or 1/0, yes/no, on/off)"
    example = ""
    default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
    if default is not MISSING and default not in ("", []):
        if isinstance(default, list):
            shown = ",".join(default) if env else json.dumps(default)
        elif isinstance(default, bool):
            shown = json.dumps(default)
        else:
            shown = repr(default)
        example = f", e.g. {shown} (the default)"
    help_text = spec.metadata.get("help", "")
    return ConfigError(
        f"{value.origin} = {value.raw!r}: expected {expected}{example}"
        + (f". It means: {help_text}" if help_text else "")
    )


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib  # only on the error path: it costs every command's start-up otherwise

    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
