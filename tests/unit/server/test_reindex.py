"""Re-indexing through the documents API: one document (ingest scope, only documents the key
may read) or all of a tenant's (admin scope), as background jobs whose status any key that
started them can poll; the chunks and vectors in the index are really replaced."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from expertly.config import ChunkingSettings
from expertly.ingest.pipeline import embed_text
from expertly.server.keys import KeyStore
from expertly.types import Document
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace, write_corpus

Serve = Callable[..., TestClient]
SMALL_CHUNKS = ChunkingSettings(max_tokens=8, overlap_tokens=0, min_tokens=0)


def wait_job(client: TestClient, job: dict[str, Any], auth: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job['id']}", headers=auth).json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job never finished: {status}")


def tenant_workspace(tmp_path: Path, **sections: object) -> tuple[Workspace, Path]:
    """The sample corpus indexed twice: as tenant acme (group hr) and as public documents."""
    ws = fake_workspace(tmp_path, ["ok [1]"], **sections)
    docs = write_corpus(tmp_path / "docs")
    ws.ingestor.ingest([docs / "leave.md"], metadata={"tenant": "acme", "groups": ["hr"]})
    ws.ingestor.ingest([docs / "security.txt"], metadata={"tenant": "globex"})
    ws.ingestor.ingest([docs / "prices.csv"])
    return ws, docs


def keys(ws: Workspace) -> dict[str, dict[str, str]]:
    store = KeyStore(ws.root)
    auth = {}
    for name, tenant, groups, scopes in (
        ("acme", "acme", ("hr",), ("ask", "ingest")),
        ("globex", "globex", (), ("ask", "ingest")),
        ("reader", "acme", ("hr",), ("ask",)),
        ("acme_admin", "acme", ("hr",), ("admin",)),
        ("admin", None, (), ("admin",)),
    ):
        key, _ = store.create(tenant=tenant, groups=groups, scopes=scopes)
        auth[name] = {"Authorization": f"Bearer {key}"}
    return auth


def doc_id_of(client: TestClient, name: str, auth: dict[str, str]) -> str:
    listed = client.get("/v1/documents", headers=auth).json()["data"]
    return next(d["id"] for d in listed if d["id"].endswith(name))


def test_one_document_is_rechunked_and_reembedded_with_new_settings(
    serve: Serve, tmp_path: Path
) -> None:
    ws, _ = tenant_workspace(tmp_path)
    leave = next(d for d in ws.store.documents() if d.id.endswith("leave.md"))
    before = ws.store.chunks(leave.id)
    ws.close()
    # the operator changed the chunking settings: the same index, smaller chunks
    ws = fake_workspace(tmp_path, ["ok [1]"], chunking=SMALL_CHUNKS)
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)

    started = client.post(f"/v1/documents/{leave.id}/reindex", headers=auth["acme"])
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "reindex" and started.json()["documents"] == [leave.id]
    job = wait_job(client, started.json(), auth["acme"])
    assert job["status"] == "done", job
    (result,) = job["results"]
    assert result["doc_id"] == leave.id and result["status"] == "reindexed"
    assert result["origin"] == "source"

    after = ws.store.chunks(leave.id)
    assert len(after) > len(before) == 1
    assert result["chunks"] == len(after)
    assert all(c.token_count <= 8 for c in after)
    # the stored vectors are the embedder's vectors of the new chunks
    stored = ws.store.vectors([c.id for c in after])
    expected = ws.embedder.embed([embed_text(c, leave.title) for c in after], kind="passage")
    np.testing.assert_allclose(np.stack([stored[c.id] for c in after]), expected, atol=1e-6)
    # its tenant and groups are kept, so the ACL still holds
    got = client.get(f"/v1/documents/{leave.id}", headers=auth["acme"]).json()
    assert got["metadata"]["tenant"] == "acme" and got["metadata"]["groups"] == ["hr"]
    assert client.get(f"/v1/documents/{leave.id}", headers=auth["globex"]).status_code == 404


def test_stored_text_is_used_when_the_source_is_gone_and_damaged_vectors_are_replaced(
    serve: Serve, tmp_path: Path
) -> None:
    ws, docs = tenant_workspace(tmp_path)
    leave = next(d for d in ws.store.documents() if d.id.endswith("leave.md"))
    chunks = ws.store.chunks(leave.id)
    text = ws.store.document_text(leave.id)
    assert text is not None
    # damage the document's vectors in the index (as a bad model or bit rot would)
    damaged = np.random.default_rng(0).standard_normal((len(chunks), 64)).astype(np.float32)
    doc = Document(
        id=leave.id,
        text=text,
        source=leave.source,
        title=leave.title,
        format=leave.format,
        content_hash=leave.content_hash,
        metadata=dict(leave.metadata),
    )
    ws.store.upsert(doc, chunks, damaged / np.linalg.norm(damaged, axis=1, keepdims=True))
    (docs / "leave.md").unlink()
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)

    started = client.post(f"/v1/documents/{leave.id}/reindex", headers=auth["acme"]).json()
    job = wait_job(client, started, auth["acme"])
    (result,) = job["results"]
    assert (result["status"], result["origin"]) == ("reindexed", "stored text"), result
    after = ws.store.chunks(leave.id)
    assert [(c.start, c.end, c.heading_path) for c in after] == [
        (c.start, c.end, c.heading_path) for c in chunks
    ]
    stored = ws.store.vectors([c.id for c in after])
    expected = ws.embedder.embed([embed_text(c, leave.title) for c in after], kind="passage")
    np.testing.assert_allclose(np.stack([stored[c.id] for c in after]), expected, atol=1e-6)


def test_an_edited_source_file_is_read_again(serve: Serve, tmp_path: Path) -> None:
    ws, docs = tenant_workspace(tmp_path)
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)
    doc_id = doc_id_of(client, "leave.md", auth["acme"])
    (docs / "leave.md").write_text("# Leave\n\nThe kiwi sabbatical lasts 9 weeks.\n", "utf-8")

    started = client.post(f"/v1/documents/{doc_id}/reindex", headers=auth["acme"]).json()
    job = wait_job(client, started, auth["acme"])
    assert job["results"][0]["status"] == "updated"
    hits = client.post("/v1/search", json={"query": "kiwi sabbatical"}, headers=auth["acme"])
    assert hits.json()["data"][0]["doc_id"] == doc_id


def test_a_source_replaced_by_a_link_is_not_followed(serve: Serve, tmp_path: Path) -> None:
    """A link planted where an ingested file was must not pull another file (one the
    server may read and the tenant may not) into the tenant's document."""
    ws, docs = tenant_workspace(tmp_path)
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nThe vault code is 7781.\n", encoding="utf-8")
    (docs / "leave.md").unlink()
    (docs / "leave.md").symlink_to(secret)
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)
    doc_id = doc_id_of(client, "leave.md", auth["acme"])

    started = client.post(f"/v1/documents/{doc_id}/reindex", headers=auth["acme"]).json()
    (result,) = wait_job(client, started, auth["acme"])["results"]
    assert result["origin"] == "stored text" and "symbolic link" in result["reason"]
    chunks = client.get(f"/v1/documents/{doc_id}/chunks", headers=auth["acme"]).json()
    text = " ".join(c["text"] for c in chunks["chunks"])
    assert "parental leave" in text and "7781" not in text


def test_scopes_and_acl_refusals(serve: Serve, tmp_path: Path) -> None:
    ws, _ = tenant_workspace(tmp_path)
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)
    leave = doc_id_of(client, "leave.md", auth["acme"])

    # another tenant's document does not exist for the key; a read-only key may not
    refused = client.post(f"/v1/documents/{leave}/reindex", headers=auth["globex"])
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert client.post(f"/v1/documents/{leave}/reindex", headers=auth["reader"]).status_code == 403
    # a missing id is a 404 in OpenAI's error shape
    missing = client.post("/v1/documents/acme/nope.md/reindex", headers=auth["admin"])
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "not_found" and error["type"] and "nope.md" in error["message"]
    assert client.post("/v1/documents/acme/x/reindex").status_code == 401

    # all of a tenant's documents: admin scope only, and a tenant's admin for its own only
    assert client.post("/v1/documents/reindex", headers=auth["acme"]).status_code == 403
    other = client.post(
        "/v1/documents/reindex", json={"tenant": "globex"}, headers=auth["acme_admin"]
    )
    assert other.status_code == 403 and other.json()["error"]["param"] == "tenant"
    bad = client.post("/v1/documents/reindex", json={"tenant": ""}, headers=auth["admin"])
    assert bad.status_code == 400

    # the job is the starter's: another key does not see it
    job = client.post(f"/v1/documents/{leave}/reindex", headers=auth["acme"]).json()
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth["globex"]).status_code == 404
    assert wait_job(client, job, auth["acme"])["status"] == "done"
    # the upload path of old answers the same
    assert client.get(f"/v1/uploads/{job['id']}", headers=auth["acme"]).json()["status"] == "done"


def test_reindex_all_takes_the_tenants_documents_or_all(serve: Serve, tmp_path: Path) -> None:
    ws, _ = tenant_workspace(tmp_path)
    auth = keys(ws)
    client = serve(workspace=ws, rate_per_minute=0)

    mine = client.post("/v1/documents/reindex", headers=auth["acme_admin"])
    assert mine.status_code == 202
    job = wait_job(client, mine.json(), auth["acme_admin"])
    assert job["tenant"] == "acme"
    assert [r["doc_id"] for r in job["results"]] == [doc_id_of(client, "leave.md", auth["acme"])]

    one = client.post("/v1/documents/reindex", json={"tenant": "globex"}, headers=auth["admin"])
    job = wait_job(client, one.json(), auth["admin"])
    assert [r["doc_id"] for r in job["results"]] == [
        d.id for d in ws.store.documents() if d.metadata.get("tenant") == "globex"
    ]

    everything = client.post("/v1/documents/reindex", headers=auth["admin"])
    job = wait_job(client, everything.json(), auth["admin"])
    assert job["status"] == "done"
    assert sorted(r["doc_id"] for r in job["results"]) == sorted(d.id for d in ws.store.documents())
    assert {r["status"] for r in job["results"]} == {"reindexed"}
