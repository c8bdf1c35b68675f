"""CPU threads per operation: the measurements behind ``expertly.threads``' policy.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/threads.py \\
        [--index WS/eval/scifact-all-MiniLM-L6-v2] [--rounds 6] [--ops search,query,...]

Every operation runs with 1 thread and with every core, in one process, interleaved
(A B B A per round, so neither side always runs first), and each figure is recorded with the
load average at that moment; the ratio of the medians is the figure to read on a shared
machine. Operations:

- ``search``: ``Retriever.search(q, k=100)`` with the default settings on an indexed corpus
  (``--index``, e.g. the index ``expertly eval retrieval`` builds for SciFact), per query,
  SciFact test queries (``--queries``); torch threads x numpy's BLAS threads;
- ``query``: one query embedded (the packaged MiniLM), per call;
- ``batch``: 64 passages of ~200 tokens embedded (ingest), per batch;
- ``generate-transformers`` / ``generate-onnx``: 64 tokens decoded greedily after a ~300-token
  prompt (SmolLM2-135M-Instruct; ONNX Runtime's intra-op pool is fixed when a session is
  made, so each thread count has its own instance);
- ``train``: one forward + backward + AdamW step of SmolLM2-135M on 8 x 128 tokens.

Results: ``benchmarks/results/threads.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(n, user_api="blas"):
        yield


def queries(data: Path, n: int) -> list[str]:
    wanted = {
        line.split("\t")[0]
        for line in (data / "qrels-test.tsv").read_text().splitlines()[1:]
        if line.strip()
    }
    out = []
    for line in (data / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["_id"] in wanted:
            out.append(row["text"])
    return out[:n]


def passages(data: Path, n: int) -> list[str]:
    out = []
    for line in (data / "corpus.jsonl").read_text().splitlines()[:n]:
        row = json.loads(line)
        out.append(" ".join(f"{row['title']} {row['text']}".split()[:150]))
    return out


Condition = tuple[str, Callable[[], Any]]  # a name, and what puts it in place


def interleave(
    op: str, conditions: dict[str, Callable[[], Any]], work: Callable[[], list[float]], rounds: int
) -> dict[str, Any]:
    """``work`` (seconds per unit) under each condition, A B B A ..., with load averages."""
    names = list(conditions)
    samples: dict[str, list[float]] = {n: [] for n in names}
    loads: dict[str, list[list[float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            with conditions[name]():
                samples[name].extend(work())
            loads[name].append(load())
    out: dict[str, Any] = {}
    for name in names:
        s = sorted(samples[name])
        out[name] = {
            "p50_ms": round(statistics.median(s) * 1000, 2),
            "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))] * 1000, 2),
            "n": len(s),
            "load_average_1m": [x[0] for x in loads[name]],
        }
    base = names[0]
    for name in names[1:]:
        out[name]["p50_over_" + base] = round(out[name]["p50_ms"] / out[base]["p50_ms"], 3)
    print(op, json.dumps(out), file=sys.stderr, flush=True)
    return out


def thread_conditions(counts: list[int]) -> dict[str, Callable[[], Any]]:
    return {f"torch_{n}": (lambda n=n: torch_threads(n)) for n in counts}


def embedder_conditions(embedder: Any, counts: list[int]) -> dict[str, Callable[[], Any]]:
    """The embedder's own ``threads`` setting (it scopes torch's count inside ``embed``)."""

    def use(n: int) -> Callable[[], Any]:
        @contextmanager
        def cm() -> Iterator[None]:
            before, embedder.threads = embedder.threads, n
            try:
                yield
            finally:
                embedder.threads = before

        return cm

    return {f"torch_{n}": use(n) for n in counts}


def op_search(args: argparse.Namespace, qs: list[str]) -> dict[str, Any]:
    from expertly.config import threads as policy
    from expertly.retrieve.hybrid import Retriever
    from expertly.workspace import Workspace

    ws = Workspace(args.index)
    model = ws._embedding_model  # the model itself: the query cache would skip embedding
    retriever = Retriever(ws.store, model, ws.settings.retrieval)
    retriever.search(qs[0], k=100)

    def work() -> list[float]:
        out = []
        for q in qs:
            started = time.perf_counter()
            retriever.search(q, k=100)
            out.append(time.perf_counter() - started)
        return out

    def both(t: int, b: int) -> Callable[[], Any]:
        @contextmanager
        def cm() -> Iterator[None]:
            # a positive embedder.threads and the search's BLAS count, as the policy sets them
            before = (model.threads, policy.POLICY["search"])
            model.threads, policy.POLICY["search"] = t, b
            try:
                yield
            finally:
                model.threads, policy.POLICY["search"] = before

        return cm

    conditions = {f"torch_{t}_blas_{b}": both(t, b) for t in (1, CORES) for b in (1, CORES)}
    try:
        return interleave("search", conditions, work, args.rounds)
    finally:
        ws.close()


def op_query(args: argparse.Namespace, qs: list[str]) -> dict[str, Any]:
    from expertly.embed.local import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.load()

    def work() -> list[float]:
        out = []
        for q in qs:
            started = time.perf_counter()
            embedder.embed([q], kind="query")
            out.append(time.perf_counter() - started)
        return out

    return interleave("query", embedder_conditions(embedder, [1, CORES]), work, args.rounds)


def op_batch(args: argparse.Namespace) -> dict[str, Any]:
    from expertly.embed.local import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.load()
    texts = passages(args.data, 64)

    def work() -> list[float]:
        started = time.perf_counter()
        embedder.embed(texts, kind="passage")
        return [time.perf_counter() - started]

    return interleave("batch", embedder_conditions(embedder, [1, CORES]), work, args.rounds)


def prompt_ids(tok: Any) -> list[int]:
    text = " ".join(passages(ROOT.parent / "shared/data/scifact", 3))
    return list(tok.encode(text, add_special_tokens=False)[:300])


def op_generate_transformers(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from expertly.generate.local import TransformersLLM

    llm = TransformersLLM(cache_dir=args.cache)
    model, tok = llm._load()
    ids = torch.tensor([prompt_ids(tok)])

    def work() -> list[float]:
        started = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=64,
                min_new_tokens=64,
                do_sample=False,
                pad_token_id=2,
            )
        return [(time.perf_counter() - started) / 64]

    return interleave("generate-transformers", thread_conditions([1, CORES]), work, args.rounds)


def op_generate_onnx(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import onnxruntime_genai as og

    from expertly.generate.ort import OnnxLLM

    counts = {"ort_1": 1, f"ort_{CORES}": CORES, "ort_default": 0}
    models = {name: OnnxLLM(cache_dir=args.cache, threads=n)._load() for name, n in counts.items()}
    tok = OnnxLLM(cache_dir=args.cache)._text._tokenizer()
    ids = prompt_ids(tok)
    current: dict[str, Any] = {}

    def work() -> list[float]:
        model = current["model"]
        started = time.perf_counter()
        params = og.GeneratorParams(model)
        length = len(ids) + 64
        params.set_search_options(max_length=length, min_length=length, do_sample=False)
        gen = og.Generator(model, params)
        gen.append_tokens(np.asarray([ids], dtype=np.int32))
        while not gen.is_done():
            gen.generate_next_token()
        return [(time.perf_counter() - started) / 64]

    def use(name: str) -> Callable[[], Any]:
        @contextmanager
        def cm() -> Iterator[None]:
            current["model"] = models[name]
            yield

        return cm

    return interleave("generate-onnx", {n: use(n) for n in counts}, work, args.rounds)


def op_train(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from expertly.generate.local import TransformersLLM

    llm = TransformersLLM(cache_dir=args.cache)
    model, tok = llm._load()
    model.train()
    ids = torch.tensor([prompt_ids(tok)[:128]] * 8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def work() -> list[float]:
        started = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        return [time.perf_counter() - started]

    return interleave("train", thread_conditions([1, CORES]), work, max(2, args.rounds // 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--index", type=Path, help="a workspace with an index (for search)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--ops", default="search,query,batch,generate-transformers,generate-onnx,train"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/gen-spike/cache"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/threads.json")
    args = parser.parse_args()
    import torch

    qs = queries(args.data, args.queries)
    report: dict[str, Any] = {
        "benchmark": "threads",
        "command": " ".join(["python benchmarks/threads.py", *sys.argv[1:]]),
        "cores": CORES,
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average_before": load(),
        "operations": {},
    }
    ops: dict[str, Callable[[], dict[str, Any]]] = {
        "search": lambda: op_search(args, qs),
        "query": lambda: op_query(args, qs),
        "batch": lambda: op_batch(args),
        "generate-transformers": lambda: op_generate_transformers(args),
        "generate-onnx": lambda: op_generate_onnx(args),
        "train": lambda: op_train(args),
    }
    for name in args.ops.split(","):
        if name == "search" and args.index is None:
            continue
        report["operations"][name] = ops[name]()
    report["process_threads_after"] = len(os.listdir("/proc/self/task"))  # OS threads
    report["torch_interop_threads_after"] = torch.get_num_interop_threads()
    report["load_average_after"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
