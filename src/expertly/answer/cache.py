"""An answer cache: the same question, over the same index, with the same settings, is
answered once.

The key is the normalised question, the route, the principal, the model and a *fingerprint*
of everything that could change the answer — the index version (every document's content
hash, so any ingest or delete invalidates it) and the settings. Cached answers are stored as
JSON in a small SQLite file in the workspace, so they survive between commands and are safe
to share between processes. Only deterministic answers belong here: the Workspace leaves
sampling (temperature > 0) and agents with live tools (``http_get``) uncached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.answer import BatchAnswering, stream_answer
from expertly.databases import switch_to_wal
from expertly.generate.streaming import word_pieces
from expertly.types import (
    Answer,
    Chunk,
    Citation,
    Hit,
    Message,
    Principal,
    TraceStep,
)

if TYPE_CHECKING:
    from expertly.answer import Answerer


def answer_to_json(answer: Answer) -> str:
    """``answer`` as JSON that ``answer_from_json`` turns back into an equal Answer."""
    return json.dumps(dataclasses.asdict(answer), default=_jsonable)


def answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    return Answer(
        question=data["question"],
        text=data["text"],
        citations=tuple(_citation(c) for c in data["citations"]),
        hits=tuple(_hit(h) for h in data["hits"]),
        prompts=tuple(tuple(Message(m["role"], m["content"]) for m in p) for p in data["prompts"]),
        trace=tuple(TraceStep(s["name"], s["detail"], s["seconds"]) for s in data["trace"]),
        timings=data["timings"],
        usage=data["usage"],
        abstained=data["abstained"],
        route=data["route"],
        model=data["model"],
        incomplete=data.get("incomplete", False),
        reason=data.get("reason", ""),
        rewrites=tuple(data.get("rewrites", ())),
        leads=tuple(_citation(c) for c in data.get("leads", ())),
    )


def _citation(c: Mapping[str, Any]) -> Citation:
    return Citation(**{**c, "heading_path": tuple(c.get("heading_path", ()))})


def _hit(h: Mapping[str, Any]) -> Hit:
    chunk = dict(h["chunk"])
    chunk["heading_path"] = tuple(chunk.get("heading_path", ()))
    return Hit(**{**h, "chunk": Chunk(**chunk)})


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays in trace details
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def normalise_question(question: str) -> str:
    return " ".join(question.lower().split()).rstrip("?!. ")


class AnswerCache:
    """Answers by key in one SQLite table; ``clear`` empties it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        with self._conn:
            switch_to_wal(self._conn, 10.0)
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL,"
                " created REAL NOT NULL)"
            )

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def get(self, key: str) -> Answer | None:
        row = self._conn.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return answer_from_json(row[0]) if row else None

    def put(self, key: str, answer: Answer) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers(key, answer, created) VALUES (?, ?, ?)",
                (key, answer_to_json(answer), time.time()),
            )

    def clear(self) -> int:
        with self._conn:
            return self._conn.execute("DELETE FROM answers").rowcount

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class CachedAnswerer:
    """Wraps an Answerer: a cached answer is returned at once, marked in trace and timings.

    ``fingerprint`` is called per question (cheap: it reads document hashes), so an ingest
    or delete between two questions changes the key and the next answer is fresh.
    """

    def __init__(
        self,
        inner: Answerer,
        cache: AnswerCache,
        *,
        route: str,
        model: str,
        fingerprint: Callable[[], str],
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.route = route
        self.model = model
        self.fingerprint = fingerprint

    def answer(self, question: str, *, principal: Principal | None = None) -> Answer:
        started = time.perf_counter()
        key = self._key(question, principal)
        cached = self.cache.get(key)
        if cached is not None:
            return self._hit(cached, question, key, started)
        answer = self.inner.answer(question, principal=principal)
        self._keep(key, answer)
        return answer

    def stream(
        self, question: str, *, principal: Principal | None = None
    ) -> Iterator[str | Answer]:
        """A cached answer in word pieces, else the inner answerer's stream (whole, then in
        pieces, when it cannot stream); the Answer last, as ``StreamAnswering`` says."""
        started = time.perf_counter()
        key = self._key(question, principal)
        cached = self.cache.get(key)
        if cached is not None:
            answer = self._hit(cached, question, key, started)
            yield from word_pieces(answer.text)
            yield answer
            return
        for item in stream_answer(self.inner, question, principal=principal):
            if isinstance(item, Answer):
                self._keep(key, item)
            yield item

    def generates_in_batches(self) -> bool:
        """Whether the inner answerer generates in batches (``BatchAnswering``)."""
        return isinstance(self.inner, BatchAnswering) and self.inner.generates_in_batches()

    def answer_batch(
        self, questions: Sequence[str], *, principal: Principal | None = None
    ) -> list[Answer]:
        """``answer`` for each question: cached ones at once, the others in one
        ``answer_batch`` of the inner answerer (one by one if it has none)."""
        started = time.perf_counter()
        keys = [self._key(q, principal) for q in questions]
        found = [self.cache.get(key) for key in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        asked = [questions[i] for i in missing]
        if isinstance(self.inner, BatchAnswering):
            fresh = self.inner.answer_batch(asked, principal=principal)
        else:
            fresh = [self.inner.answer(q, principal=principal) for q in asked]
        answers: dict[int, Answer] = {}
        for i, answer in zip(missing, fresh, strict=True):
            self._keep(keys[i], answer)
            answers[i] = answer
        for i, hit in enumerate(found):
            if hit is not None:
                answers[i] = self._hit(hit, questions[i], keys[i], started)
        return [answers[i] for i in range(len(questions))]

    def _key(self, question: str, principal: Principal | None) -> str:
        who = dataclasses.asdict(principal) if principal else None
        return AnswerCache.key(
            self.route, self.model, normalise_question(question), who, self.fingerprint()
        )

    def _hit(self, cached: Answer, question: str, key: str, started: float) -> Answer:
        """The cached answer to ``question``, marked as such in its trace and timings."""
        seconds = time.perf_counter() - started
        return replace(
            cached,
            question=question.strip(),
            trace=(TraceStep("cache", {"hit": True, "key": key[:16]}, seconds), *cached.trace),
            timings={"cache": seconds, "total": seconds},
        )

    def _keep(self, key: str, answer: Answer) -> None:
        if not answer.incomplete:
            self.cache.put(key, answer)
