"""Training throughput: `expertly finetune --method lora` vs a bare PEFT + torch loop.

    .venv/bin/python benchmarks/finetune.py [--rounds 3] [--steps 6] [--threads 0] \
        [--out benchmarks/results/finetune.json]

Both sides train SmolLM2-135M-Instruct (fp32, CPU) on the same examples
(examples/style/train.jsonl, tokenised once by ``expertly.finetune.datasets.encode_all``),
with the same batch size, sequence length, LoRA configuration (the LoRA preset: r 16,
alpha 32, dropout 0.05, all linear layers) and AdamW at the same learning rate. The bare
loop is the minimum: right-padded batches, forward, backward, ``AdamW.step``. Throughput is
non-padding tokens per second of the training loop (model loading excluded on both sides).

Every measurement runs in its own subprocess, so that peak RSS (``ru_maxrss``) belongs to one
method. Rounds alternate which side goes first, and the ratio is the median of per-round
ratios: on a shared machine load drifts, and a paired ratio cancels most of it. Target:
expertly >= 0.9x the bare loop. Full fine-tuning runs the same steps once, for step time and
peak RSS against LoRA.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "style" / "train.jsonl"


def _settings(method: str, args: argparse.Namespace) -> Any:
    from expertly.finetune.config import FinetuneSettings

    return FinetuneSettings.preset(
        method,
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        eval_every=10_000,  # no evaluation or checkpoint inside the timed steps
        early_stopping_patience=0,
        val_fraction=0.0,
        warmup_ratio=0.0,
    )


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def worker_expertly(args: argparse.Namespace, method: str) -> dict[str, Any]:
    from expertly.finetune.trainer import run_finetune

    tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-ft-"))
    result = run_finetune(
        DATA,
        settings=_settings(method, args),
        runs_dir=tmp / "runs",
        models_dir=tmp / "models",
        base_model=str(args.base),
        name="bench",
        threads=args.threads,
    )
    return {
        "tokens": result.tokens,
        "seconds": result.seconds,
        "tokens_per_s": result.tokens / result.seconds,
        "seconds_per_step": result.seconds / result.steps,
        "steps": result.steps,
        "peak_rss_mib": peak_rss_mib(),
    }


def worker_bare(args: argparse.Namespace) -> dict[str, Any]:
    """A minimal PEFT + torch loop with the same model, data, batch and LoRA config."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expertly.finetune import datasets

    s = _settings("lora", args)
    torch.manual_seed(s.seed)
    tok = AutoTokenizer.from_pretrained(args.base)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    encoded, _ = datasets.encode_all(tok, datasets.load_jsonl(DATA), s.max_seq_len)
    model: Any = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules="all-linear",
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    order = list(range(len(encoded)))
    random.Random(s.seed).shuffle(order)
    tokens, started = 0, time.perf_counter()
    for step in range(s.max_steps):
        idx = [order[(step * s.batch_size + i) % len(order)] for i in range(s.batch_size)]
        rows = [encoded[i] for i in idx]
        width = max(len(r.input_ids) for r in rows)
        ids = torch.tensor([r.input_ids + [pad] * (width - len(r.input_ids)) for r in rows])
        labels = torch.tensor([r.labels + [-100] * (width - len(r.labels)) for r in rows])
        mask = torch.tensor(
            [[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in rows]
        )
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        tokens += int(mask.sum())
    seconds = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / s.max_steps,
        "steps": s.max_steps,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--base", str(args.base)]
    for name in ("steps", "batch_size", "max_seq_len", "threads"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = {
        **os.environ,
        **({"OMP_NUM_THREADS": str(args.threads)} if args.threads > 0 else {}),
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {kind} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="0 = expertly's default")
    parser.add_argument("--base", type=Path, default=None, help="converted model dir")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/finetune.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args.worker:
        import torch

        from expertly.config.threads import threads_for

        torch.set_num_threads(threads_for("train", args.threads))  # what run_finetune sets
        if args.worker == "bare":
            out = worker_bare(args)
        else:
            out = worker_expertly(args, args.worker.removeprefix("expertly-"))
        print(json.dumps(out))
        return

    from expertly.generate import models

    wall = time.perf_counter()
    if args.base is None:
        tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-base-"))
        args.base = models.convert_gguf(models.resolve_model(""), tmp)
    rounds = []
    for r in range(args.rounds):
        order = ("expertly-lora", "bare") if r % 2 == 0 else ("bare", "expertly-lora")
        pair = {kind: run_worker(kind, args) for kind in order}
        ratio = pair["expertly-lora"]["tokens_per_s"] / pair["bare"]["tokens_per_s"]
        rounds.append({"order": list(order), **pair, "ratio": round(ratio, 3)})
        print(f"round {r + 1}: ratio {ratio:.3f}", file=sys.stderr)
    full = run_worker("expertly-full", args)

    lora_steps = [x["expertly-lora"]["seconds_per_step"] for x in rounds]
    lora_rss = max(x["expertly-lora"]["peak_rss_mib"] for x in rounds)
    result = {
        "benchmark": "finetune",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            "torch_threads": args.threads or "expertly default (every core)",
        },
        "setup": {
            "model": "SmolLM2-135M-Instruct (fp32, CPU)",
            "data": str(DATA.relative_to(ROOT)),
            "steps_per_run": args.steps,
            "batch_size": args.batch_size,
            "max_seq_len": args.max_seq_len,
            "lora": "r 16, alpha 32, dropout 0.05, all-linear, AdamW lr 2e-4",
        },
        "rounds": rounds,
        "lora_throughput_ratio_median": statistics.median(x["ratio"] for x in rounds),
        "target_ratio": 0.9,
        "lora_vs_full": {
            "lora_seconds_per_step_median": round(statistics.median(lora_steps), 3),
            "full_seconds_per_step": round(full["seconds_per_step"], 3),
            "full_over_lora_step_time": round(
                full["seconds_per_step"] / statistics.median(lora_steps), 3
            ),
            "lora_peak_rss_mib": lora_rss,
            "full_peak_rss_mib": full["peak_rss_mib"],
            "bare_lora_peak_rss_mib": max(x["bare"]["peak_rss_mib"] for x in rounds),
            "full_run": full,
        },
        "seconds": round(time.perf_counter() - wall, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("lora_throughput_ratio_median", "lora_vs_full")}))


if __name__ == "__main__":
    main()
