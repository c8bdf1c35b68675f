"""Batching chat requests that wait for the model: one generation answers several.

Requests for the same answerer (route, fine-tuned run, ``max_tokens``, ``temperature``)
and the same principal form a *group*. Each request queues for a generation slot as
before (so ``--max-waiting`` still bounds the requests waiting, and a full queue is still
a 503); the first of a group to get a slot waits ``batch_window_s`` for company when it is
alone, then takes up to ``max_batch`` requests of its group and answers them with one
``answer_batch`` in a worker thread. The requests it took stop waiting for a slot of their
own. Only answerers that generate in batches (``BatchAnswering`` with a
``BatchGenerating`` model) are batched, and only once built (the first request of a group
builds the answerer, alone); streamed requests are never batched.

The default batch size is the one ``compare`` measured fastest per route
(``default_batch_size``): 8 for the closed-book routes, and for rag/hybrid 8 on a GPU but
1 on a CPU, where a batch of long RAG prompts is slower than one prompt at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expertly.answer import BatchAnswering
from expertly.types import Answer, Principal

if TYPE_CHECKING:
    from expertly.answer import Answerer
    from expertly.server.limits import GenerationQueue
    from expertly.server.observe import Metrics

AnswererKey = tuple[str, str | None, int | None, float | None]
"""(route, fine-tuned run, max_tokens, temperature): one answerer of the Service."""


@dataclass(eq=False)
class _Entry:
    question: str
    future: asyncio.Future[Answer]
    taken: bool = False  # a batch has taken it: its answer is coming


@dataclass
class _Group:
    entries: list[_Entry] = field(default_factory=list)


class Batcher:
    """Answers non-streamed chat requests through the generation queue, in batches where
    the answerer allows.

    ``answerer(key)`` builds or returns the Service's answerer (blocking: called in a worker
    thread); ``built(key)`` returns it only if already built; ``batch_size(route)`` is the
    largest batch for a route (1: never batched).
    """

    def __init__(
        self,
        queue: GenerationQueue,
        metrics: Metrics,
        answerer: Callable[[AnswererKey], Answerer],
        built: Callable[[AnswererKey], Answerer | None],
        batch_size: Callable[[str], int],
        window_s: float,
    ) -> None:
        self.queue = queue
        self.metrics = metrics
        self._answerer = answerer
        self._built = built
        self._batch_size = batch_size
        self.window_s = window_s
        self._groups: dict[tuple[AnswererKey, Principal | None], _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def answer(self, key: AnswererKey, question: str, principal: Principal | None) -> Answer:
        """The answer to ``question``, alone or within a batch of its group."""
        size = self._batch_size(key[0])
        if size > 1 and self._batches(key):
            return await self._batched(key, question, principal, size)

        def one() -> Answer:
            return self._answerer(key).answer(question, principal=principal)

        return await self.queue.run(lambda: asyncio.to_thread(one))

    def _batches(self, key: AnswererKey) -> bool:
        found = self._built(key)
        return isinstance(found, BatchAnswering) and found.generates_in_batches()

    async def _batched(
        self, key: AnswererKey, question: str, principal: Principal | None, size: int
    ) -> Answer:
        group = self._groups.setdefault((key, principal), _Group())
        entry = _Entry(question, asyncio.get_running_loop().create_future())
        group.entries.append(entry)
        slot = asyncio.ensure_future(self.queue.enter())
        waits: set[asyncio.Future[Any]] = {slot, entry.future}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._abandon(group, entry, slot)
            raise
        if not slot.done():
            slot.cancel()  # another request's batch took this one; its slot is not needed
        elif slot.cancelled() or slot.exception() is not None:
            if not entry.taken:  # the queue is full: 503, as without batching
                group.entries.remove(entry)
                slot.result()
        elif entry.taken:
            self.queue.leave()  # a slot came, but a batch already took this request
        else:
            entry.taken = True  # this request leads: no other batch may take it now
            group.entries.remove(entry)
            task = asyncio.create_task(self._lead(key, principal, group, entry, size))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await entry.future

    def _abandon(self, group: _Group, entry: _Entry, slot: asyncio.Future[None]) -> None:
        """The client is gone while waiting: leave the group, and the queue."""
        if not entry.taken and entry in group.entries:
            group.entries.remove(entry)
        if not slot.done():
            slot.cancel()
        elif not slot.cancelled() and slot.exception() is None and not entry.taken:
            self.queue.leave()  # it had just got a slot: give it back

    async def _lead(
        self,
        key: AnswererKey,
        principal: Principal | None,
        group: _Group,
        entry: _Entry,
        size: int,
    ) -> None:
        """Holding a slot: wait for company if alone, take up to ``size`` requests, answer
        them in one batch, hand each its answer, give the slot back. A task of its own, so
        that the leader's client going away does not strand the others."""
        batch = [entry]
        try:
            if len(group.entries) < size - 1 and self.window_s > 0:
                await asyncio.sleep(self.window_s)
            batch += group.entries[: size - 1]
            del group.entries[: size - 1]
            for e in batch:
                e.taken = True
            self.metrics.batch_size.observe(len(batch))
            answers = await asyncio.to_thread(
                self._answer_all, key, [e.question for e in batch], principal
            )
            for e, answer in zip(batch, answers, strict=True):
                if not e.future.done():
                    e.future.set_result(answer)
        except Exception as exc:  # every request of the batch gets the error
            for e in batch:
                if not e.future.done():
                    e.future.set_exception(exc)
        except BaseException:  # cancelled (the server stops): so are the requests
            for e in batch:
                e.future.cancel()
            raise
        finally:
            self.queue.leave()

    def _answer_all(
        self, key: AnswererKey, questions: Sequence[str], principal: Principal | None
    ) -> list[Answer]:
        answerer: Any = self._answerer(key)
        if len(questions) > 1 and isinstance(answerer, BatchAnswering):
            return answerer.answer_batch(questions, principal=principal)
        return [answerer.answer(q, principal=principal) for q in questions]
