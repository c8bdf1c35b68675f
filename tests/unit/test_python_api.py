"""The public Python API: names importable from ``expertly`` (lazily), and the example of
docs/python.md, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_public_names_import_without_torch() -> None:
    code = (
        "import sys, expertly\n"
        "assert 'torch' not in sys.modules\n"
        "from expertly import (Workspace, Parts, Settings, Answer, Hit, Document, Citation,\n"
        "                      ExpertlyError, __version__)\n"
        "assert 'torch' not in sys.modules, 'the public names pulled in torch'\n"
        "assert Workspace.__module__ == 'expertly.workspace' and isinstance(__version__, str)\n"
        "assert issubclass(ExpertlyError, Exception) and Answer.__name__ == 'Answer'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_public_name_is_an_attribute_error() -> None:
    import expertly

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        expertly.Nothing  # noqa: B018
    assert "Workspace" in dir(expertly)


def test_the_documented_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    # The example reads its settings from expertly.toml and EXPERTLY_* like any workspace.
    monkeypatch.setenv("EXPERTLY_EMBEDDER__BACKEND", "hashing")
    monkeypatch.setenv("EXPERTLY_EMBEDDER__DIM", "64")
    monkeypatch.setenv("EXPERTLY_LLM__BACKEND", "scripted")
    monkeypatch.setenv("EXPERTLY_RETRIEVAL__MIN_RELEVANCE", "0")
    monkeypatch.setenv("EXPERTLY_ANSWER__MIN_SIMILARITY", "0")
    # answer.extract_min_score is calibrated for the packaged MiniLM; the toy hashing
    # embedder matches the vacation sentence at 0.88 (cosine 0.51 + 0.5 x coverage 0.75)
    monkeypatch.setenv("EXPERTLY_ANSWER__EXTRACT_MIN_SCORE", "0.8")
    namespace: dict[str, object] = {"__name__": "docs_python"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "1 added, 0 unchanged" in out
    assert "leave.md" in out  # a search hit
    # the scripted model's "ok" states nothing its source supports: withheld, and the source
    # sentence that answers is given verbatim instead (answer.fallback = "extract")
    assert re.search(
        r"^\s+rag: 'Everyone gets 28 days of vacation per calendar year \[1\]", out, re.MULTILINE
    ), out
    assert re.search(r"^\s+base: 'ok'", out, re.MULTILINE)
    assert "According to source [1], employees get 20 weeks" in out  # the Parts example
    assert "Unknown answer mode 'oracle'" in out
    assert (tmp_path / ".expertly" / "index.sqlite").is_file()
