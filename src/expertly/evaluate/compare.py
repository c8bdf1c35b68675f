"""Running every route on the same questions: ``expertly compare``'s measuring half.

Each route's answerer is built once (so each model is loaded once) and asked every question;
one JSON record per question and route is appended to ``results.jsonl`` and flushed to disk
(``fsync``) as soon as it is known, so a killed run loses at most the questions in flight
(one question, or the batch being generated: up to ``batch_size`` questions) and
``resume=True`` carries on from the records already written. Answers never come from the
answer cache: a cached answer's latency would be a lie. A route that cannot be built (no
fine-tuned model yet, a tool without its settings) is *skipped*, with the reason and the
command that makes it available. The scoring half is ``evaluate.summary``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.answer import BatchAnswering
from expertly.answer.choices import ChoiceAnswering, choice_prompt
from expertly.errors import ExpertlyError
from expertly.evaluate.questions import Question
from expertly.generate import Warmable
from expertly.jsonl import JsonlError, read_lines
from expertly.types import Answer, Citation

if TYPE_CHECKING:
    from expertly.workspace import Workspace

ROUTES = ("base", "rag", "finetuned", "hybrid", "agent", "auto")
RESULTS_FILE = "results.jsonl"
DEFAULT_BATCH = 8
ENABLE = {
    "finetuned": "expertly finetune run  (then: expertly models)",
    "hybrid": "expertly finetune run  (hybrid answers with the fine-tuned model over retrieval)",
    "agent": "set [agent] tools in expertly.toml (see `expertly config`)",
    "auto": "set [router] routes in expertly.toml (see `expertly config`)",
    "rag": "expertly ingest ./docs",
}
_TRACE_DETAIL_CHARS = 400

Progress = Callable[[str, int, int], None]
"""``(route, done, total)`` after each question."""


@dataclass(frozen=True)
class Skipped:
    """A route that did not run: why, and the command that would make it available."""

    route: str
    reason: str
    command: str


@dataclass(frozen=True)
class CompareRun:
    """What ``run_compare`` measured: the records (question order within each route), the
    skipped routes, and each route's one-time warm-up seconds (model loading)."""

    records: list[dict[str, Any]]
    skipped: list[Skipped]
    warmup_s: dict[str, float]


def parse_routes(text: str) -> list[str]:
    """``"base,rag"`` to a list of known routes; an unknown one raises ``ExpertlyError``."""
    routes = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in routes if r not in ROUTES]
    if unknown or not routes:
        raise CompareError(
            f"Unknown route(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ROUTES)}"
        )
    return list(dict.fromkeys(routes))


class CompareError(ExpertlyError):
    """A compare cannot start or resume; the message says what to change."""


def record_of(question: Question, answer: Answer, seconds: float, cpu: float) -> dict[str, Any]:
    """The JSON record of one answer: what the report shows and the metrics need."""
    observations = [
        str(step.detail.get("observation", ""))
        for step in answer.trace
        if step.name == "agent.action" and step.detail.get("observation")
    ]
    record: dict[str, Any] = {
        "id": question.id,
        "route": "",
        "route_taken": answer.route,
        "text": answer.text,
        "abstained": answer.abstained,
        "incomplete": answer.incomplete,
        "reason": answer.reason,
        "latency_s": round(seconds, 4),
        "cpu_s": round(cpu, 4),
        "prompt_tokens": int(answer.usage.get("prompt_tokens", 0)),
        "completion_tokens": int(answer.usage.get("completion_tokens", 0)),
        "agent_steps": sum(
            1 for s in answer.trace if s.name.startswith("agent.") and s.name != "agent.budget"
        ),
        "model": answer.model,
        "citations": [_cited(c) for c in answer.citations],
        "leads": [_cited(c) for c in answer.leads],
        "passages": [h.chunk.text for h in answer.hits] + observations,
        "trace": [
            {"name": s.name, "seconds": round(s.seconds, 4), "detail": _short(s.detail)}
            for s in answer.trace
        ],
    }
    chose = [s.detail for s in answer.trace if s.name == "choose"]
    if chose:
        record["choice"] = chose[-1].get("choice")
        record["choice_method"] = chose[-1].get("method")
        record["choice_logprobs"] = chose[-1].get("logprobs", {})
    return record


def _cited(c: Citation) -> dict[str, Any]:
    """A citation or a lead as a record keeps it: where it is and what it quotes."""
    return {
        "number": c.number,
        "doc_id": c.doc_id,
        "source": c.source,
        "chunk_id": c.chunk_id,
        "quote": c.quote,
        "method": c.method,
    }


def _short(detail: Any) -> str:
    text = json.dumps(detail, default=str, ensure_ascii=False)
    return text if len(text) <= _TRACE_DETAIL_CHARS else text[:_TRACE_DETAIL_CHARS] + " …"


def read_results(path: Path) -> list[dict[str, Any]]:
    """The records of ``path``; a torn last line (the process was killed mid-write) is cut
    off the file, any other bad line is an error naming it."""
    if not path.exists():
        return []
    lines = list(read_lines(path))
    records: list[dict[str, Any]] = []
    for i, (number, text) in enumerate(lines):
        if not text.strip():
            continue
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise JsonlError(
                    f"{path}, line {number}: not valid JSON; delete that line to resume"
                ) from None
            _truncate_last_line(path)
    _end_with_newline(path)
    return records


def _end_with_newline(path: Path) -> None:
    """A complete last record written without its newline gets one, so the next append
    starts a line of its own."""
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            fh.write(b"\n")
            os.fsync(fh.fileno())


def _truncate_last_line(path: Path) -> None:
    data = path.read_bytes()
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    with path.open("r+b") as fh:
        fh.truncate(cut)
        os.fsync(fh.fileno())


def _append(fh: Any, record: dict[str, Any]) -> None:
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def run_compare(
    ws: Workspace,
    questions: Sequence[Question],
    routes: Sequence[str],
    out: Path,
    *,
    model: str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> CompareRun:
    """Ask every question by every route; records already in ``out`` are kept when
    ``resume``. Each route's models are warmed up (loaded) before its first timed question,
    so that latencies are per answer, and the warm-up seconds are reported apart.

    ``batch_size`` questions at a time are answered together by routes that can
    (``BatchAnswering``: base, finetuned, rag and hybrid, with a model that generates in
    batches); 1, and every other route, asks one by one. ``None`` picks per route what
    measured fastest (``default_batch_size``)."""
    if batch_size is not None and batch_size < 1:
        raise CompareError(f"batch_size must be 1 or more, not {batch_size}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    if path.exists() and not resume:
        raise CompareError(
            f"{path} holds results of an earlier compare; add --resume to continue it, or "
            "choose another --out folder"
        )
    done = {(r["id"], r["route"]): r for r in read_results(path)}
    ws.settings.cache.answers = False
    skipped: list[Skipped] = []
    records: list[dict[str, Any]] = []
    warmup: dict[str, float] = {}
    with path.open("a", encoding="utf-8") as fh:
        for route in routes:
            todo = [q for q in questions if (q.id, route) not in done]
            answerer = None
            if todo:
                try:
                    answerer = ws.answerer(route, model=model)
                except ExpertlyError as exc:
                    skipped.append(Skipped(route, str(exc), ENABLE.get(route, "")))
                    continue
                warmup[route] = _warm(ws, route, model)
            batches = isinstance(answerer, BatchAnswering) and answerer.generates_in_batches()
            size = (
                (batch_size or default_batch_size(route, ws.settings.llm.device)) if batches else 1
            )
            records += _ask_route(answerer, questions, route, done, size, fh, progress)
    return CompareRun(records, skipped, warmup)


def default_batch_size(route: str, device: str) -> int:
    """The batch size that measured fastest for ``route``: 8 for the closed-book routes
    (short prompts: 2.69x the tokens/s of one by one on 2 CPU cores), and for rag/hybrid 8
    on a GPU but 1 on a CPU, where a transformers batch of RAG prompts of several hundred
    tokens ran at 0.58x the tokens/s of one prompt at a time, and the onnx backend's (int8)
    at 1.04x the questions per minute and 0.98x the tokens/s, the same 12 answers: no gain
    worth padding for (docs/benchmarks.md, benchmarks/compare.py)."""
    if route in ("base", "finetuned"):
        return DEFAULT_BATCH
    from expertly.generate.local import resolve_device

    try:
        on_gpu = resolve_device(device) == "cuda"
    except ExpertlyError:
        on_gpu = False  # an unusable device setting fails where the model loads, not here
    return DEFAULT_BATCH if on_gpu else 1


def _ask_route(
    answerer: Any,
    questions: Sequence[Question],
    route: str,
    done: dict[tuple[str, str], dict[str, Any]],
    batch_size: int,
    fh: Any,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """The records of one route in question order: those in ``done`` as they are, the
    others asked in batches of up to ``batch_size`` consecutive questions (one by one when
    1, and always for multiple-choice questions), each appended as soon as it is known."""
    records: list[dict[str, Any]] = []
    batch: list[Question] = []

    def flush() -> None:
        if batch:
            records.extend(
                _ask_batch(answerer, batch, route, fh)
                if len(batch) > 1
                else [_ask(answerer, batch[0], route, fh)]
            )
            batch.clear()
            if progress is not None:
                progress(route, len(records), len(questions))

    for q in questions:
        if (q.id, route) in done or q.choices or batch_size <= 1:
            flush()
            known = done.get((q.id, route))
            records.append(known if known is not None else _ask(answerer, q, route, fh))
            if progress is not None:
                progress(route, len(records), len(questions))
            continue
        batch.append(q)
        if len(batch) >= batch_size:
            flush()
    flush()
    return records


def _warm(ws: Workspace, route: str, model: str | None) -> float:
    """Load the models ``route`` uses (the embedder, the base or fine-tuned LLM) now; the
    seconds it took. A model that fails to load is left to fail on the first question."""
    started = time.perf_counter()
    parts: list[Any] = []
    if route in ("finetuned", "hybrid"):
        parts.append(ws.finetuned_llm(model))
    else:
        parts.append(ws.llm)
    for part in parts:
        if isinstance(part, Warmable):
            part.warmup()
    if route != "base" and route != "finetuned":
        ws.embedder.embed(["warm-up"], kind="query")
    return time.perf_counter() - started


def _ask(answerer: Any, q: Question, route: str, fh: Any) -> dict[str, Any]:
    """Ask one question and append its record; a ``choices`` question is answered with one
    of its choices (``ChoiceAnswering``), or in free text mapped to a choice when the route
    cannot choose (the agent)."""
    question = q.question
    choosing = bool(q.choices) and isinstance(answerer, ChoiceAnswering)
    if q.choices and not choosing:
        question = choice_prompt(question, q.choices)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        answer = answerer.choose(question, q.choices) if choosing else answerer.answer(question)
    except ExpertlyError as exc:
        # the model's or a backend's failure on this question: recorded, the run goes on
        record = {
            **record_of(q, Answer(question=question, text="", route=route), 0.0, 0.0),
            "error": str(exc),
        }
    else:
        record = record_of(q, answer, time.perf_counter() - started, time.process_time() - cpu)
    record["route"] = route
    _append(fh, record)
    return record


def _ask_batch(answerer: Any, qs: Sequence[Question], route: str, fh: Any) -> list[dict[str, Any]]:
    """Records of ``qs`` answered together: each one's latency and CPU time are the batch's
    divided by its size (``batch_size`` in the record says so). When the batch fails, its
    questions are asked again one by one, so that the failure is recorded on the question
    that causes it and the others are still answered."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        answers = answerer.answer_batch([q.question for q in qs])
    except ExpertlyError:
        return [_ask(answerer, q, route, fh) for q in qs]
    seconds = (time.perf_counter() - started) / len(qs)
    cpu_s = (time.process_time() - cpu) / len(qs)
    records = []
    for q, answer in zip(qs, answers, strict=True):
        record = {**record_of(q, answer, seconds, cpu_s), "route": route, "batch_size": len(qs)}
        _append(fh, record)
        records.append(record)
    return records
