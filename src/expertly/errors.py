"""Errors expertly raises on purpose. Every message says what to do next.

::

    ExpertlyError                 anything expertly raises on purpose
    ├── ConfigError               a setting is invalid or contradicts another
    ├── MissingDependencyError    an optional package (extra) is not installed
    ├── ModelNotFoundError        a model file/package/directory cannot be found
    ├── LoadError                 one input file cannot be read (ingest reports and skips it)
    ├── StoreError                the index cannot be opened, or does not match the settings
    ├── LLMError                  the language model failed or an endpoint answered badly
    │   ├── LLMTimeoutError       ... by not answering in time (also an ExpertlyTimeout)
    │   └── ContextLengthError    the prompt cannot fit the model's window beside the answer
    ├── ExpertlyTimeout           an operation ran out of the time it was given
    └── DocumentNotFoundError     a document id is not in the index

Anything else that escapes is a bug in expertly and is re-raised, never swallowed.
"""

from __future__ import annotations


class ExpertlyError(Exception):
    """Base class of every error expertly raises on purpose."""


class ConfigError(ExpertlyError):
    """A setting is invalid; the message names the setting and its valid values."""


class MissingDependencyError(ExpertlyError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        how = f"pip install 'expertly[{extra}]'" if extra else f"pip install {package}"
        why = f" for {purpose}" if purpose else ""
        super().__init__(f"The package '{package}' is needed{why} but is not installed: {how}")
        self.package = package
        self.extra = extra


class ModelNotFoundError(ExpertlyError):
    """A model cannot be found locally (expertly never downloads models at run time)."""


class LoadError(ExpertlyError):
    """One input file cannot be loaded; ``reason`` is a short, user-facing explanation."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(ExpertlyError):
    """The index cannot be opened or used as asked."""


class LLMError(ExpertlyError):
    """The language model failed, or an endpoint returned an error or malformed reply."""


class ExpertlyTimeout(ExpertlyError):
    """An operation ran out of the time it was given (a setting or a caller's deadline).

    Callers with a time budget of their own (the agent) catch this one class, whichever
    backend raised it."""


class LLMTimeoutError(LLMError, ExpertlyTimeout):
    """The model did not answer in time (``llm.timeout_s``, or the caller's ``timeout_s``)."""


class ContextLengthError(LLMError):
    """The prompt cannot fit the model's context window beside the tokens reserved for the
    answer: the question (or the answer length asked for) is too long for this model. The
    request's fault, not the model's: the server answers it with 400."""


class DocumentNotFoundError(ExpertlyError):
    """A document id is not in the index."""
