"""``expertly eval retrieval``: BEIR loading, metrics via ranx, latency, per-query output,
labelled questions on a workspace, and the CLI, on a tiny corpus with the hashing embedder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import ranx
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.corpora import corpus_documents, load_qrels
from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.evaluate import CONFIGURATIONS, load_beir, run_beir, run_questions
from expertly.evaluate.configurations import parse_configurations
from expertly.evaluate.retrieval import require_ranx
from tests.unit.helpers import fake_workspace, write_corpus

DOCS = {
    "d1": ("Volcano eruptions", "Magma rises through the crust and erupts as lava from vents."),
    "d2": ("Coral reefs", "Coral polyps build calcium carbonate reefs in warm shallow seas."),
    "d3": ("Honeybee dances", "Foraging bees perform a waggle dance to show where nectar is."),
    "d4": ("Glacier retreat", "Alpine glaciers lose ice mass as summer temperatures rise."),
    "d5": ("Tidal energy", "Turbines placed in estuaries convert tidal currents into electricity."),
    "d6": ("Sourdough bread", "Wild yeast and lactobacilli leaven sourdough with a sour taste."),
    "d7": ("Chess openings", "The Sicilian defence answers the king pawn opening with c5."),
    "d8": ("Jazz improvisation", "Saxophonists improvise solos over chord changes in bebop."),
    "d9": ("Bridge engineering", "Suspension bridges hang the deck from cables on towers."),
    "d10": ("Desert plants", "Cacti store water in thick stems and grow spines, not leaves."),
    "d11": ("Comet tails", "Solar wind pushes gas and dust from a comet into a glowing tail."),
    "d12": ("Tea processing", "Green tea leaves are steamed to stop oxidation before drying."),
}
# Every query's words occur only in its relevant documents' text, so BM25 finds exactly
# those documents. q5 has a second relevant document that shares none of its words.
QUERIES = {
    "q1": "waggle dance nectar",
    "q2": "sourdough yeast lactobacilli",
    "q3": "suspension cables towers",
    "q4": "comet solar wind tail",
    "q5": "tidal turbines electricity",
    "q6": "not judged in the test split",
}
QRELS = [("q1", "d3", 1), ("q2", "d6", 1), ("q3", "d9", 1), ("q4", "d11", 2)]
QRELS += [("q5", "d5", 2), ("q5", "d1", 1), ("q6", "d2", 0)]
SPARSE_TOP = {"q1": "d3", "q2": "d6", "q3": "d9", "q4": "d11", "q5": "d5"}


def write_beir(folder: Path, *, qrels_name: str = "qrels-test.tsv") -> Path:
    """A BEIR folder: corpus, queries and CRLF qrels with a header, as BEIR ships them."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, (title, text) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text, "metadata": {}}) + "\n")
    qrels = folder / qrels_name
    qrels.parent.mkdir(parents=True, exist_ok=True)
    rows = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{s}" for q, d, s in QRELS)]
    qrels.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8"))
    return folder


def test_load_beir_reads_crlf_qrels_with_header_and_drops_unjudged(tmp_path: Path) -> None:
    data = load_beir(write_beir(tmp_path / "tiny"), split="test")
    ev = data.evalset
    assert data.name == "tiny" and ev.split == "test"
    assert list(ev.queries) == ["q1", "q2", "q3", "q4", "q5"]  # q6: only a score 0
    assert ev.qrels["q5"] == {"d5": 2, "d1": 1} and ev.qrels["q4"] == {"d11": 2}
    assert ev.queries["q3"] == "suspension cables towers" and ev.total_queries == 5
    assert list(ev.limited(2).queries) == ["q1", "q2"] and ev.limited(2).total_queries == 5
    docs = list(corpus_documents(data.corpus_path))
    assert [d.id for d in docs] == list(DOCS)
    assert docs[0].title == "Volcano eruptions" and docs[0].text.startswith("Magma")
    assert len({d.content_hash for d in docs}) == len(DOCS)


def test_standard_beir_qrels_folder_split_and_explicit_file(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "std", qrels_name="qrels/test.tsv")
    assert load_beir(folder).evalset.qrels_path == folder / "qrels" / "test.tsv"
    with pytest.raises(ExpertlyError, match=r"qrels-train\.tsv or qrels/train\.tsv"):
        load_beir(folder, split="train")
    with pytest.raises(ExpertlyError, match="Unknown split 'validation'"):
        load_beir(folder, split="validation")
    mine = tmp_path / "mine.tsv"
    mine.write_text("q2\td6\t1\n", encoding="utf-8")  # no header is fine too
    assert load_beir(folder, qrels=mine).evalset.qrels == {"q2": {"d6": 1}}


def test_malformed_inputs_name_the_file_and_line(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "bad")
    qrels = folder / "qrels-test.tsv"
    qrels.write_bytes(b"query-id\tcorpus-id\tscore\r\nq1\td3\t1\r\nq2\td6\r\n")
    with pytest.raises(ExpertlyError, match=r"qrels-test\.tsv, line 3: expected"):
        load_qrels(qrels)
    qrels.write_text("q1\td3\t1\nq2\td6\tyes\n", encoding="utf-8")
    with pytest.raises(ExpertlyError, match="line 2"):
        load_qrels(qrels)
    qrels.write_text("q9\td3\t1\n", encoding="utf-8")
    with pytest.raises(ExpertlyError, match=r"not in queries\.jsonl, e\.g\. 'q9'"):
        load_beir(folder)
    corpus = folder / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n', encoding="utf-8")
    with pytest.raises(ExpertlyError, match=r"corpus\.jsonl, line 2: not valid JSON"):
        list(corpus_documents(corpus))
    corpus.write_text('{"_id": "a", "text": "x"}\n{"title": "no id"}\n', encoding="utf-8")
    with pytest.raises(ExpertlyError, match="line 2: '_id' must be a non-empty string"):
        list(corpus_documents(corpus))
    (folder / "queries.jsonl").unlink()
    qrels.write_text("q1\td3\t1\n", encoding="utf-8")
    with pytest.raises(ExpertlyError, match=r"queries\.jsonl: no such file"):
        load_beir(folder)
    with pytest.raises(ExpertlyError, match="no such folder"):
        load_beir(tmp_path / "missing")


def test_metrics_match_ranx_and_index_is_reused(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    parent = fake_workspace(tmp_path)
    report = run_beir(parent, load_beir(folder), ["sparse", "dense", "hybrid"])
    assert [r.name for r in report.results] == ["sparse", "dense", "hybrid"]
    sparse = report.results[0]
    assert {q.query_id: q.ranking[0][0] for q in sparse.queries} == SPARSE_TOP
    assert all(len(q.ranking) == 1 for q in sparse.queries)  # no other doc shares a word

    # The same ranking built by hand and scored by ranx directly.
    expected = ranx.evaluate(
        ranx.Qrels({q: dict(j) for q, j in load_beir(folder).evalset.qrels.items()}),
        ranx.Run({q: {d: 1.0} for q, d in SPARSE_TOP.items()}),
        ["ndcg@10", "recall@10", "recall@100", "mrr@10"],
    )
    assert sparse.metrics == pytest.approx({k: float(v) for k, v in expected.items()})
    per_query = {q.query_id: q.metrics for q in sparse.queries}
    assert per_query["q1"]["ndcg@10"] == pytest.approx(1.0)
    assert per_query["q5"]["recall@10"] == pytest.approx(0.5)
    assert per_query["q5"]["ndcg@10"] == pytest.approx(2 / (2 + 1 / 1.5849625007211562))
    assert sparse.metrics["mrr@10"] == pytest.approx(1.0)

    for result in report.results:
        assert set(result.metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
        assert 0 < result.latency_ms["p50"] <= result.latency_ms["p95"]
        assert all(q.latency_ms > 0 for q in result.queries)
    assert report.counts["documents"] == 12 and report.counts["queries"] == 5
    assert report.counts["judged_documents_not_indexed"] == 0
    index_dir = parent.root / "eval" / "tiny-hashing-64"
    assert report.index["path"] == str(index_dir / "index.sqlite")
    assert report.index["documents_indexed"] == 12 and not report.index["reused"]

    again = run_beir(parent, load_beir(folder), ["sparse"], limit=2)
    assert again.index["reused"] and again.index["documents_indexed"] == 0
    assert again.counts["queries"] == 2 and again.to_dict()["comparable"] is False
    rebuilt = run_beir(parent, load_beir(folder), ["sparse"], rebuild=True)
    assert rebuilt.index["documents_indexed"] == 12
    assert rebuilt.results[0].metrics == pytest.approx(sparse.metrics)
    parent.close()


def test_changed_corpus_updates_only_what_changed(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    parent = fake_workspace(tmp_path)
    run_beir(parent, load_beir(folder), ["sparse"])
    lines = (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = json.dumps({"_id": "d1", "title": "Volcano", "text": "Lava waggle flows."})
    (folder / "corpus.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    report = run_beir(parent, load_beir(folder), ["sparse"])
    assert report.index["documents_indexed"] == 1 and report.index["documents_removed"] == 1
    assert report.counts["documents"] == 11
    q1 = next(q for q in report.results[0].queries if q.query_id == "q1")
    assert [d for d, _ in q1.ranking] == ["d3", "d1"]  # d1 now says "waggle" once
    parent.close()


def test_questions_are_scored_against_the_workspace_index(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"question": "How many weeks of parental leave?", "relevant": ["leave.md"]},
        {"id": "price", "question": "HX-100 humidity sensor price", "relevant": ["prices.csv"]},
        {"question": "password characters", "relevant": ["security.txt"]},
    ]
    questions.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    report = run_questions(ws, questions, ["sparse", "hybrid"])
    assert list(report.evalset.queries) == ["q1", "price", "q3"]
    for result in report.results:
        assert result.metrics["recall@10"] == pytest.approx(1.0)
        assert result.metrics["mrr@10"] > 0.5
    assert report.split == "questions" and report.index["reused"]

    questions.write_text(
        json.dumps(lines[0]) + "\n" + json.dumps({"question": "x", "relevant": ["nope.md"]}),
        encoding="utf-8",
    )
    with pytest.raises(ExpertlyError, match=r"line 2: 'nope\.md' is not a document of the index"):
        run_questions(ws, questions, ["sparse"])
    questions.write_text(json.dumps({"question": "x", "relevant": "leave.md"}), encoding="utf-8")
    with pytest.raises(ExpertlyError, match="line 1: 'relevant' must be a non-empty list"):
        run_questions(ws, questions, ["sparse"])
    ws.close()

    empty = fake_workspace(tmp_path / "other")
    with pytest.raises(ExpertlyError, match="Nothing is ingested"):
        run_questions(empty, questions, ["sparse"])


def test_configurations_come_from_a_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_configurations(" dense,sparse ,dense") == ["dense", "sparse"]
    assert {"dense", "sparse", "hybrid"} <= set(CONFIGURATIONS)
    with pytest.raises(ExpertlyError, match=r"Unknown configuration.*rerank.*valid: dense"):
        parse_configurations("dense,rerank")
    monkeypatch.setitem(sys.modules, "ranx", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"expertly\[eval\]"):
        require_ranx()


def _cli_workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text('[embedder]\nbackend = "hashing"\ndim = 64\n')
    return ws


def test_cli_json_per_query_and_table(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    ws = _cli_workspace(tmp_path)
    per_query = tmp_path / "out" / "per-query.jsonl"
    runner = CliRunner()
    args = ["-w", str(ws), "eval", "retrieval", str(folder), "--retrieval", "sparse", "--json"]
    result = runner.invoke(app, [*args, "--per-query", str(per_query)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dataset"] == "tiny" and data["split"] == "test" and data["comparable"]
    assert list(data["configurations"]) == ["sparse"]
    sparse = data["configurations"]["sparse"]
    assert sparse["metrics"]["mrr@10"] == pytest.approx(1.0)
    assert sparse["latency_ms"]["p50"] > 0 and sparse["latency_ms"]["p95"] > 0
    assert data["counts"]["queries"] == 5 and data["settings"]["chunk_k"] == 300
    assert data["settings"]["retrieval"]["rrf_k"] == 60
    records = [json.loads(line) for line in per_query.read_text().splitlines()]
    assert [r["query_id"] for r in records] == ["q1", "q2", "q3", "q4", "q5"]
    assert records[0]["top10"] == ["d3"] and records[0]["metrics"]["ndcg@10"] == 1.0
    assert records[4]["relevant"] == {"d5": 2, "d1": 1} and records[4]["latency_ms"] > 0

    table = runner.invoke(
        app,
        ["-w", str(ws), "eval", "retrieval", str(folder), "--limit", "3"],
        env={"COLUMNS": "160"},
    )
    assert table.exit_code == 0, table.output
    for needle in ("nDCG@10", "p95 ms", "dense", "sparse", "hybrid", "(reused)", "not comparable"):
        assert needle in table.output


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    ws = _cli_workspace(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(app, ["-w", str(ws), "eval", "retrieval", str(folder), "--retrieval", "x"])
    assert bad.exit_code == 1 and "Unknown configuration(s) x" in bad.output
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "q", "relevant": ["d1"]}\n', encoding="utf-8")
    both = runner.invoke(
        app, ["-w", str(ws), "eval", "retrieval", str(folder), "--questions", str(questions)]
    )
    assert both.exit_code == 2 and "not both" in both.output
    (folder / "qrels-test.tsv").write_text("q1\td3\n", encoding="utf-8")
    broken = runner.invoke(app, ["-w", str(ws), "eval", "retrieval", str(folder)])
    assert broken.exit_code == 1 and "line 1" in broken.output
