"""Settings: documented dataclasses read from ``expertly.toml`` plus ``EXPERTLY_*`` variables.

Precedence (highest first): environment variables, the workspace's ``expertly.toml``,
the defaults. An environment variable names a section and a field joined by a double
underscore, e.g. ``EXPERTLY_LLM__BACKEND=openai`` or ``EXPERTLY_RETRIEVAL__K=8``.
``EXPERTLY_WORKSPACE`` chooses the workspace directory (default ``./.expertly``).

Every field's ``help`` metadata is the documentation: ``expertly config`` prints it and
``docs/configuration.md`` is generated from it.

* ``index``, ``answering``: the sections, one dataclass each, with their checks;
* ``loading``: reading the file and the environment, converting each value to its field's
  type, with errors that name the variable or key at fault;
* ``settings``: ``Settings``, the ten sections together, ``describe`` and the commented
  default ``expertly.toml``.
"""

from expertly.config.answering import (
    ROUTES,
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
from expertly.config.loading import ENV_PREFIX
from expertly.config.settings import (
    CONFIG_FILE,
    DEFAULT_WORKSPACE,
    Settings,
    default_config_text,
    describe,
    resolve_workspace,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_WORKSPACE",
    "ENV_PREFIX",
    "ROUTES",
    "AgentSettings",
    "AnswerSettings",
    "CacheSettings",
    "ChunkingSettings",
    "EmbedderSettings",
    "IngestSettings",
    "LLMSettings",
    "RetrievalSettings",
    "RouterSettings",
    "Settings",
    "StoreSettings",
    "default_config_text",
    "describe",
    "resolve_workspace",
]
