"""Property-based requests to every operation of the server's OpenAPI schema (schemathesis):
none may answer a server error, and documented answers must match their schema.

The app runs in-process (ASGI, lifespan started, models loaded) on a temporary workspace
with the scripted LLM, the hashing embedder, the sample corpus and one admin key, so that
every operation gets past authentication and reaches its handler. schemathesis generates
valid and invalid path, query and body values; examples are drawn deterministically
(``derandomize``) and bounded per operation so that the whole run stays well under a
minute on two cores. ``tests/unit/server/test_hostile_bodies.py`` sends hand-picked hostile
values beside it.

The same run against a live server: ``schemathesis run http://127.0.0.1:8000/openapi.json
--checks not_a_server_error,response_schema_conformance -H "Authorization: Bearer $KEY"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.python.asgi import ASGIClient, get_client
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from expertly.server.app import create_app
from expertly.server.keys import KeyStore
from expertly.server.settings import ServerSettings
from tests.unit.server.conftest import indexed_workspace

EXAMPLES_PER_OPERATION = 40
DOC_ID = "leave.md"
"""A document of the sample corpus (indexed without tenant, so the admin key reads it)."""
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass(frozen=True)
class Served:
    """The started app, a client on it and an admin key's ``Authorization`` header."""

    app: FastAPI
    client: ASGIClient
    headers: dict[str, str]


@pytest.fixture(scope="module")
def served(module_tmp: Callable[[str], Path]) -> Iterator[Served]:
    ws = indexed_workspace(module_tmp("fuzz"), ["Employees get 20 weeks [1]."])
    key, _ = KeyStore(ws.root).create(tenant=None, groups=(), scopes=("admin",))
    app = create_app(ws, ServerSettings(rate_per_minute=0, max_waiting=64))
    asgi: Any = app  # an ASGI app, whose signature schemathesis types more narrowly
    with get_client(asgi) as client:  # runs the lifespan: the models load in the background
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.02)
        yield Served(app, client, {"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def api_schema(served: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", served.app)


def operations(schema: schemathesis.BaseSchema) -> list[APIOperation]:
    """Every operation of the schema (one it cannot read fails the test)."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return found


def test_no_server_error_and_documented_answers_match(
    api_schema: schemathesis.BaseSchema, served: Served
) -> None:
    """Each operation in turn, with valid values (positive) then invalid ones (negative);
    every operation's first failure is collected so that one run shows them all."""
    failures: list[str] = []
    for operation in operations(api_schema):
        for mode in modes(operation):

            @given(case=cases(operation, mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(session=served.client, headers=served.headers, checks=CHECKS)

            try:
                run()
            except (Exception, FailureGroup) as exc:  # reported below, with all the others
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def modes(operation: APIOperation) -> list[GenerationMode]:
    """Positive for all; negative where something can be invalid: a body or a bounded
    query parameter (a free-form path string or no parameter has no invalid value)."""
    raw = operation.definition.raw
    query = any(p.get("in") == "query" for p in raw.get("parameters", []))
    if "requestBody" in raw or query:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def cases(operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[schemathesis.Case]:
    """schemathesis' cases, and in positive mode as many again that name what exists (a
    stored document, a served model) so that handlers run past their 404s."""
    drawn = operation.as_strategy(mode)
    if mode is not GenerationMode.POSITIVE:
        return drawn
    if "{doc_id}" in operation.path and operation.method.upper() != "DELETE":
        return st.one_of(drawn, operation.as_strategy(mode, path_parameters={"doc_id": DOC_ID}))
    if operation.path in SERVED:
        return st.one_of(drawn, drawn.map(lambda case: served_request(case, operation.path)))
    return drawn


SERVED: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "expertly-rag",
        "messages": [{"role": "user", "content": "How long is parental leave?"}],
    },
    "/v1/embeddings": {"model": "expertly-embed"},
}
"""What a request must name to be answered (the other generated fields are kept)."""


def served_request(case: schemathesis.Case, path: str) -> schemathesis.Case:
    if isinstance(case.body, dict):
        case.body = {**case.body, **SERVED[path]}
    return case


def test_every_operation_is_covered(api_schema: schemathesis.BaseSchema) -> None:
    """The run above reaches every route of the app (none hidden from the schema)."""
    labels = {operation.label for operation in operations(api_schema)}
    assert {
        "POST /v1/chat/completions",
        "POST /v1/embeddings",
        "POST /v1/search",
        "GET /v1/documents",
        "POST /v1/documents/{doc_id}/reindex",
        "POST /v1/documents/reindex",
        "POST /v1/uploads",
        "GET /v1/jobs/{job_id}",
    } <= labels


def test_found_upload_with_a_path_for_tenant_is_refused(served: Served) -> None:
    """Found by the run: an admin upload's ``tenant`` names its folder, so a value such as
    ``../x`` was a path (a 500 for most values, a write outside the job's folder for some)."""
    for tenant in ("../escape", '{"a": 1}', "a/b", ".hidden"):
        response = served.client.post(
            "/v1/uploads",
            files={"files": ("a.md", b"# A\n\nText.\n")},
            data={"tenant": tenant},
            headers=served.headers,
        )
        assert response.status_code == 400, (tenant, response.text)
        assert response.json()["error"]["param"] == "tenant"
    service = served.app.state.service
    assert not (service.workspace.root / "escape").exists()


def test_found_max_tokens_beyond_the_window_is_a_400(served: Served) -> None:
    """Found by the run: a ``max_tokens`` that leaves the prompt no room in the model's
    window was answered 502 (the model's fault); it is the request's: 400, as OpenAI says."""
    body: dict[str, Any] = {
        "model": "expertly-rag",
        "messages": [{"role": "user", "content": "How long is parental leave?"}],
        "max_tokens": 8000,
    }
    response = served.client.post("/v1/chat/completions", json=body, headers=served.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "max_tokens"
