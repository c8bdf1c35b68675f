"""The documents API: uploads ingested in a background job (bad files reported, the rest
indexed), listing with paging, chunks, deletion, all limited to what the key may read."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from expertly.server.keys import KeyStore
from tests.unit.server.conftest import indexed_workspace

Serve = Callable[..., TestClient]


def wait_job(client: TestClient, job: dict[str, Any], auth: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = client.get(f"/v1/uploads/{job['id']}", headers=auth).json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job never finished: {status}")


def keyed(serve: Serve, tmp_path: Path, **settings: object) -> tuple[TestClient, dict]:
    ws = indexed_workspace(tmp_path, ["ok [1]"])
    store = KeyStore(ws.root)
    auth = {}
    for name, tenant, groups, scopes in (
        ("acme", "acme", ("hr",), ("ask", "ingest")),
        ("globex", "globex", (), ("ask", "ingest")),
        ("reader", "acme", ("hr",), ("ask",)),
    ):
        key, _ = store.create(tenant=tenant, groups=groups, scopes=scopes)
        auth[name] = {"Authorization": f"Bearer {key}"}
    return serve(workspace=ws, rate_per_minute=0, **settings), auth


def test_upload_ingests_good_files_and_reports_bad_ones(serve: Serve, tmp_path: Path) -> None:
    client, auth = keyed(serve, tmp_path)
    files = [
        ("files", ("notes.md", b"# Notes\n\nThe quarterly kiwi budget is approved.\n")),
        ("files", ("broken.pdf", b"%PDF-1.4 this is not really a pdf")),
    ]
    started = client.post("/v1/uploads", files=files, data={"groups": "hr"}, headers=auth["acme"])
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running", "done")
    job = wait_job(client, started.json(), auth["acme"])
    assert job["status"] == "done"
    by_id = {r["doc_id"]: r for r in job["results"]}
    assert by_id["acme/notes.md"]["status"] == "added"
    assert by_id["acme/broken.pdf"]["status"] == "failed" and by_id["acme/broken.pdf"]["reason"]

    doc = client.get("/v1/documents/acme/notes.md", headers=auth["acme"]).json()
    assert doc["metadata"]["tenant"] == "acme" and doc["metadata"]["groups"] == ["hr"]
    chunks = client.get("/v1/documents/acme/notes.md/chunks", headers=auth["acme"]).json()
    assert "kiwi" in chunks["chunks"][0]["text"]
    hits = client.post("/v1/search", json={"query": "kiwi budget"}, headers=auth["acme"]).json()
    assert hits["data"][0]["doc_id"] == "acme/notes.md"

    # another tenant neither sees, finds, reads nor deletes it, nor sees the job
    other = auth["globex"]
    listed = client.get("/v1/documents", headers=other).json()["data"]
    assert "acme/notes.md" not in {d["id"] for d in listed}
    found = client.post("/v1/search", json={"query": "kiwi budget"}, headers=other).json()
    assert "acme/notes.md" not in {h["doc_id"] for h in found["data"]}
    assert client.get("/v1/documents/acme/notes.md", headers=other).status_code == 404
    assert client.delete("/v1/documents/acme/notes.md", headers=other).status_code == 404
    assert client.get(f"/v1/uploads/{job['id']}", headers=other).status_code == 404

    # a read-only key cannot delete; the owner can, and the document is gone
    assert client.delete("/v1/documents/acme/notes.md", headers=auth["reader"]).status_code == 403
    gone = client.delete("/v1/documents/acme/notes.md", headers=auth["acme"])
    assert gone.json() == {"id": "acme/notes.md", "object": "document", "deleted": True}
    assert client.get("/v1/documents/acme/notes.md", headers=auth["acme"]).status_code == 404


def test_a_tenant_key_reads_but_cannot_delete_a_shared_document(
    serve: Serve, tmp_path: Path
) -> None:
    client, auth = keyed(serve, tmp_path)
    shared = client.get("/v1/documents", headers=auth["acme"]).json()["data"][0]
    assert shared["metadata"].get("tenant") is None
    refused = client.delete(f"/v1/documents/{shared['id']}", headers=auth["acme"])
    assert refused.status_code == 403 and "shared by every tenant" in refused.text
    assert client.get(f"/v1/documents/{shared['id']}", headers=auth["globex"]).status_code == 200


def test_uploads_stay_in_the_keys_tenant_and_groups(serve: Serve, tmp_path: Path) -> None:
    client, auth = keyed(serve, tmp_path)
    file = [("files", ("a.md", b"# A\n\ntext\n"))]
    wrong_tenant = client.post(
        "/v1/uploads", files=file, data={"tenant": "globex"}, headers=auth["acme"]
    )
    assert wrong_tenant.status_code == 403 and wrong_tenant.json()["error"]["param"] == "tenant"
    wrong_group = client.post(
        "/v1/uploads", files=file, data={"groups": "finance"}, headers=auth["acme"]
    )
    assert wrong_group.status_code == 403
    bad_meta = client.post(
        "/v1/uploads", files=file, data={"metadata": "[1]"}, headers=auth["acme"]
    )
    assert bad_meta.status_code == 400 and bad_meta.json()["error"]["param"] == "metadata"
    hidden = client.post("/v1/uploads", files=[("files", (".env", b"x"))], headers=auth["acme"])
    assert hidden.status_code == 400


def test_same_name_from_two_tenants_makes_two_documents(serve: Serve, tmp_path: Path) -> None:
    client, auth = keyed(serve, tmp_path)
    for name in ("acme", "globex"):
        body = f"# Policy\n\nThe {name} policy.\n".encode()
        job = client.post(
            "/v1/uploads", files=[("files", ("policy.md", body))], headers=auth[name]
        ).json()
        assert wait_job(client, job, auth[name])["status"] == "done"
    acme = client.get("/v1/documents/acme/policy.md/chunks", headers=auth["acme"]).json()
    globex = client.get("/v1/documents/globex/policy.md/chunks", headers=auth["globex"]).json()
    assert "acme policy" in acme["chunks"][0]["text"]
    assert "globex policy" in globex["chunks"][0]["text"]


def test_listing_pages(serve: Serve) -> None:
    client = serve()  # no keys: the local user sees the three sample documents
    first = client.get("/v1/documents", params={"limit": 2}).json()
    assert [d["id"] for d in first["data"]] == ["leave.md", "prices.csv"]
    assert first["total"] == 3 and first["has_more"]
    rest = client.get("/v1/documents", params={"limit": 2, "offset": 2}).json()
    assert [d["id"] for d in rest["data"]] == ["security.txt"] and not rest["has_more"]
    assert client.get("/v1/documents", params={"limit": 0}).status_code == 400
    csv = client.get("/v1/documents", params={"format": "csv"}).json()
    assert [d["id"] for d in csv["data"]] == ["prices.csv"] and csv["total"] == 1
    prefixed = client.get("/v1/documents", params={"prefix": "sec"}).json()
    assert [d["id"] for d in prefixed["data"]] == ["security.txt"]


def test_upload_over_the_limit_is_413(serve: Serve) -> None:
    client = serve(max_upload_bytes=1_000)
    big = [("files", ("big.md", b"x" * 5_000))]
    response = client.post("/v1/uploads", files=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
