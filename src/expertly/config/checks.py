"""The helpers every settings section uses: a documented field and two common checks.

Kept apart from the sections so that each section module reads as a list of documented
fields, and so that every check raises the same ``ConfigError`` wording.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from expertly.errors import ConfigError


def _f(default: Any, help: str) -> Any:
    """A dataclass field with a default and its ``help`` text (shown by ``expertly config``)."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def _choice(key: str, value: str, valid: tuple[str, ...]) -> None:
    """Raise ``ConfigError`` naming ``key`` and the valid values unless ``value`` is one."""
    if value not in valid:
        raise ConfigError(f"{key} = {value!r} is not valid; choose one of: {', '.join(valid)}")


def _positive(key: str, value: float) -> None:
    """Raise ``ConfigError`` naming ``key`` unless ``value`` is above zero."""
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def _retries(section: str, retries: int, backoff_s: float, max_wait_s: float) -> None:
    """Raise ``ConfigError`` naming the setting unless the retry settings are usable."""
    if retries < 0 or retries > 10:
        raise ConfigError(f"{section}.retries must be between 0 and 10, got {retries}")
    if backoff_s < 0:
        raise ConfigError(f"{section}.retry_backoff_s must be >= 0, got {backoff_s}")
    if max_wait_s < 0:
        raise ConfigError(f"{section}.retry_max_wait_s must be >= 0, got {max_wait_s}")
