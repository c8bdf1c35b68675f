"""The state one server process shares between requests: the Workspace, its answerers
(built once per route and generation settings), the keys, the limits, the metrics and the
ingest jobs (whose statuses, like the keys, all worker processes share)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from expertly.errors import ExpertlyError
from expertly.server.batching import AnswererKey, Batcher
from expertly.server.jobs import IngestJobs
from expertly.server.keys import KeyStore
from expertly.server.limits import GenerationQueue, RateLimiter, SharedRateLimiter
from expertly.server.observe import Metrics
from expertly.server.settings import ServerSettings
from expertly.server.state import SharedState
from expertly.types import Principal

if TYPE_CHECKING:
    from expertly.answer import Answerer
    from expertly.retrieve.multihop import MultiHopRetriever
    from expertly.workspace import Workspace

log = logging.getLogger("expertly.server")

ROUTE_MODELS = {
    "expertly-rag": "rag",
    "expertly-base": "base",
    "expertly-auto": "auto",
    "expertly-agent": "agent",
}
"""Model ids that are always offered, and the route each one answers with."""
TUNED_ROUTES = ("finetuned", "hybrid")
"""Routes offered when a fine-tuned run exists: ``expertly-<route>`` (the newest run) and
``expertly-<route>:<run>``."""
EMBED_MODEL = "expertly-embed"
SEARCH_MODES = ("hybrid", "dense", "sparse")
_MAX_ANSWERERS = 16


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's id (``anonymous`` without keys), its scopes, and the
    principal retrieval filters by (``None``: every document, as for the CLI)."""

    id: str
    scopes: tuple[str, ...]
    principal: Principal | None


class Service:
    """One Workspace and what the server builds on it, shared by every request."""

    def __init__(self, workspace: Workspace, settings: ServerSettings) -> None:
        self.workspace = workspace
        self.settings = settings
        self.keys = KeyStore(workspace.root)
        self.metrics = Metrics()
        self.state = SharedState(workspace.root)  # shared with the other worker processes
        self.limiter = (
            SharedRateLimiter(self.state, settings.rate_per_minute, settings.burst)
            if settings.workers > 1
            else RateLimiter(settings.rate_per_minute, settings.burst)
        )
        self.queue: GenerationQueue | None = None  # made on the server's event loop
        self.batcher: Batcher | None = None  # likewise
        self._batch_sizes: dict[str, int] = {}
        self.ready = False
        self.failure: str | None = None
        self.started = time.time()
        self._answerers: OrderedDict[tuple[Any, ...], Answerer] = OrderedDict()
        self._searchers: dict[str, MultiHopRetriever] = {}
        self._lock = threading.RLock()  # Workspace parts are built lazily, not thread-safely
        self.jobs = IngestJobs(workspace, self._lock, self.state)

    # ------------------------------------------------------------------ start

    def start_queue(self) -> GenerationQueue:
        s = self.settings
        self.queue = GenerationQueue(s.concurrency, s.max_waiting, s.retry_after_s, self.metrics)
        self.batcher = Batcher(
            self.queue,
            self.metrics,
            lambda key: self.answerer(*key),
            self.built_answerer,
            self.batch_size,
            s.batch_window_ms / 1000,
        )
        return self.queue

    async def load(self) -> None:
        """Build and warm up the models in a thread; ``ready`` turns true when done."""
        try:
            seconds = await asyncio.to_thread(self._load)
        except ExpertlyError as exc:
            self.failure = str(exc)
            log.error("models failed to load: %s", exc)
            return
        except Exception as exc:  # a bug: readiness must say so, and the log has the trace
            self.failure = f"{type(exc).__name__}: {exc}"
            log.exception("models failed to load")
            return
        self.ready = True
        log.info("ready: models loaded and warmed up", extra={"seconds": round(seconds, 2)})

    def _load(self) -> float:
        started = time.perf_counter()
        ws = self.workspace
        with self._lock:
            ws.store  # noqa: B018 - open the index now (creates an empty one if missing)
            ws.embedder  # noqa: B018
            ws.llm  # noqa: B018
            ws.chunker  # noqa: B018 - its tokenizer counts embedding tokens
            self.answerer("rag", None, None, None)
            for mode in SEARCH_MODES:
                self._searchers[mode] = ws.searcher(mode=mode)
        if not int(ws.stats().get("documents", 0)):
            log.warning(
                "nothing is indexed in %s: answers from the documents will abstain "
                "(run `expertly ingest <folder>`, or upload files)",
                ws.root,
            )
        if self.settings.warmup:
            ws.warmup()
        return time.perf_counter() - started

    # ------------------------------------------------------------------ parts

    def answerer(
        self, route: str, run: str | None, max_tokens: int | None, temperature: float | None
    ) -> Answerer:
        """The answerer for one route and generation settings, built once and kept (the
        last few settings used). Building one may load a model: call it in a worker thread."""
        key = (route, run, max_tokens, temperature)
        with self._lock:
            found = self._answerers.get(key)
            if found is None:
                found = self.workspace.answerer(
                    route, model=run, max_new_tokens=max_tokens, temperature=temperature
                )
                self._answerers[key] = found
                while len(self._answerers) > _MAX_ANSWERERS:
                    self._answerers.popitem(last=False)
            self._answerers.move_to_end(key)
            return found

    def built_answerer(self, key: AnswererKey) -> Answerer | None:
        """The answerer for ``key`` if it is built already (never builds one)."""
        with self._lock:
            return self._answerers.get(key)

    def batch_size(self, route: str) -> int:
        """The largest batch of chat requests for ``route``: ``--max-batch``, or the size
        ``compare`` measured fastest for the route on this device (``default_batch_size``)."""
        if self.settings.max_batch > 0:
            return self.settings.max_batch
        if route not in self._batch_sizes:
            from expertly.evaluate.compare import default_batch_size

            device = self.workspace.settings.llm.device
            self._batch_sizes[route] = default_batch_size(route, device)
        return self._batch_sizes[route]

    def searcher(self, mode: str) -> MultiHopRetriever:
        with self._lock:
            if mode not in self._searchers:
                self._searchers[mode] = self.workspace.searcher(mode=mode)
            return self._searchers[mode]

    def models(self) -> list[tuple[str, str]]:
        """Every model id offered now, with its route (``embed`` for the embedder)."""
        from expertly.finetune.registry import list_models

        offered = list(ROUTE_MODELS.items())
        runs = [m.name for m in list_models(self.workspace.root) if m.usable]
        served = self.workspace.settings
        if served.llm.backend == "openai" and served.router.model not in ("", *runs):
            runs.append(served.router.model)  # the endpoint serves it (e.g. a vLLM LoRA)
        if runs:
            for route in TUNED_ROUTES:
                offered.append((f"expertly-{route}", route))
                offered += [(f"expertly-{route}:{run}", route) for run in runs]
        offered.append((EMBED_MODEL, "embed"))
        return offered

    def route_of(self, model: str) -> tuple[str, str | None] | None:
        """(route, fine-tuned run or None) that the model id ``model`` names, if offered."""
        if model in ROUTE_MODELS:
            return ROUTE_MODELS[model], None
        name, _, run = model.partition(":")
        route = name.removeprefix("expertly-")
        offered = name.startswith("expertly-") and route in TUNED_ROUTES
        if offered and any(m == model for m, _ in self.models()):
            return route, run or None
        return None

    def close(self) -> None:
        self.jobs.close()  # uploads already accepted are indexed before the index closes
        with self._lock:
            self._answerers.clear()
            self._searchers.clear()
            self.workspace.close()
        self.state.close()
        self.metrics.close()
