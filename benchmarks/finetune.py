"""Training throughput: `expertly finetune --method lora` vs a bare PEFT loop and TRL.

    .venv/bin/python benchmarks/finetune.py [--rounds 3] [--steps 6] [--threads 0] \
        [--out benchmarks/results/finetune.json] [--no-packing] [--no-full] \
        [--trl-python benchmarks/.venv-trl/bin/python]

    make bench-finetune-trl     # builds benchmarks/.venv-trl (TRL + datasets) and runs it

Both sides train SmolLM2-135M-Instruct (fp32, CPU) on the same examples
(examples/style/train.jsonl, tokenised once by ``expertly.finetune.datasets.encode_all``),
with the same batch size, sequence length, LoRA configuration (the LoRA preset: r 16,
alpha 32, dropout 0.05, all linear layers) and AdamW at the same learning rate. The bare
loop is the minimum: right-padded batches, forward, backward, ``AdamW.step``. Throughput is
non-padding tokens per second of the training loop (model loading excluded on both sides).

When ``--trl-python`` names a Python that imports ``trl`` (``make bench-finetune-trl`` builds
one in benchmarks/.venv-trl, a venv that sees .venv's packages and adds only TRL and
``datasets``, so TRL never enters the project's environment), a stock TRL ``SFTTrainer`` LoRA
run joins each round: the same model, pre-tokenised examples (the same labels), batch,
sequence length, steps, LoRA configuration and learning rate, with the two SFTConfig
defaults that would change the experiment set to expertly's: ``gradient_checkpointing=False``
and ``bf16=False`` (fp32). ``expertly-lora-packed`` is expertly with ``packing`` on: its
steps carry more examples, so compare its tokens/s, not its loss after the same steps.
``expertly-lora-allhead`` is expertly with ``head_on_labels`` off: the output layer and the
loss at every position, as the model's own forward computes them (and as the bare loop and
TRL do); ``expertly-lora-torchdropout`` is expertly with ``fast_dropout`` off (torch's own
dropout masks, as the bare loop and TRL draw them).

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


def _settings(
    method: str,
    args: argparse.Namespace,
    *,
    packing: bool = False,
    head_on_labels: bool = True,
    fast_dropout: bool = True,
) -> Any:
    from expertly.finetune.config import FinetuneSettings

    return FinetuneSettings.preset(
        method,
        packing=packing,
        head_on_labels=head_on_labels,
        fast_dropout=fast_dropout,
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        eval_every=10_000,  # no evaluation or checkpoint inside the timed steps
        early_stopping_patience=0,
        val_fraction=0.0,
        warmup_ratio=0.0,
    )


def _lora_config(s: Any) -> Any:
    """The LoRA preset of settings ``s`` as a PEFT ``LoraConfig``, for the bare loop and TRL."""
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM",
        r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules="all-linear",
    )


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _final_loss(losses: list[float]) -> dict[str, float]:
    """The last logged training loss and the mean of the last five (one step is noisy)."""
    tail = losses[-5:]
    return {"final_loss": round(losses[-1], 4), "last5_loss_mean": round(sum(tail) / len(tail), 4)}


def worker_expertly(args: argparse.Namespace, method: str, variant: str) -> dict[str, Any]:
    from expertly.finetune.trainer import run_finetune

    tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-ft-"))
    result = run_finetune(
        DATA,
        settings=_settings(
            method,
            args,
            packing=variant == "packed",
            head_on_labels=variant != "allhead",
            fast_dropout=variant != "torchdropout",
        ),
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
        "precision": result.precision["name"],
        "optimizer": result.optimizer,
        "packed_rows": result.packed_rows,
        **_final_loss([loss for _, loss in result.train_loss]),
    }


def worker_bare(args: argparse.Namespace) -> dict[str, Any]:
    """A minimal PEFT + torch loop with the same model, data, batch and LoRA config."""
    import random

    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expertly.finetune import datasets

    s = _settings("lora", args)
    torch.manual_seed(s.seed)
    tok = AutoTokenizer.from_pretrained(args.base)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    encoded, _ = datasets.encode_all(tok, datasets.load_jsonl(DATA), s.max_seq_len)
    model: Any = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    lora = _lora_config(s)
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    order = list(range(len(encoded)))
    random.Random(s.seed).shuffle(order)
    tokens, started, losses = 0, time.perf_counter(), []
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
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / s.max_steps,
        "steps": s.max_steps,
        "peak_rss_mib": peak_rss_mib(),
        "optimizer": "torch.optim.AdamW (defaults: foreach)",
        **_final_loss(losses),
    }


def worker_trl(args: argparse.Namespace) -> dict[str, Any]:
    """A stock TRL ``SFTTrainer`` LoRA run on the same pre-tokenised examples and labels."""
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expertly.finetune import datasets

    s = _settings("lora", args)
    torch.manual_seed(s.seed)
    tok = AutoTokenizer.from_pretrained(args.base)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    encoded, _ = datasets.encode_all(tok, datasets.load_jsonl(DATA), s.max_seq_len)
    data = Dataset.from_dict(
        {"input_ids": [e.input_ids for e in encoded], "labels": [e.labels for e in encoded]}
    )
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    lora = _lora_config(s)
    config = trl.SFTConfig(
        output_dir=tempfile.mkdtemp(prefix="expertly-bench-trl-"),
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.scheduler,
        weight_decay=s.weight_decay,
        warmup_steps=0,
        max_length=s.max_seq_len,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=s.seed,
        include_num_input_tokens_seen="non_padding",
        gradient_checkpointing=False,  # TRL's default is on; expertly's is off
        bf16=False,  # TRL's default is bf16; expertly trains in fp32 on CPU
    )
    trainer = trl.SFTTrainer(
        model=model, args=config, train_dataset=data, processing_class=tok, peft_config=lora
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = int(trainer.state.num_input_tokens_seen)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / trainer.state.global_step,
        "steps": trainer.state.global_step,
        "peak_rss_mib": peak_rss_mib(),
        "trl_version": trl.__version__,
        "optimizer": str(config.optim),
        **_final_loss(losses),
    }


def trl_python_problem(python: Path) -> str:
    """Why ``python`` cannot run the TRL worker ('' when it can)."""
    if not python.exists():
        return f"{python} does not exist (make bench-finetune-trl builds it)"
    done = subprocess.run(
        [str(python), "-c", "import trl, datasets, expertly"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def run_worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    python = str(args.trl_python) if kind == "trl" else sys.executable
    cmd = [python, __file__, "--worker", kind, "--base", str(args.base)]
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
    parser.add_argument(
        "--trl-python",
        type=Path,
        default=ROOT / "benchmarks/.venv-trl/bin/python",
        help="a Python that imports trl and datasets; TRL is skipped when it cannot",
    )
    parser.add_argument("--no-packing", action="store_true", help="skip expertly-lora-packed")
    parser.add_argument("--no-full", action="store_true", help="skip the full fine-tuning run")
    parser.add_argument(
        "--no-allhead",
        action="store_true",
        help="skip expertly-lora-allhead (head_on_labels off: logits at every position)",
    )
    parser.add_argument(
        "--no-torchdropout",
        action="store_true",
        help="skip expertly-lora-torchdropout (fast_dropout off: torch's dropout masks)",
    )
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
        elif args.worker == "trl":
            out = worker_trl(args)
        else:
            method, _, variant = args.worker.removeprefix("expertly-").partition("-")
            out = worker_expertly(args, method, variant)
        print(json.dumps(out))
        return

    from expertly.generate import models

    wall = time.perf_counter()
    if args.base is None:
        tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-base-"))
        args.base = models.convert_gguf(models.resolve_model(""), tmp)
    trl_problem = trl_python_problem(args.trl_python)
    kinds = ["expertly-lora", "bare"]
    kinds += [] if args.no_packing else ["expertly-lora-packed"]
    kinds += [] if args.no_allhead else ["expertly-lora-allhead"]
    kinds += [] if args.no_torchdropout else ["expertly-lora-torchdropout"]
    kinds += [] if trl_problem else ["trl"]
    rounds = []
    for r in range(args.rounds):
        order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]  # each side leads in turn
        runs = {}
        for kind in order:
            runs[kind] = run_worker(kind, args)
            print(
                f"round {r + 1}: {kind} {runs[kind]['tokens_per_s']:.1f} tokens/s", file=sys.stderr
            )
        tps = {kind: runs[kind]["tokens_per_s"] for kind in runs}
        ratios = {"expertly_over_bare": round(tps["expertly-lora"] / tps["bare"], 3)}
        if "trl" in tps:
            ratios["expertly_over_trl"] = round(tps["expertly-lora"] / tps["trl"], 3)
        if "expertly-lora-packed" in tps:
            ratios["packed_over_unpacked"] = round(
                tps["expertly-lora-packed"] / tps["expertly-lora"], 3
            )
            if "trl" in tps:
                ratios["packed_over_trl"] = round(tps["expertly-lora-packed"] / tps["trl"], 3)
        if "expertly-lora-allhead" in tps:
            ratios["labels_head_over_all_positions"] = round(
                tps["expertly-lora"] / tps["expertly-lora-allhead"], 3
            )
        if "expertly-lora-torchdropout" in tps:
            ratios["fast_dropout_over_torch_dropout"] = round(
                tps["expertly-lora"] / tps["expertly-lora-torchdropout"], 3
            )
        rounds.append({"order": order, **runs, "ratio": ratios["expertly_over_bare"], **ratios})
    full = None if args.no_full else run_worker("expertly-full", args)

    lora_steps = [x["expertly-lora"]["seconds_per_step"] for x in rounds]
    lora_rss = max(x["expertly-lora"]["peak_rss_mib"] for x in rounds)
    medians = {
        name: statistics.median(x[name] for x in rounds)
        for name in (
            "expertly_over_bare",
            "expertly_over_trl",
            "packed_over_unpacked",
            "packed_over_trl",
            "labels_head_over_all_positions",
            "fast_dropout_over_torch_dropout",
        )
        if name in rounds[0]
    }
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
            "sides": kinds,
            "tokens_per_s": "non-padding tokens per second of the training loop",
        },
        "rounds": rounds,
        "lora_throughput_ratio_median": statistics.median(x["ratio"] for x in rounds),
        "ratio_medians": medians,
        "trl": "included" if not trl_problem else f"skipped: {trl_problem}",
        "target_ratio": 0.9,
        "lora_vs_full": None
        if full is None
        else {
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
    print(json.dumps({k: result[k] for k in ("ratio_medians", "trl", "lora_vs_full")}))


if __name__ == "__main__":
    main()
