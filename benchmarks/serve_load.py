"""Load on `expertly serve`: concurrent clients mixing search, chat and uploads.

    .venv/bin/python benchmarks/serve_load.py [--clients 32] [--requests 300]
        [--out benchmarks/results/serve_load.json]

The server runs as a subprocess on loopback with the scripted fake LLM and the hashing
embedder (``EXPERTLY_LLM__BACKEND=scripted``, ``EXPERTLY_EMBEDDER__BACKEND=hashing``, answer
cache off), over the sample corpus, so the figures measure the server itself: HTTP, auth,
rate limiting, the generation queue, retrieval on the real SQLite store and ingest jobs —
not a model. Each client has its own API key and sends ``--requests`` requests one after
another: 4 in 10 searches, 5 in 10 chat completions (every 5th of them streamed), 1 in 10 an
upload of a small Markdown file. Any status but 200/202 and the documented 429/503 counts as
an error. The client runs in this process, on the same machine as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "examples" / "questions.jsonl"
ENV = {
    **os.environ,
    "EXPERTLY_LLM__BACKEND": "scripted",
    "EXPERTLY_EMBEDDER__BACKEND": "hashing",
    "EXPERTLY_CACHE__ANSWERS": "false",
    "EXPERTLY_RETRIEVAL__MIN_RELEVANCE": "0",
    "HF_HUB_OFFLINE": "1",
}


def expertly(ws: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args],
        capture_output=True, text=True, env=ENV, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"expertly {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def client(
    http: httpx.AsyncClient, key: str, n: int, questions: list[str], record: Any, me: int
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    for i in range(n):
        kind = ("search",) * 4 + ("chat",) * 5 + ("upload",)
        what = kind[(i + me) % 10]
        question = questions[(i * 7 + me) % len(questions)]
        started = time.perf_counter()
        if what == "search":
            r = await http.post("/v1/search", json={"query": question, "k": 5}, headers=auth)
        elif what == "chat":
            stream = i % 5 == 0
            body = {
                "model": "expertly-rag",
                "messages": [{"role": "user", "content": question}],
                "stream": stream,
            }
            r = await http.post("/v1/chat/completions", json=body, headers=auth)
            what = "chat_stream" if stream else "chat"
        else:
            text = f"# Note {me}-{i}\n\nClient {me} wrote note {i} about {question}\n"
            files = {"files": (f"note-{me}-{i}.md", text.encode())}
            r = await http.post("/v1/uploads", files=files, headers=auth)
        record(what, r.status_code, time.perf_counter() - started)


async def drive(base: str, keys: list[str], n: int, questions: list[str]) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)

    def record(kind: str, status: int, seconds: float) -> None:
        statuses[kind][status] += 1
        if status in (200, 202):
            latencies[kind].append(seconds)

    limits = httpx.Limits(max_connections=len(keys) + 4)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(
            *(client(http, key, n, questions, record, me) for me, key in enumerate(keys))
        )
        wall = time.perf_counter() - started
    total = sum(sum(c.values()) for c in statuses.values())
    errors = sum(
        count for c in statuses.values() for s, count in c.items() if s not in (200, 202, 429, 503)
    )
    everything = [s for values in latencies.values() for s in values]
    return {
        "requests": total,
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(total / wall, 1),
        "errors": errors,
        "status_counts": {k: {str(s): n for s, n in c.items()} for k, c in statuses.items()},
        "latency_ms": {
            kind: {
                "n": len(values),
                "p50": round(percentile(values, 0.50) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
                "mean": round(statistics.fmean(values) * 1000, 1),
            }
            for kind, values in sorted({**latencies, "all": everything}.items())
        },
    }


def documents(base: str, key: str) -> int:
    auth = {"Authorization": f"Bearer {key}"}
    listed = httpx.get(f"{base}/v1/documents", params={"limit": 1}, headers=auth, timeout=60)
    return int(listed.json()["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=300, help="per client")
    parser.add_argument("--rate-per-minute", type=float, default=0, help="0: no rate limit")
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_load.json")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        expertly(ws, "ingest", str(CORPUS), "--json")
        keys = [
            json.loads(expertly(ws, "keys", "create", "--tenant", "bench", "--scopes",
                                "ask,ingest", "--json"))["key"]
            for _ in range(args.clients)
        ]  # fmt: skip
        port = free_port()
        log = (Path(tmp) / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "expertly", "-w", str(ws), "serve", "--port", str(port),
             "--max-waiting", str(args.clients * 2),
             "--rate-per-minute", str(args.rate_per_minute), "--burst", str(args.burst)],
            stdout=log, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            before = documents(base, keys[0])
            result = asyncio.run(drive(base, keys, args.requests, questions))
            accepted = int(result["status_counts"].get("upload", {}).get("202", 0))
            drained = time.perf_counter()
            while (
                documents(base, keys[0]) < before + accepted and time.perf_counter() - drained < 300
            ):
                time.sleep(0.5)
            result["uploads_indexed"] = documents(base, keys[0]) - before
            result["uploads_accepted"] = accepted
            result["seconds_to_drain_ingest_queue"] = round(time.perf_counter() - drained, 1)
        finally:
            server.terminate()
            server.wait(120)
            log.close()
    result.update(
        clients=args.clients,
        requests_per_client=args.requests,
        rate_per_minute=args.rate_per_minute,
        burst=args.burst,
        machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
