"""The Workspace as the only builder: parts handed in through ``Parts``, searchers for
retrieval variants, warm-up and closing through capability protocols."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli import query
from expertly.cli.main import app
from expertly.config import EmbedderSettings, LLMSettings, RetrievalSettings, Settings
from expertly.embed import LocalModel
from expertly.embed import registry as embedders
from expertly.embed.hashing import HashingEmbedder
from expertly.generate import Closeable, Warmable
from expertly.generate import registry as llms
from expertly.generate.scripted import ScriptedLLM
from expertly.retrieve.rerank import JUDGE_PROMPT
from expertly.retrieve.rewrite import MULTI_PROMPT
from expertly.types import Message
from expertly.workspace import Parts, Workspace
from tests.unit.helpers import fake_workspace, write_corpus

JUDGE_TAIL = JUDGE_PROMPT.split("{question}")[1]


def _reply(messages: Sequence[Message]) -> str:
    """Rewrites for the query writer; yes only for the parental-leave passage as judge."""
    if messages[0].content == MULTI_PROMPT:
        return "paid parental leave weeks\nleave policy"
    if messages[-1].content.endswith(JUDGE_TAIL):
        return "Yes" if "parental leave" in messages[-1].content.split("Question:")[0] else "No"
    return "ok"


def test_search_with_an_llm_judge_and_llm_rewrites_gets_the_workspace_llm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "expertly.toml").write_text(
        '[embedder]\nbackend = "hashing"\ndim = 64\n[llm]\nbackend = "scripted"\n'
        '[retrieval]\nrerank = "llm"\nrerank_candidates = 4\nrewrite = "multi"\n'
        "min_relevance = 0.0\n"
    )
    runner = CliRunner()
    corpus = write_corpus(tmp_path / "docs")
    assert runner.invoke(app, ["-w", str(root), "ingest", str(corpus)]).exit_code == 0
    scripted = ScriptedLLM(_reply)
    monkeypatch.setattr(
        query, "workspace", lambda **_: Workspace(root, overrides=Parts(llm=scripted))
    )
    result = runner.invoke(app, ["-w", str(root), "search", "vacation", "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["queries"] == ["paid parental leave weeks", "leave policy"]
    assert "20 weeks of paid parental leave" in out["hits"][0]["text"]  # the accepted one
    kinds = [m[0].content for m in scripted.calls]
    assert kinds[0] == MULTI_PROMPT and len(kinds) > 1  # one rewrite, then judge calls


def test_parts_are_used_as_given_and_never_closed(tmp_path: Path) -> None:
    class Endpoint(ScriptedLLM):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    llm, embedder = Endpoint(["ok"]), HashingEmbedder(32)
    settings = Settings(embedder=EmbedderSettings(backend="hashing", dim=64))
    ws = Workspace(tmp_path / "ws", settings, overrides=Parts(llm=llm, embedder=embedder))
    assert ws.llm is llm and ws.embedder is embedder  # no vector cache around a given part
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    assert isinstance(llm, Closeable)
    ws.close()
    assert llm.closed == 0 and ws.llm is llm
    other = ws.at(tmp_path / "eval")
    assert other.llm is llm and other.settings is settings and other.stats()["documents"] == 0
    assert ws.stats()["documents"] == 3 and len(ws.document_ids()) == 3
    other.close()
    ws.close()


class Loadable(HashingEmbedder):
    """A local-model embedder: a folder and a load step."""

    def __init__(self, path: Path) -> None:
        super().__init__(16)
        self.path = path
        self.loads = 0

    def load(self) -> object:
        self.loads += 1
        return self


class Warm(ScriptedLLM):
    def __init__(self) -> None:
        super().__init__(["ok"])
        self.warmups = 0
        self.closed = 0

    def warmup(self) -> float:
        self.warmups += 1
        return 0.0

    def close(self) -> None:
        self.closed += 1


def test_warmup_and_close_reach_the_models_the_workspace_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llms, "_BACKENDS", {**llms._BACKENDS, "warm": lambda s, d: Warm()})
    monkeypatch.setattr(
        embedders, "_BACKENDS", {**embedders._BACKENDS, "local": lambda s: Loadable(tmp_path)}
    )
    settings = Settings(
        embedder=EmbedderSettings(backend="local"),
        llm=LLMSettings(backend="warm"),
        retrieval=RetrievalSettings(min_relevance=0.0),
    )
    ws = Workspace(tmp_path / "ws", settings)
    ws.warmup()  # nothing built yet: nothing loaded
    ws.answerer("base")
    llm = ws.llm
    assert isinstance(llm, Warm) and isinstance(llm, Warmable)
    ws.warmup()
    assert llm.warmups == 1
    ws.searcher()  # builds the store, hence the embedder
    ws.warmup()
    model = ws._embedding_model
    assert isinstance(model, LocalModel) and isinstance(model, Loadable)
    assert model.loads == 1 and llm.warmups == 2
    teacher = ws.llm_with(backend="warm")
    assert teacher is not llm
    ws.close()
    assert llm.closed == 1 and isinstance(teacher, Warm) and teacher.closed == 1
    assert ws.llm is not llm  # rebuilt on next use


def test_answerer_options_do_not_change_the_settings(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, ["1], 28 days."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    before = ws.settings
    answer = ws.answerer("rag", k=1, cache=False).answer("How many days of vacation?")
    assert len(answer.hits) == 1 and ws.settings is before and ws.settings.retrieval.k != 1
    cached = ws.answerer("rag", k=1)
    assert type(cached).__name__ == "CachedAnswerer"
    assert ws.index_fingerprint() != ws.index_fingerprint(
        Settings(**{**before.__dict__, "retrieval": RetrievalSettings(k=1)})
    )
    ws.close()
