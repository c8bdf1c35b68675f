"""A persistent embedding cache keyed by (model name, SHA-256 of the text).

Re-ingesting a changed document re-embeds only the chunks whose text changed; a re-index
with the same model embeds nothing. The cache is one SQLite file beside the index.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import apsw
import numpy as np

from expertly.databases import switch_to_wal
from expertly.embed import Embedder, Loadable
from expertly.types import EmbedKind


def text_key(text: str) -> str:
    """The cache key of a text: the SHA-256 of its UTF-8 bytes. A lone surrogate (from a file
    name that is not valid UTF-8) is hashed as its own code point instead of failing."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Stores float32 vectors by model and text hash. Safe to share between processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = apsw.Connection(str(path))
        self._db.setbusytimeout(10_000)
        switch_to_wal(self._db, 10.0)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vector BLOB, "
            "PRIMARY KEY (model, key)) WITHOUT ROWID"
        )

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                [model, *part],
            ):
                found[str(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


class CachedEmbedder:
    """Wraps an embedder: passages are looked up in the cache first; the last
    ``recent_queries`` query vectors are kept in memory, so one question embedded by several
    stages (the router, then the route's retrieval) costs one model call.

    ``misses`` counts the passages actually sent to the model since creation, so callers
    (and tests) can check that unchanged chunks were not re-embedded.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache, recent_queries: int = 64) -> None:
        self.inner = inner
        self.cache = cache
        self.name: str = inner.name
        self.dim: int = inner.dim
        self.misses = 0
        self.recent_queries = recent_queries
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def load(self) -> object:
        """Load the wrapped model now, if it loads lazily."""
        return self.inner.load() if isinstance(self.inner, Loadable) else self.inner

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        if not texts:
            return self.inner.embed(texts, kind=kind)
        if kind == "query":
            return self._embed_queries(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get(self.name, keys)
        todo = sorted(
            {k: i for i, k in enumerate(keys) if k not in found}.items(), key=lambda x: x[1]
        )
        if todo:
            fresh = self.inner.embed([texts[i] for _, i in todo], kind=kind)
            new = {k: fresh[n] for n, (k, _) in enumerate(todo)}
            self.cache.put(self.name, new)
            found.update(new)
            self.misses += len(todo)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._queries))
        if todo:
            fresh = self.inner.embed(todo, kind="query")
            for text, vector in zip(todo, fresh, strict=True):
                self._queries[text] = vector
        for text in texts:
            self._queries.move_to_end(text)
        out = np.stack([self._queries[t] for t in texts]).astype(np.float32, copy=False)
        while len(self._queries) > self.recent_queries:
            self._queries.popitem(last=False)
        return out
