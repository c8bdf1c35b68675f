"""Tenant isolation through the server: a document of one tenant never reaches another
tenant's search hits, answers, citations, streamed answers, the agent's search tool or
cached answers, and a group-only document only reaches keys holding that group."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from expertly.config import AgentSettings, AnswerSettings
from expertly.server.keys import KeyStore
from expertly.types import Message
from tests.unit.helpers import fake_workspace
from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]

# one unique fact per document: (file, tenant, groups, topic, secret word); questions name
# the topic only, so a secret in a reply can only come from a document
DOCS = [
    ("acme_policy.md", "acme", [], "alpha", "acmezebra"),
    ("acme_payroll.md", "acme", ["hr"], "bravo", "acmewombat"),
    ("globex_policy.md", "globex", [], "charlie", "globexquokka"),
    ("initech_policy.md", "initech", ["eng"], "delta", "initechnarwhal"),
    ("public_notice.md", None, [], "echo", "publicotter"),
]
KEYS = {  # name: (tenant, groups) -> the secrets it may read
    "acme": ("acme", ()),
    "acme-hr": ("acme", ("hr",)),
    "globex": ("globex", ("hr",)),  # the group name alone opens no other tenant's document
    "initech": ("initech", ("eng",)),
}


def allowed(key: str) -> set[str]:
    tenant, groups = KEYS[key]
    return {
        secret
        for _, t, g, _, secret in DOCS
        if (t is None or t == tenant) and (not g or set(g) & set(groups))
    }


def echo(messages: Sequence[Message]) -> str:
    """The model repeats its whole prompt on one line: whatever reached it shows. As the
    agent, it searches for the question, then answers with everything it observed."""
    seen = " ".join(m.content.replace("\n", " ") for m in messages)
    last = messages[-2].content if len(messages) > 1 else ""
    if last.startswith("Question:"):
        question = last.removeprefix("Question:").strip().splitlines()[0]
        return json.dumps(
            {"thought": "search", "tool": "search_docs", "arguments": {"query": question}}
        )
    if "Observation from search_docs" in last:
        return json.dumps({"thought": "done", "answer": seen + " [1]"})
    return seen + " [1]"


@pytest.fixture
def tenants(serve: Serve, tmp_path: Path) -> tuple[TestClient, dict[str, dict[str, str]]]:
    ws = fake_workspace(
        tmp_path,
        echo,
        # the echo is no answer (it repeats the system prompt too): no checks withhold it
        answer=AnswerSettings(verify_figures=False, support_check=False),
        agent=AgentSettings(tools=["search_docs"], plan=False),
    )
    for name, tenant, groups, topic, secret in DOCS:
        folder = tmp_path / "docs" / name.removesuffix(".md")
        folder.mkdir(parents=True)
        (folder / name).write_text(
            f"# The {topic} code\n\nThe code word of the {topic} team is {secret}.\n",
            encoding="utf-8",
        )
        metadata: dict[str, Any] = {"groups": groups}
        if tenant:
            metadata["tenant"] = tenant
        report = ws.ingestor.ingest([folder], metadata=metadata)
        assert not report.failed
    store = KeyStore(ws.root)
    headers = {}
    for key_name, (key_tenant, key_groups) in KEYS.items():
        key, _ = store.create(tenant=key_tenant, groups=key_groups, scopes=("ask",))
        headers[key_name] = {"Authorization": f"Bearer {key}"}
    return serve(workspace=ws, rate_per_minute=0), headers


def secrets_in(text: str) -> set[str]:
    return {secret for *_, secret in DOCS if secret in text}


def test_no_document_crosses_tenants(tenants: tuple[TestClient, dict[str, dict]]) -> None:
    client, headers = tenants
    probes = 0
    for key, auth in headers.items():
        mine = allowed(key)
        for *_, topic, target in DOCS:
            question = f"What is the code word of the {topic} team?"
            hits = client.post(
                "/v1/search", json={"query": question, "k": 10}, headers=auth
            ).json()["data"]
            assert secrets_in(json.dumps(hits)) <= mine, (key, target)
            answer = client.post("/v1/chat/completions", json=ask(question), headers=auth)
            body = answer.json()
            assert secrets_in(json.dumps(body)) <= mine, (key, target)
            streamed = client.post(
                "/v1/chat/completions", json=ask(question, stream=True), headers=auth
            )
            assert secrets_in(streamed.text) <= mine, (key, target)
            agent = client.post(
                "/v1/chat/completions", json=ask(question, model="expertly-agent"), headers=auth
            ).json()
            assert agent["expertly"]["route"] == "agent"
            assert secrets_in(json.dumps(agent)) <= mine, (key, target)
            if target in mine:  # it can still read its own documents
                assert target in body["choices"][0]["message"]["content"]
                assert target in agent["choices"][0]["message"]["content"]
                assert target in json.dumps(hits)
            probes += 4
    assert probes == 4 * len(KEYS) * len(DOCS)


def test_the_answer_cache_is_per_principal(tenants: tuple[TestClient, dict[str, dict]]) -> None:
    client, headers = tenants
    question = ask("What is the code word of the charlie team?")
    first = client.post("/v1/chat/completions", json=question, headers=headers["globex"]).json()
    again = client.post("/v1/chat/completions", json=question, headers=headers["globex"]).json()
    assert "globexquokka" in first["choices"][0]["message"]["content"]
    assert again["expertly"]["cached"]
    other = client.post("/v1/chat/completions", json=question, headers=headers["acme"]).json()
    assert not other["expertly"]["cached"]
    assert "globexquokka" not in json.dumps(other)


def test_groups_open_only_their_documents(tenants: tuple[TestClient, dict[str, dict]]) -> None:
    client, headers = tenants
    query = {"query": "code word of the bravo team", "k": 10}
    plain = client.post("/v1/search", json=query, headers=headers["acme"]).json()["data"]
    hr = client.post("/v1/search", json=query, headers=headers["acme-hr"]).json()["data"]
    assert "acme_payroll.md" not in {h["doc_id"] for h in plain}
    assert hr[0]["doc_id"] == "acme_payroll.md"
