"""The parts of a Workspace: those handed in, those it built, and what follows from them.

``Parts`` carries the ready-made parts a caller hands in (tests hand fakes, an application
shares a loaded model); ``BuiltModels`` keeps the models the workspace built itself, to
warm them up and close them; ``token_counter`` picks what the chunker counts tokens with,
which depends on the embedding model the workspace ended up with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from expertly.embed import Embedder
    from expertly.generate import LLM
    from expertly.ingest.tokens import TokenCounter
    from expertly.store import StoreBackend

P = TypeVar("P")


@dataclass(frozen=True)
class Parts:
    """Ready-made parts a Workspace uses instead of building them from its settings.

    Tests hand it fakes (``Parts(llm=ScriptedLLM([...]))``); an application can share one
    loaded model between workspaces. A part given here belongs to the caller: the
    workspace uses it as it is (an embedder is not wrapped in the vector cache) and never
    closes it.
    """

    embedder: Embedder | None = None
    llm: LLM | None = None
    store: StoreBackend | None = None


def token_counter(model: Embedder) -> TokenCounter:
    """What the chunker counts tokens with for the embedding ``model``."""
    from expertly.embed import LocalModel
    from expertly.errors import ModelNotFoundError
    from expertly.ingest.tokens import HFTokenizer, WhitespaceTokenizer

    path = Path(model.path) if isinstance(model, LocalModel) else None
    # Count with the embedder's own tokenizer; for remote embedders, MiniLM's WordPiece
    # (when installed) is a far closer estimate than counting words.
    if path is not None and (path / "tokenizer.json").is_file():
        return HFTokenizer.from_dir(path)
    try:
        return HFTokenizer.default()
    except ModelNotFoundError:
        return WhitespaceTokenizer()


class BuiltModels:
    """The models a workspace built itself, in the order it built them: ``warmup`` loads
    them and ``close`` closes them. Parts handed in through ``Parts`` are never here."""

    def __init__(self) -> None:
        self._parts: list[object] = []

    def add(self, part: P) -> P:
        """Keep ``part`` (just built) and give it back."""
        self._parts.append(part)
        return part

    def remove(self, part: object) -> None:
        """Forget ``part``: it is neither warmed nor closed by this workspace any more."""
        self._parts.remove(part)

    def warm_up(self) -> float:
        """Load each model and pay its first-call costs; returns the seconds."""
        from expertly.embed import LocalModel
        from expertly.generate import Warmable

        started = time.perf_counter()
        for part in list(self._parts):
            if isinstance(part, Warmable):
                part.warmup()
            elif isinstance(part, LocalModel):
                part.load()
        return time.perf_counter() - started

    def close(self) -> None:
        """Close the connections of each model (an endpoint's HTTP client) and forget them
        all; answerers built before keep theirs."""
        from expertly.generate import Closeable

        for part in self._parts:
            if isinstance(part, Closeable):
                part.close()
        self._parts.clear()
