"""1,000 probes across tenants: 3 tenants, 2 groups, 12 keys, 58 documents each holding a
unique code word. Every probe asks (through search, a chat answer, a streamed answer or the
agent) for one document's code word with a randomly chosen key; a code word may appear in a
reply only when that key may read its document. Repeated questions from different keys go
through the answer cache; a key revoked in the middle is refused from its next request."""

from __future__ import annotations

import itertools
import json
import random
import string
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from expertly.config import AgentSettings, AnswerSettings
from expertly.server.keys import KeyStore
from expertly.types import Message
from tests.unit.helpers import fake_workspace
from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]
TENANTS = ("acme", "globex", "initech")
GROUP_SETS: tuple[tuple[str, ...], ...] = ((), ("hr",), ("eng",), ("hr", "eng"))
PER_KIND = 6  # documents per tenant and group (none, hr, eng)
PROBES = 1000


def word(i: int, prefix: str) -> str:
    """A unique lowercase word (no digits: figures would be checked against the sources)."""
    letters = "".join(string.ascii_lowercase[int(d)] for d in f"{i:04d}")
    return f"{prefix}{letters}"


def reply(messages: Sequence[Message]) -> str:
    """Repeats its prompt (whatever reached the model shows); as the agent it searches for
    the question, then answers with everything it observed."""
    seen = " ".join(m.content.replace("\n", " ") for m in messages)
    last = messages[-2].content if len(messages) > 1 else ""
    if last.startswith("Question:"):
        question = last.removeprefix("Question:").strip().splitlines()[0]
        call = {"tool": "search_docs", "arguments": {"query": question}}
        return json.dumps({"thought": "search", **call})
    if "Observation from search_docs" in last:
        return json.dumps({"thought": "done", "answer": seen + " [1]"})
    return seen + " [1]"


def test_a_thousand_probes_leak_nothing(serve: Serve, tmp_path: Path) -> None:
    ws = fake_workspace(
        tmp_path,
        reply,
        answer=AnswerSettings(verify_figures=False),
        agent=AgentSettings(tools=["search_docs"], plan=False),
    )
    docs: list[dict[str, Any]] = []  # topic, secret, tenant, group
    n = itertools.count()
    for tenant, group in [*itertools.product(TENANTS, (None, "hr", "eng")), (None, None)]:
        for _ in range(PER_KIND if tenant else 4):
            i = next(n)
            docs.append({"topic": word(i, "topic"), "secret": word(i, "secret"),
                         "tenant": tenant, "group": group})  # fmt: skip
    for doc in docs:
        folder = tmp_path / "docs" / doc["topic"]
        folder.mkdir(parents=True)
        (folder / f"{doc['topic']}.md").write_text(
            f"# The {doc['topic']} team\n\nThe code word of the {doc['topic']} team is "
            f"{doc['secret']}.\n",
            encoding="utf-8",
        )
        metadata: dict[str, Any] = {"groups": [doc["group"]] if doc["group"] else []}
        if doc["tenant"]:
            metadata["tenant"] = doc["tenant"]
        assert not ws.ingestor.ingest([folder], metadata=metadata).failed

    store = KeyStore(ws.root)
    keys: list[dict[str, Any]] = []
    for tenant, groups in itertools.product(TENANTS, GROUP_SETS):
        secret_key, record = store.create(tenant=tenant, groups=groups, scopes=("ask",))
        readable = {
            d["secret"]
            for d in docs
            if d["tenant"] in (None, tenant) and (d["group"] is None or d["group"] in groups)
        }
        keys.append({"auth": {"Authorization": f"Bearer {secret_key}"}, "id": record.id,
                     "readable": readable})  # fmt: skip
    client = serve(workspace=ws, rate_per_minute=0)
    every = {d["secret"] for d in docs}

    rng = random.Random(14)
    channels = Counter[str]()
    found_own = Counter[str]()
    cached = 0
    revoked = keys.pop()
    for probe in range(PROBES):
        if probe == PROBES // 2:  # revoked in the middle: refused from the next request on
            store.revoke(revoked["id"])
            refused = client.post("/v1/search", json={"query": "code"}, headers=revoked["auth"])
            assert refused.status_code == 401
        key = rng.choice(keys if probe >= PROBES // 2 else [*keys, revoked])
        doc = rng.choice(docs)
        question = f"What is the code word of the {doc['topic']} team?"
        channel = rng.choice(("search", "chat", "stream", "agent"))
        if channel == "search":
            response = client.post(
                "/v1/search", json={"query": question, "k": 5}, headers=key["auth"]
            )
            text = response.text
        else:
            fields: dict[str, Any] = {"stream": channel == "stream"}
            if channel == "agent":
                fields["model"] = "expertly-agent"
            response = client.post(
                "/v1/chat/completions", json=ask(question, **fields), headers=key["auth"]
            )
            text = response.text
            if channel == "chat":
                cached += response.json()["expertly"]["cached"]
        assert response.status_code == 200, response.text
        leaked = {s for s in every if s in text} - key["readable"]
        assert not leaked, (channel, doc, leaked)
        channels[channel] += 1
        if doc["secret"] in key["readable"] and doc["secret"] in text:
            found_own[channel] += 1
    assert sum(channels.values()) == PROBES
    assert cached > 0  # repeated questions were answered from the cache, per principal
    # the probes are not vacuous: keys do read their own documents through every channel
    assert all(found_own[c] > 0 for c in ("search", "chat", "stream", "agent")), found_own
