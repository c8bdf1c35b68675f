"""The web UI's files and the compare report endpoint, through FastAPI's TestClient."""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from expertly.cli.main import app as cli
from expertly.server.keys import KeyStore
from expertly.server.ui import STATIC, UI_CSP, find_report

Serve = Callable[..., TestClient]
ROOT = Path(__file__).resolve().parents[3]
ASSETS = sorted(p.name for p in STATIC.iterdir() if p.is_file())


def test_index_is_served_with_a_strict_policy(serve: Serve) -> None:
    client = serve()
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == UI_CSP
    assert "default-src 'self'" in UI_CSP and "frame-ancestors 'none'" in UI_CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/app.js"></script>' in page.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_types(serve: Serve, name: str, content_type: str) -> None:
    response = serve().get(f"/ui/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (STATIC / name).read_bytes()


def test_every_file_the_page_loads_exists(serve: Serve) -> None:
    """The page's links and the modules' imports all resolve to files that are served."""
    client = serve()
    wanted = set(re.findall(r'(?:src|href)="/ui/([^"]+)"', (STATIC / "index.html").read_text()))
    for script in STATIC.glob("*.js"):
        wanted |= set(re.findall(r'from "\./([^"]+)"', script.read_text()))
    assert {"app.js", "api.js", "chat.js", "documents.js", "style.css", "icon.svg"} <= wanted
    for name in wanted:
        assert client.get(f"/ui/{name}").status_code == 200, name


@pytest.mark.parametrize(
    "path", ["/ui/missing.js", "/ui/..%2fui.py", "/ui/%2e%2e%2fapp.py", "/ui/ui.py", "/ui/"]
)
def test_only_the_ui_files_are_served(serve: Serve, path: str) -> None:
    assert serve().get(path).status_code == 404


def test_ui_files_need_no_key_but_the_api_does(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    KeyStore(tmp_path / "ws").create(tenant="acme", groups=(), scopes=("ask",))
    assert client.get("/").status_code == 200
    assert client.get("/ui/app.js").status_code == 200
    assert client.get("/v1/models").status_code == 401


def test_the_ui_loads_nothing_from_other_origins_nor_writes_markup() -> None:
    """No CDN or other origin (the SVG namespace is a name, not a request), and data never
    reaches the DOM as markup."""
    for name in ASSETS:
        text = (STATIC / name).read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (name, urls)
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", text), name


def test_the_wheel_ships_the_ui_files() -> None:
    """pyproject's package-data names every file of static/, so a wheel installs the UI."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["expertly"]
    relative = [f"server/static/{name}" for name in ASSETS]
    assert all(any(fnmatch.fnmatch(r, p) for p in patterns) for r in relative), patterns


# ---------------------------------------------------------------- the compare report


def _report(folder: Path, title: str, mtime: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(f"<!DOCTYPE html><title>{title}</title><h1>{title}</h1>", encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_the_newest_report_in_the_workspace_is_found(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert find_report(root, None) is None
    old = _report(root / "compare", "old", 1_000)
    new = _report(root / "compare-2", "new", 2_000)
    _report(root / "uploads", "uploaded", 3_000)  # a tenant's upload is never "the report"
    _report(root / "a" / "b", "too deep", 4_000)
    assert find_report(root, None) == new
    assert find_report(root, old.parent) == old  # --report FOLDER
    assert find_report(root, old) == old  # --report FILE
    assert find_report(root, tmp_path / "nowhere") is None


def test_report_endpoint_serves_the_newest_report(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    _report(tmp_path / "ws" / "compare", "old", 1_000)
    _report(tmp_path / "ws" / "compare-new", "newest", 2_000)
    response = client.get("/v1/reports/latest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>newest</h1>" in response.text
    # opened directly, the report may style itself but run nothing
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy


def test_report_endpoint_says_how_to_make_one_when_there_is_none(serve: Serve) -> None:
    response = serve().get("/v1/reports/latest")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "expertly compare" in error["message"] and "--report" in error["message"]


def test_report_setting_names_the_report(serve: Serve, tmp_path: Path) -> None:
    chosen = _report(tmp_path / "elsewhere", "chosen", 1_000)
    _report(tmp_path / "ws" / "compare", "newer but not chosen", 2_000)
    client = serve(report=chosen.parent)
    assert "<h1>chosen</h1>" in client.get("/v1/reports/latest").text


def test_report_needs_a_key_that_reads_every_document(serve: Serve, tmp_path: Path) -> None:
    """A compare run reads every document, so a tenant's key may not read its report."""
    client = serve()
    _report(tmp_path / "ws" / "compare", "report", 1_000)
    store = KeyStore(tmp_path / "ws")
    admin, _ = store.create(tenant=None, groups=(), scopes=("admin",))
    tenant, _ = store.create(tenant="acme", groups=(), scopes=("ask",))
    ingest_only, _ = store.create(tenant="acme", groups=(), scopes=("ingest",))

    def get(key: str | None) -> int:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return client.get("/v1/reports/latest", headers=headers).status_code

    assert get(None) == 401
    assert get("exp_wrong_key") == 401
    assert get(ingest_only) == 403  # lacks the ask scope
    refused = client.get("/v1/reports/latest", headers={"Authorization": f"Bearer {tenant}"})
    assert refused.status_code == 403
    assert "every document" in refused.json()["error"]["message"]
    assert get(admin) == 200


def test_serve_report_option_reaches_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from expertly.server import observe

    apps: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: apps.append(app))
    monkeypatch.setattr(observe, "configure_logging", lambda: None)  # it would outlive the test
    chosen = _report(tmp_path / "out", "chosen", 1_000)
    ws = ["-w", str(tmp_path / "ws")]
    result = CliRunner().invoke(cli, [*ws, "serve", "--report", str(chosen.parent)])
    assert result.exit_code == 0, result.output
    assert apps[0].state.service.settings.report == chosen.parent  # type: ignore[attr-defined]
    missing = CliRunner().invoke(cli, [*ws, "serve", "--report", str(tmp_path / "none")])
    assert missing.exit_code != 0 and "does not exist" in missing.output
