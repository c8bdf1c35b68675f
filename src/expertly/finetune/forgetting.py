"""The forgetting check: what a fine-tuned model lost outside the user's data.

Fine-tuning a small model on a narrow dataset can damage what it knew before (catastrophic
forgetting). Two cheap probes, shipped with the package, are run on the model before and
after training:

- **perplexity** on ``data/general_text.jsonl``: short neutral paragraphs of general
  knowledge written for this project (lower is better; a rise means the model finds
  ordinary English less likely than before);
- **accuracy** on ``data/general_questions.jsonl``: easy questions with short answers that
  the packaged SmolLM2-135M-Instruct mostly answers correctly, asked with greedy decoding
  and checked by whole-word match of any accepted answer.

"Before" is the base model: for a PEFT adapter the adapter is switched off while measuring,
so the check can run at any time; for full fine-tuning it runs before training starts.
Both probes together take a few seconds on one CPU thread (batched forward passes and
batched greedy generation). torch is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SYSTEM = "Answer the question in a few words."
MAX_NEW_TOKENS = 12  # the shipped answers all come within the first ten tokens
MAX_TEXT_TOKENS = 32  # each paragraph is scored on its first 32 tokens (~1,000 in all)
BATCH = 32


@dataclass(frozen=True)
class Question:
    """A general question and the answers accepted (any one, whole word, any case)."""

    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class GeneralScore:
    """One measurement of general ability."""

    perplexity: float
    accuracy: float
    correct: int
    questions: int
    seconds: float
    replies: list[str] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Forgetting:
    """Before/after general scores, their relative change and any warnings."""

    before: GeneralScore
    after: GeneralScore
    perplexity_change: float  # (after - before) / before: +0.2 = 20 % more perplexed
    accuracy_change: float  # after - before, in points of accuracy (0.1 = ten points)
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for side in ("before", "after"):
            out[side].pop("replies")
        return out


def _lines(name: str) -> list[dict[str, Any]]:
    text = resources.files("expertly.finetune").joinpath("data", name).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def general_texts() -> list[str]:
    """The shipped general-text sample (paragraphs)."""
    return [str(row["text"]) for row in _lines("general_text.jsonl")]


def general_questions() -> list[Question]:
    """The shipped general questions."""
    return [
        Question(str(r["question"]), tuple(str(a) for a in r["answers"]))
        for r in _lines("general_questions.jsonl")
    ]


def is_correct(reply: str, answers: Sequence[str]) -> bool:
    """True when any accepted answer appears in ``reply`` as whole words (any case)."""
    return any(
        re.search(rf"(?<!\w){re.escape(a)}(?!\w)", reply, flags=re.IGNORECASE) for a in answers
    )


def measure(
    model: Any,
    tok: Any,
    texts: Sequence[str] | None = None,
    questions: Sequence[Question] | None = None,
) -> GeneralScore:
    """Perplexity on ``texts`` and accuracy on ``questions`` (default: the shipped sets)."""
    texts = general_texts() if texts is None else texts
    questions = general_questions() if questions is None else questions
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        ppl = perplexity(model, tok, texts)
        replies = answer(model, tok, [q.question for q in questions])
    finally:
        model.train(was_training)
    correct = sum(is_correct(r, q.answers) for r, q in zip(replies, questions, strict=True))
    return GeneralScore(
        perplexity=round(ppl, 3),
        accuracy=round(correct / len(questions), 4) if questions else 0.0,
        correct=correct,
        questions=len(questions),
        seconds=round(time.perf_counter() - started, 2),
        replies=replies,
    )


def perplexity(model: Any, tok: Any, texts: Sequence[str]) -> float:
    """exp(mean next-token loss) over the first ``MAX_TEXT_TOKENS`` tokens of every text."""
    import torch
    import torch.nn.functional as F

    total_loss, total_tokens = 0.0, 0
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        for i in range(0, len(texts), BATCH):
            enc = tok(
                list(texts[i : i + BATCH]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=MAX_TEXT_TOKENS,
            )
            ids, mask = enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device)
            with torch.inference_mode():
                logits = model(input_ids=ids, attention_mask=mask).logits
            labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                labels.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            total_loss += float(loss)
            total_tokens += int((labels != -100).sum())
    finally:
        tok.padding_side = side
    return math.exp(total_loss / max(1, total_tokens))


def answer(model: Any, tok: Any, questions: Sequence[str]) -> list[str]:
    """Greedy short replies to ``questions`` (batched generation, left-padded)."""
    import torch

    replies: list[str] = []
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        for i in range(0, len(questions), BATCH):
            chats = [
                [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]
                for q in questions[i : i + BATCH]
            ]
            prompts = [
                tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                for c in chats
            ]
            enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=MAX_NEW_TOKENS,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
            width = enc["input_ids"].shape[1]
            replies += [tok.decode(row[width:], skip_special_tokens=True) for row in out]
    finally:
        tok.padding_side = side
    return replies


def cached(
    cache: Path, key: dict[str, Any], measure_fn: Callable[[], GeneralScore]
) -> GeneralScore:
    """``measure_fn()``, remembered in the JSON file ``cache`` under ``key``.

    The base model's score depends only on the base weights, how they are loaded and the
    shipped probes, so every run from the same base shares one measurement: later runs pay
    for the "after" half of the check only.
    """
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    try:
        saved = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        saved = {}
    if isinstance(saved, dict) and isinstance(saved.get(fingerprint), dict):
        try:
            return GeneralScore(**saved[fingerprint])
        except TypeError:
            pass  # written by another version: measure again
    score = measure_fn()
    saved = saved if isinstance(saved, dict) else {}
    saved[fingerprint] = {**asdict(score), "replies": []}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    os.replace(tmp, cache)
    return score


def probe_digest() -> str:
    """Changes whenever the shipped probes do (part of the cache key)."""
    digest = hashlib.sha256()
    for name in ("general_text.jsonl", "general_questions.jsonl"):
        digest.update(resources.files("expertly.finetune").joinpath("data", name).read_bytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def base_model(model: Any) -> Iterator[Any]:
    """The base model inside ``model``: a PEFT model with its adapter switched off."""
    if hasattr(model, "disable_adapter") and hasattr(model, "peft_config"):
        with model.disable_adapter():
            yield model
    else:
        yield model


def compare(
    before: GeneralScore, after: GeneralScore, *, max_ppl_increase: float, max_accuracy_drop: float
) -> Forgetting:
    """The change from ``before`` to ``after``, with a warning for each threshold passed."""
    ppl_change = (after.perplexity - before.perplexity) / before.perplexity
    acc_change = after.accuracy - before.accuracy
    warnings = []
    if ppl_change > max_ppl_increase:
        warnings.append(
            f"General-text perplexity rose {ppl_change:+.0%} ({before.perplexity:.2f} → "
            f"{after.perplexity:.2f}), past the {max_ppl_increase:.0%} limit: the model is "
            "forgetting general language. Try fewer steps, a lower learning rate, or mix "
            "general data into the training set."
        )
    if -acc_change > max_accuracy_drop:
        warnings.append(
            f"General-question accuracy fell from {before.accuracy:.0%} to {after.accuracy:.0%} "
            f"({after.correct}/{after.questions}), past the {max_accuracy_drop:.0%} limit: try "
            "fewer steps, a lower learning rate, or an adapter method with a smaller rank."
        )
    return Forgetting(before, after, round(ppl_change, 4), round(acc_change, 4), warnings)
