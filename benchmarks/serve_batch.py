"""`expertly serve` with the real SmolLM2: batched against one-by-one chat requests, and the
time to the first streamed words against the time to the whole answer.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serve_batch.py \
        [--n 16] [--max-tokens 32] [--route base] [--rounds 2]
        [--out benchmarks/results/serve_batch.json]

One workspace (the sample corpus is ingested for ``--route rag`` only) is served by one
server after another on the same machine, with ``--max-batch 1`` (no batching) and with
``--max-batch 8``, in the order one, batched, batched, one, ... (``--rounds`` pairs), so
that a change in the machine's load weighs on both alike. Against each server, one request
builds the route's answerer, then ``--n`` different questions of
``examples/questions.jsonl`` are sent at once (greedy, answer cache off). The figure is
completion tokens per second over the wall time, summed over the rounds, and its ratio
batched / one by one (a ratio, because absolute times on a shared machine are noise). On
the first unbatched server, ``--streams`` questions are then asked one after another,
streamed, recording when the first words and the last arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "examples" / "questions.jsonl"
ENV = {**os.environ, "EXPERTLY_CACHE__ANSWERS": "false", "HF_HUB_OFFLINE": "1"}


def expertly(ws: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args],
        capture_output=True, text=True, env=ENV, timeout=1200, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"expertly {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(model: str, question: str, max_tokens: int, **more: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        **more,
    }


async def burst(base: str, model: str, questions: list[str], max_tokens: int) -> dict[str, Any]:
    """Every question at once; tokens per second over the wall time."""
    async with httpx.AsyncClient(base_url=base, timeout=1200) as http:

        async def one(q: str) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            r = await http.post("/v1/chat/completions", json=body(model, q, max_tokens))
            r.raise_for_status()
            return time.perf_counter() - started, r.json()

        started = time.perf_counter()
        done = await asyncio.gather(*(one(q) for q in questions))
        wall = time.perf_counter() - started
        metrics = (await http.get("/metrics")).text
    tokens = sum(reply["usage"]["completion_tokens"] for _, reply in done)
    batches = re.search(r"^expertly_batch_size_count (\S+)", metrics, re.M)
    return {
        "requests": len(questions),
        "wall_seconds": round(wall, 2),
        "completion_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 2),
        "latency_p50_s": round(statistics.median(s for s, _ in done), 2),
        "batches": int(float(batches.group(1))) if batches else 0,
        "texts": [reply["choices"][0]["message"]["content"] for _, reply in done],
    }


def streamed(base: str, model: str, question: str, max_tokens: int) -> dict[str, float]:
    """Seconds to the first words and to the end of one streamed answer."""
    started = time.perf_counter()
    first = None
    tokens = 0
    request = body(model, question, max_tokens, stream=True,
                   stream_options={"include_usage": True})  # fmt: skip
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=request, timeout=600) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    total = time.perf_counter() - started
    return {"first_words_s": round(first or total, 3), "total_s": round(total, 3), "tokens": tokens}


def serve(ws: Path, max_batch: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "expertly", "-w", str(ws), "serve", "--port", str(port),
         "--max-batch", str(max_batch), "--max-waiting", "256", "--rate-per-minute", "0"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(3000):
        if process.poll() is not None:
            raise SystemExit(log.read_text())
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server never became ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=16, help="questions sent at once")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--route", default="base", choices=["base", "rag"])
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of servers (ABBA order)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_batch.json")
    args = parser.parse_args()
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines()]
    questions = [r["question"] for r in rows][: args.n]
    model = f"expertly-{args.route}"
    result: dict[str, Any] = {"route": args.route, "max_tokens": args.max_tokens}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        if args.route == "rag":
            expertly(ws, "ingest", str(CORPUS), "--json")
        order = [("one_by_one", 1), ("batched", 8)]
        plan = [pair for r in range(args.rounds) for pair in (order if r % 2 == 0 else order[::-1])]
        runs: dict[str, list[dict[str, Any]]] = {"one_by_one": [], "batched": []}
        for label, size in plan:
            process, base = serve(ws, size, Path(tmp) / f"{label}.log")
            try:
                httpx.post(
                    f"{base}/v1/chat/completions",
                    json=body(model, "Hello?", args.max_tokens),
                    timeout=600,
                ).raise_for_status()  # builds the answerer: later requests can batch
                runs[label].append(asyncio.run(burst(base, model, questions, args.max_tokens)))
                if size == 1 and "stream" not in result:
                    timed = [
                        streamed(base, model, q, args.max_tokens) for q in questions[: args.streams]
                    ]
                    result["stream"] = {
                        "runs": timed,
                        "first_words_s_median": statistics.median(
                            r["first_words_s"] for r in timed
                        ),
                        "total_s_median": statistics.median(r["total_s"] for r in timed),
                    }
            finally:
                process.terminate()
                process.wait(120)
    texts = [r.pop("texts") for label in runs for r in runs[label]]
    result["same_answers"] = all(t == texts[0] for t in texts)
    for label, done in runs.items():
        tokens = sum(r["completion_tokens"] for r in done)
        wall = sum(r["wall_seconds"] for r in done)
        result[label] = {"runs": done, "tokens_per_second": round(tokens / wall, 2)}
    result["speedup"] = round(
        result["batched"]["tokens_per_second"] / result["one_by_one"]["tokens_per_second"], 2
    )
    result["machine"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
