"""API keys: shown once, stored as HMAC-SHA-256 under a 0600 secret, checked per request,
revoked at once; and `expertly serve` refuses a non-loopback host without keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from expertly.cli.main import app as cli
from expertly.cli.serve import is_loopback
from expertly.errors import ExpertlyError
from expertly.server.keys import KeyStore
from tests.unit.server.conftest import ask, indexed_workspace

Serve = Callable[..., TestClient]


def test_only_an_hmac_is_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, record = store.create(tenant="acme", groups=("hr", "hr", "eng"), scopes=("ask",))
    assert key.startswith(f"exp_{record.id}_")
    stored = (tmp_path / "keys.json").read_text()
    secret_part = key.removeprefix(f"exp_{record.id}_")  # may itself hold "_"
    assert key not in stored and secret_part not in stored
    secret = (tmp_path / "server.secret").read_bytes()
    assert len(secret) == 32
    expected = hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()
    assert json.loads(stored)["keys"][0]["digest"] == expected
    assert expected != hashlib.sha256(key.encode()).hexdigest()
    for name in ("server.secret", "keys.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert record.groups == ("hr", "eng")
    found = store.verify(key)
    assert found is not None and found.principal() is not None
    assert found.principal().tenant == "acme"  # type: ignore[union-attr]


def test_wrong_malformed_and_revoked_keys_fail(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, record = store.create(tenant="acme", groups=(), scopes=("ask",))
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify("sk-not-ours") is None
    assert store.verify("") is None
    store.revoke(record.id)
    assert store.verify(key) is None
    assert not KeyStore(tmp_path).has_active()
    with pytest.raises(ExpertlyError, match="keys list"):
        store.revoke("000000000000")


def test_a_key_without_a_tenant_must_be_admin(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(ExpertlyError, match="--tenant"):
        store.create(tenant=None, groups=(), scopes=("ask",))
    with pytest.raises(ExpertlyError, match="Unknown scope"):
        store.create(tenant="acme", groups=(), scopes=("read",))
    with pytest.raises(ExpertlyError, match="cannot be a tenant"):
        store.create(tenant="a b", groups=(), scopes=("ask",))
    _, admin = store.create(tenant=None, groups=(), scopes=("admin",))
    assert admin.principal() is None  # sees every document


def test_server_requires_a_valid_key_once_keys_exist(serve: Serve, tmp_path: Path) -> None:
    ws = indexed_workspace(tmp_path, ["Employees get 20 weeks [1]."])
    store = KeyStore(ws.root)
    key, record = store.create(tenant="acme", groups=(), scopes=("ask",))
    ingest_only, _ = store.create(tenant="acme", groups=(), scopes=("ingest",))
    client = serve(workspace=ws)
    missing = client.post("/v1/chat/completions", json=ask())
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    bad = client.get("/v1/models", headers={"Authorization": "Bearer exp_000000000000_" + "x" * 40})
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "authentication_error"
    auth = {"Authorization": f"Bearer {key}"}
    assert client.post("/v1/chat/completions", json=ask(), headers=auth).status_code == 200
    no_scope = client.get("/v1/models", headers={"Authorization": f"Bearer {ingest_only}"})
    assert no_scope.status_code == 403 and "'ask'" in no_scope.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200  # probes need no key
    store.revoke(record.id)
    refused = client.post("/v1/search", json={"query": "leave"}, headers=auth)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_keys_cli_prints_the_key_once_and_lists_without_it(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["-w", str(tmp_path / "ws")]
    made = runner.invoke(
        cli, [*ws, "keys", "create", "--tenant", "acme", "--groups", "hr,eng", "--json"]
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["groups"] == ["hr", "eng"] and created["scopes"] == ["ask"]
    listed = runner.invoke(cli, [*ws, "keys", "list", "--json"])
    assert created["key"] not in listed.stdout
    assert json.loads(listed.stdout)[0]["id"] == created["id"]
    revoked = runner.invoke(cli, [*ws, "keys", "revoke", created["id"], "--json"])
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["revoked"] is not None
    assert "digest" not in revoked.stdout
    assert json.loads(runner.invoke(cli, [*ws, "keys", "list", "--json"]).stdout)[0]["revoked"]
    no_tenant = runner.invoke(cli, [*ws, "keys", "create"])
    assert no_tenant.exit_code == 1 and "--tenant" in no_tenant.output


def test_serve_refuses_the_network_without_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-w", str(tmp_path / "ws"), "serve", "--host", "0.0.0.0", "--port", "1"]
    )
    assert result.exit_code == 1
    assert "expertly keys create" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("127.0.0.5", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
     ("example.org", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_starts_uvicorn_with_the_app_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from expertly.server import observe

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    # the process-wide JSON log handlers would outlive this test
    monkeypatch.setattr(observe, "configure_logging", lambda: None)
    result = CliRunner().invoke(
        cli, ["-w", str(tmp_path / "ws"), "serve", "--port", "8123", "--json"]
    )
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)
    assert said == {
        "url": "http://127.0.0.1:8123",
        "workspace": str(tmp_path / "ws"),
        "keys_required": False,
        "workers": 1,
    }
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123
    assert calls[0]["app"].state.service.settings.max_waiting == 32  # type: ignore[attr-defined]


def test_serve_with_workers_hands_uvicorn_the_factory_and_a_metrics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from expertly.server import observe, workers

    for name in (observe.MULTIPROC_ENV, workers.WORKSPACE_ENV, workers.SETTINGS_ENV):
        monkeypatch.setenv(name, "")  # so that the value before the test is restored after
        monkeypatch.delenv(name)
    calls: list[dict[str, object]] = []

    def run(app: object, **kw: object) -> None:
        folder = Path(os.environ[observe.MULTIPROC_ENV])
        calls.append({"app": app, "folder": folder, "exists": folder.is_dir(), **kw})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(observe, "configure_logging", lambda: None)
    result = CliRunner().invoke(
        cli, ["-w", str(tmp_path / "ws"), "serve", "--workers", "3", "--burst", "7"]
    )
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["app"] == workers.APP_FACTORY and call["factory"] is True
    assert call["workers"] == 3 and call["exists"] is True
    assert not Path(str(call["folder"])).exists()  # the temporary metrics folder is removed
    assert os.environ[workers.WORKSPACE_ENV] == str((tmp_path / "ws").resolve())
    settings = json.loads(os.environ[workers.SETTINGS_ENV])
    assert settings["workers"] == 3 and settings["burst"] == 7
    # each worker builds its app from that environment
    app = workers.worker_app()
    assert app.state.service.settings.burst == 7
    assert app.state.service.settings.workers == 3
    app.state.service.close()
