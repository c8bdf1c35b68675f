"""``Settings``: the ten sections of one workspace, and where they are read from.

Precedence (highest first): environment variables, the workspace's ``expertly.toml``,
the defaults. An environment variable names a section and a field joined by a double
underscore, e.g. ``EXPERTLY_LLM__BACKEND=openai`` or ``EXPERTLY_RETRIEVAL__K=8``.
``EXPERTLY_WORKSPACE`` chooses the workspace directory (default ``./.expertly``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from expertly.config.answering import (
    AgentSettings,
    AnswerSettings,
    CacheSettings,
    LLMSettings,
    RetrievalSettings,
    RouterSettings,
)
from expertly.config.index import (
    ChunkingSettings,
    EmbedderSettings,
    IngestSettings,
    StoreSettings,
)
from expertly.config.loading import Raw, Value, build_section, merge, read_env, read_toml
from expertly.errors import ConfigError

CONFIG_FILE = "expertly.toml"
DEFAULT_WORKSPACE = ".expertly"


@dataclass
class Settings:
    """All settings of one workspace."""

    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    @classmethod
    def load(
        cls, workspace: Path | str | None = None, env: dict[str, str] | None = None
    ) -> Settings:
        """Read ``<workspace>/expertly.toml`` (if present) and apply ``EXPERTLY_*`` overrides.

        Raises ``ConfigError`` naming the variable or file key at fault, the type expected
        and the valid values.
        """
        file: Raw = {}
        if workspace is not None:
            path = Path(workspace) / CONFIG_FILE
            if path.is_file():
                file = read_toml(path)
        names = [f.name for f in fields(cls)]
        environment = read_env(dict(os.environ if env is None else env), names)
        return cls._build(merge(file, environment))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from nested dicts, converting strings (as from env) to field types."""
        raw: Raw = {}
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"[{section}] must be a table of settings, got {values!r}")
            raw[section] = {k: Value(v, f"{section}.{k}") for k, v in values.items()}
        return cls._build(raw)

    @classmethod
    def _build(cls, raw: Raw) -> Settings:
        sections = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(sections))
        if unknown:
            where = next(iter(raw[unknown[0]].values()), None)
            origin = f"{where.origin}: " if where else ""
            raise ConfigError(
                f"{origin}unknown settings section [{unknown[0]}]; "
                f"valid sections: {', '.join(sections)}"
            )
        kwargs: dict[str, Any] = {}
        for name, f in sections.items():
            section_cls: Any = f.default_factory
            kwargs[name] = build_section(name, section_cls, raw.get(name, {}))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dicts, as ``expertly config --json`` prints them."""
        return dataclasses.asdict(self)


def describe() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, help) for every setting, for ``expertly config`` and the docs."""
    rows = []
    defaults = Settings()
    for section in fields(Settings):
        sub = getattr(defaults, section.name)
        hints = get_type_hints(type(sub))
        for f in fields(sub):
            typ = hints[f.name]
            tname = typ.__name__ if isinstance(typ, type) else str(typ)
            rows.append(
                (
                    f"{section.name}.{f.name}",
                    tname,
                    getattr(sub, f.name),
                    f.metadata.get("help", ""),
                )
            )
    return rows


def resolve_workspace(path: str | Path | None = None) -> Path:
    """The workspace directory: ``path``, else ``$EXPERTLY_WORKSPACE``, else ``./.expertly``."""
    chosen = path or os.environ.get("EXPERTLY_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()


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
