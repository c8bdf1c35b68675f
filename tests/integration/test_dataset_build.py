"""``expertly dataset build`` end to end: the demo corpus ingested with the real embedder in a
subprocess, the offline generator, the leakage check against examples/questions.jsonl, and a
teacher behind a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from expertly.finetune import datasets

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def expertly(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERTLY_WORKSPACE": str(ws), "EXPERTLY_LLM__THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "expertly", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def workspace(module_tmp: Callable[[str], Path]) -> Path:
    ws = module_tmp("ws")
    done = expertly(ws, "ingest", str(ROOT / "examples" / "corpus"), "--json")
    assert done.returncode == 0, done.stderr
    return ws


def test_offline_build_from_the_demo_corpus(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    done = expertly(
        workspace, "dataset", "build", "--out", str(out), "--json",
        "--eval", str(ROOT / "examples" / "questions.jsonl"), "--max-pairs", "200",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    assert s["chunks"] > 200 and s["generated"] > 300
    assert s["train"] + s["val"] == 200 and s["val"] > 0
    assert set(s["by_kind"]) == {"table", "definition", "section"}
    # the price-list row behind evaluation question q05 is removed and reported
    assert any(leak["eval_id"] == "q05" for leak in s["leaked"]), s["leaked"]
    train = datasets.load_jsonl(out / "train.jsonl")
    assert len(train) == s["train"]
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    corpus = {
        str(p.relative_to(ROOT / "examples" / "corpus"))
        for p in ROOT.glob("examples/corpus/**/*.*")
    }
    assert {r["metadata"]["doc_id"] for r in rows} <= corpus
    assert all(r["metadata"]["span"] in r["messages"][-1]["content"] for r in rows)
    questions = {r["messages"][0]["content"] for r in rows}
    assert len(questions) == len(rows)  # no duplicate questions


class _Teacher(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint whose 'model' quotes the first figure of the passage
    (grounded) and invents one figure (not grounded)."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        passage = body["messages"][-1]["content"]
        figure = re.search(r"\d+", passage.split('"""', 1)[1])
        pairs = [{"question": "What figure is invented here?", "answer": "987654321"}]
        if figure:
            question = f"Which number does passage {len(type(self).calls)} give?"
            pairs.append({"question": question, "answer": figure[0]})
        reply = {
            "model": body["model"],
            "choices": [
                {
                    "message": {"role": "assistant", "content": json.dumps(pairs)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def teacher_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teacher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_teacher_over_an_openai_compatible_endpoint(
    workspace: Path, tmp_path: Path, teacher_url: str
) -> None:
    out = tmp_path / "teacher"
    done = expertly(
        workspace, "dataset", "build", "--out", str(out), "--json", "--teacher", "openai",
        "--teacher-url", teacher_url, "--teacher-model", "teacher-1", "--max-pairs", "6",
        "--val-fraction", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    teacher = s["teacher"]
    assert teacher["calls"] >= 6 and teacher["rejected"]["a figure not in the passage"] >= 6
    assert teacher["kept"] >= 6 and s["by_kind"] == {"teacher": s["train"]}
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == s["train"] >= 3
    assert all(r["messages"][-1]["content"].isdigit() for r in rows)
    assert _Teacher.calls and _Teacher.calls[0]["model"] == "teacher-1"
