"""``dataset build``: synthesize pairs from the store, clean them, split them, write JSONL.

The steps, each counted in the report so that nothing disappears unexplained::

    chunks ─▶ pairs (offline generator, or a teacher LLM) ─▶ de-duplication
           ─▶ leakage check against an evaluation file ─▶ --max-pairs sample ─▶ style
           ─▶ seeded train/validation split ─▶ train.jsonl, val.jsonl, report.json

val.jsonl is written only when the validation side is not empty. The JSONL is the chat
form ``expertly finetune`` reads; each line also carries
``metadata`` (document, chunk, generator, verbatim span) so that a pair can be traced to
its source and an answer checked against the span.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError
from expertly.finetune.dedup import dedup, find_leaks, load_eval, split_pairs
from expertly.finetune.synthesize import (
    ChunkSource,
    Progress,
    QAPair,
    iter_chunks,
    offline_pairs,
    parse_style,
    sample,
    stylize,
)
from expertly.finetune.teacher import TeacherStats, teacher_pairs
from expertly.generate import LLM


@dataclass
class BuildOptions:
    """How ``build_dataset`` builds.

    Args:
        max_pairs: most pairs written (train + validation); 0 = all.
        split: ``doc`` (a document's pairs all go to one side) or ``question``.
        near_duplicate: question-token Jaccard at or above which two questions are one.
        style: answer template such as ``"Answer: {answer}\\nSource: {source}"``; empty
            keeps the answers as generated.
        system: a system message put before every question; empty = none.
    """

    max_pairs: int = 0
    seed: int = 42
    val_fraction: float = 0.1
    split: str = "doc"
    near_duplicate: float = 0.9
    eval_path: Path | None = None
    style: str = ""
    system: str = ""
    per_chunk: int = 3


@dataclass
class BuildReport:
    """Counts of every step, where the files are, and the leaked pairs that were removed."""

    out_dir: str
    chunks: int = 0
    generated: int = 0
    duplicates_removed: int = 0
    leaked_removed: int = 0
    sampled_out: int = 0
    train: int = 0
    val: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    teacher: dict[str, Any] | None = None
    leaked: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_dataset(
    source: ChunkSource,
    out_dir: Path,
    options: BuildOptions,
    *,
    teacher: LLM | None = None,
    on_progress: Progress | None = None,
) -> BuildReport:
    """Build train.jsonl / val.jsonl / report.json in ``out_dir`` (see the module docstring).

    With ``teacher`` set, an LLM writes the pairs (and only grounded ones are kept);
    otherwise the deterministic offline generator does. Inputs are checked before any chunk
    is read: a bad style template or evaluation file writes nothing.
    """
    if options.style:
        parse_style(options.style)
    evals = load_eval(options.eval_path) if options.eval_path is not None else []
    chunks = list(iter_chunks(source))
    if not chunks:
        raise ExpertlyError("The workspace has no documents; run `expertly ingest PATH` first")
    report = BuildReport(str(out_dir), chunks=len(chunks))
    stats = TeacherStats() if teacher is not None else None
    if teacher is not None:  # a cap is sampled across documents, not the first few
        random.Random(options.seed).shuffle(chunks)
    pairs: list[QAPair] = []
    for done, (chunk, title) in enumerate(chunks, start=1):
        if teacher is not None and stats is not None:
            if options.max_pairs and len(pairs) >= options.max_pairs:
                break  # each teacher call is slow: stop once enough pairs exist
            pairs += teacher_pairs(teacher, chunk, title, stats, per_chunk=options.per_chunk)
        else:
            pairs += offline_pairs(chunk, title)
        if on_progress is not None:
            on_progress(done, len(chunks))
    report.generated = len(pairs)
    if stats is not None:
        report.teacher = asdict(stats)

    pairs, report.duplicates_removed = dedup(
        pairs, lambda p: p.question, threshold=options.near_duplicate
    )
    if evals:
        leaks = find_leaks(
            [(p.question, p.answer) for p in pairs], evals, threshold=options.near_duplicate
        )
        leaked = {leak.index for leak in leaks}
        report.leaked = [{**asdict(leak), "question": pairs[leak.index].question} for leak in leaks]
        pairs = [p for i, p in enumerate(pairs) if i not in leaked]
        report.leaked_removed = len(leaked)
    kept = sample(pairs, options.max_pairs, options.seed)
    report.sampled_out = len(pairs) - len(kept)
    if options.style:
        kept = stylize(kept, options.style)
    if not kept:
        raise ExpertlyError(
            "No question/answer pairs were left to write "
            f"({report.generated} generated, {report.duplicates_removed} duplicates, "
            f"{report.leaked_removed} leaked); ingest more documents or try --teacher"
        )
    train, val = split_pairs(
        kept,
        by=options.split,
        doc=lambda p: p.doc_id,
        val_fraction=options.val_fraction,
        seed=options.seed,
    )
    report.train, report.val = len(train), len(val)
    report.by_kind = dict(Counter(p.kind for p in kept))
    out_dir.mkdir(parents=True, exist_ok=True)
    report.files = {"train": str(_write_jsonl(out_dir / "train.jsonl", train, options.system))}
    if val:  # an empty file would be refused by `expertly finetune --val`
        report.files["val"] = str(_write_jsonl(out_dir / "val.jsonl", val, options.system))
    else:
        (out_dir / "val.jsonl").unlink(missing_ok=True)  # not a stale one from an earlier build
    report.files["report"] = str(out_dir / "report.json")
    _write_text(out_dir / "report.json", json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _write_jsonl(path: Path, pairs: list[QAPair], system: str) -> Path:
    lines = [json.dumps(p.to_record(system), ensure_ascii=False) for p in pairs]
    _write_text(path, "".join(line + "\n" for line in lines))
    return path


def _write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically, so a reader never sees half a dataset."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
