"""The fine-tuning route on the demo corpus: build a dataset, LoRA-train, measure what changed.

    .venv/bin/python benchmarks/finetune_demo.py [--max-pairs 40] [--minutes 7] \
        [--out benchmarks/results/finetune_demo.json]

1. ``examples/corpus`` is ingested into a temporary workspace (the hashing embedder: the
   dataset is built from chunks, which do not depend on the embedder).
2. ``build_dataset`` synthesizes pairs offline, removes the ones that overlap
   ``examples/questions.jsonl`` and splits by document (validation = unseen documents).
3. ``run_finetune`` trains a LoRA adapter on SmolLM2-135M-Instruct for at most
   ``--minutes`` (it stops cleanly at the limit), on ``--threads`` torch threads.
4. Measured: validation loss (per assistant token, on the held-out documents' pairs) of the
   base model and of the final adapter, and closed-book accuracy on a seeded sample of
   the training questions and of the validation questions, base vs tuned. An answer is
   correct when the normalised gold span (verbatim document text) is contained in it, as
   whole words.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from expertly.config import EmbedderSettings, LLMSettings, Settings
from expertly.finetune import datasets
from expertly.finetune.build import BuildOptions, build_dataset
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.dedup import normalise
from expertly.finetune.trainer import run_finetune
from expertly.generate import models
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def closed_book(model: Any, tok: Any, rows: list[dict[str, Any]], max_new: int) -> dict[str, Any]:
    """Greedy answers to each row's question; correct = the normalised span is contained."""
    import torch

    correct, answers = 0, []
    started = time.perf_counter()
    for row in rows:
        chat = [m for m in row["messages"] if m["role"] != "assistant"]
        ids = tok.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=max_new, do_sample=False)
        text = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        ok = f" {normalise(row['metadata']['span'])} " in f" {normalise(text)} "
        correct += ok
        answers.append({"question": chat[-1]["content"], "answer": text, "correct": ok})
    return {
        "correct": correct,
        "total": len(rows),
        "accuracy": round(correct / len(rows), 3) if rows else 0.0,
        "seconds": round(time.perf_counter() - started, 1),
        "answers": answers,
    }


def val_loss(model: Any, tok: Any, path: Path, max_seq_len: int) -> float:
    """Mean loss per assistant token of a JSONL file (the tokens ``expertly finetune`` learns)."""
    import torch

    encoded, _ = datasets.encode_all(tok, datasets.load_jsonl(path), max_seq_len)
    total, count = 0.0, 0
    model.eval()
    for e in encoded:
        ids, labels = torch.tensor([e.input_ids]), torch.tensor([e.labels])
        with torch.inference_mode():
            loss = model(input_ids=ids, labels=labels).loss
        n = sum(1 for x in e.labels[1:] if x != datasets.IGNORE)  # labels are shifted by one
        total, count = total + float(loss) * n, count + n
    return round(total / count, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pairs", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=7.0, help="training time limit")
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-len", type=int, default=96)
    parser.add_argument("--threads", type=int, default=0, help="0 = expertly's default")
    parser.add_argument("--sample", type=int, default=16, help="questions per accuracy check")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/finetune_demo.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="expertly-ft-demo-"))
    settings = Settings(embedder=EmbedderSettings(backend="hashing"), llm=LLMSettings())
    ws = Workspace(tmp / "ws", settings)
    t0 = time.perf_counter()
    ws.ingestor.ingest([ROOT / "examples/corpus"])
    ingest_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    options = BuildOptions(
        max_pairs=args.max_pairs,
        val_fraction=0.15,
        split="doc",
        eval_path=ROOT / "examples/questions.jsonl",
    )
    report = build_dataset(ws.store, tmp / "data", options)
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    base_dir = models.convert_gguf(models.resolve_model(""), tmp / "models")
    convert_s = time.perf_counter() - t0
    ft = FinetuneSettings.preset(
        "lora",
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        eval_every=1000,  # no validation inside the run: the final adapter is the one measured
        early_stopping_patience=0,
        val_fraction=0.0,
        max_minutes=args.minutes,
    )
    t0 = time.perf_counter()
    result = run_finetune(
        tmp / "data" / "train.jsonl",
        settings=ft,
        runs_dir=tmp / "runs",
        models_dir=tmp / "models",
        base_model=str(base_dir),
        name="demo",
        threads=args.threads,
    )
    train_s = time.perf_counter() - t0

    rng = random.Random(0)
    train_rows = records(tmp / "data" / "train.jsonl")
    val_rows = records(tmp / "data" / "val.jsonl")
    train_sample = rng.sample(train_rows, min(args.sample, len(train_rows)))
    val_sample = rng.sample(val_rows, min(args.sample // 2, len(val_rows)))
    tok = AutoTokenizer.from_pretrained(base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    val_path = tmp / "data" / "val.jsonl"
    base_val_loss = val_loss(base, tok, val_path, args.max_seq_len)
    base_train = closed_book(base, tok, train_sample, args.max_new_tokens)
    base_val = closed_book(base, tok, val_sample, args.max_new_tokens)
    tuned = PeftModel.from_pretrained(base, result.output_dir)
    tuned_val_loss = val_loss(tuned, tok, val_path, args.max_seq_len)
    tuned_train = closed_book(tuned, tok, train_sample, args.max_new_tokens)
    tuned_val = closed_book(tuned, tok, val_sample, args.max_new_tokens)

    out: dict[str, Any] = {
        "benchmark": "finetune_demo",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            "torch_threads": args.threads or "expertly default (every core)",
        },
        "dataset": {
            k: v for k, v in report.to_dict().items() if k not in ("files", "out_dir", "leaked")
        },
        "leaked_questions": [leak["question"] for leak in report.leaked],
        "training": {
            "settings": ft.to_dict(),
            "status": result.status,
            "steps": result.steps,
            "train_examples": result.train_examples,
            "val_examples": result.val_examples,
            "truncated_examples": result.truncated_examples,
            "seconds": result.seconds,
            "seconds_per_step": result.seconds_per_step,
            "tokens_per_s": result.tokens_per_s,
            "train_loss_first_last": [result.train_loss[0], result.train_loss[-1]],
            "val_loss_before": base_val_loss,
            "val_loss_after": tuned_val_loss,
        },
        "closed_book": {
            "training_questions": {"base": base_train, "tuned": tuned_train},
            "validation_questions (unseen documents)": {"base": base_val, "tuned": tuned_val},
        },
        "seconds": {
            "ingest": round(ingest_s, 1),
            "build_dataset": round(build_s, 2),
            "convert_model": round(convert_s, 1),
            "train_including_load": round(train_s, 1),
            "total": round(time.perf_counter() - wall, 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {
        "val_loss": [out["training"]["val_loss_before"], out["training"]["val_loss_after"]],
        "train_acc": [base_train["accuracy"], tuned_train["accuracy"]],
        "val_acc": [base_val["accuracy"], tuned_val["accuracy"]],
        "steps": result.steps,
        "train_s": result.seconds,
        "status": result.status,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
