"""Synthesized fine-tuning data: the offline generator, the teacher checks, de-duplication,
leakage, the split and the files ``build_dataset`` writes."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from expertly.errors import ExpertlyError
from expertly.finetune import datasets
from expertly.finetune.build import BuildOptions, build_dataset
from expertly.finetune.dedup import (
    EvalQuestion,
    dedup,
    find_leaks,
    jaccard,
    load_eval,
    normalise,
    split_pairs,
    tokens,
)
from expertly.finetune.synthesize import (
    QAPair,
    iter_chunks,
    offline_pairs,
    parse_style,
    sample,
    stylize,
)
from expertly.finetune.teacher import TeacherStats, parse_teacher_reply, teacher_pairs
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Chunk, Message
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace, write_corpus


def _chunk(text: str, heading_path: tuple[str, ...] = (), doc_id: str = "d.md") -> Chunk:
    return Chunk(f"{doc_id}#0", doc_id, 0, text, 0, len(text), heading_path=heading_path)


def _pair(question: str, doc: str = "d", answer: str = "a") -> QAPair:
    return QAPair(question, answer, answer, doc, f"{doc}#0", "table")


# ---------------------------------------------------------------- offline generator


def test_table_row_gives_one_question_per_column_with_verbatim_values() -> None:
    text = "sku: HX-100; product: Humidity sensor; price_eur: 149; functions: Sales; Finance"
    pairs = offline_pairs(_chunk(text), "Price list")
    assert [(p.question, p.span) for p in pairs] == [
        ("What is the price eur for Humidity sensor (HX-100)?", "149"),
        ("What is the functions for Humidity sensor (HX-100)?", "Sales; Finance"),
    ]
    assert pairs[0].answer == "The price eur for Humidity sensor (HX-100) is 149."
    assert all(p.span in text and p.kind == "table" for p in pairs)


def test_faq_row_is_taken_as_its_own_question_and_answer() -> None:
    text = "id: faq-1; question: Can I export data?; answer: Yes, as CSV or JSON."
    (pair,) = offline_pairs(_chunk(text), "FAQ")
    assert (pair.question, pair.answer) == ("Can I export data?", "Yes, as CSV or JSON.")


def test_definitions_and_labels_become_questions_but_pronoun_clauses_do_not() -> None:
    text = (
        "The probation period is 3 months. It is short. There are exceptions.\n\n"
        "- Internet allowance: EUR 25 per month, paid with your salary.\n"
        "- Connect the power: use the adapter."
    )
    pairs = offline_pairs(_chunk(text), "Onboarding")
    got = {p.question: p.span for p in pairs}
    assert got == {
        "What is the probation period?": "3 months",
        "What is the internet allowance?": "EUR 25 per month, paid with your salary.",
    }
    assert all(p.kind == "definition" and p.span in text for p in pairs)


def test_section_question_is_answered_by_its_opening_sentence() -> None:
    text = "Sick leave\n\nIf you are ill, tell your manager before 09:30. Bring a note."
    pairs = offline_pairs(_chunk(text, ("Leave Policy", "Sick leave")), "Leave Policy")
    section = [p for p in pairs if p.kind == "section"]
    assert [(p.question, p.answer) for p in section] == [
        (
            "What does the Leave Policy say about sick leave?",
            "If you are ill, tell your manager before 09:30. Bring a note.",
        )
    ]
    # a chunk that continues a section (no heading first) gives no section question
    cont = offline_pairs(_chunk("More text about leave here.", ("Leave Policy", "Sick")), "L")
    assert not [p for p in cont if p.kind == "section"]


# ---------------------------------------------------------------- dedup, leakage, split


def test_normalise_and_jaccard() -> None:
    assert normalise("  What's the PRICE, of Zürich?! ") == "what s the price of zurich"
    assert jaccard(tokens("a b c"), tokens("a b d")) == pytest.approx(0.5)


def test_dedup_removes_exact_and_near_duplicate_questions_keeping_the_first() -> None:
    items = [
        _pair("What is the price of the HX-100 sensor in the catalogue?"),
        _pair("what is the PRICE of the HX-100 sensor in the catalogue"),  # same normalised
        _pair("What is the price of the HX-100 sensor in the catalogue today?"),  # J = 0.9
        _pair("What is the weight of the HX-100 sensor?"),
    ]
    kept, removed = dedup(items, lambda p: p.question, threshold=0.9)
    assert removed == 2 and kept == [items[0], items[3]]
    with pytest.raises(ExpertlyError, match="threshold"):
        dedup(items, lambda p: p.question, threshold=0)


def test_dedup_prefix_filter_finds_what_all_pairs_comparison_finds() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(12)]
    questions = [" ".join(rng.sample(vocab, rng.randint(3, 8))) for _ in range(300)]
    for threshold in (0.5, 0.7, 0.9):
        kept, _ = dedup(questions, str, threshold=threshold)
        brute: list[str] = []
        for q in questions:
            if normalise(q) in {normalise(k) for k in brute}:
                continue
            if all(jaccard(tokens(q), tokens(k)) < threshold for k in brute):
                brute.append(q)
        assert kept == brute, threshold


def test_leaks_are_found_by_question_and_by_question_plus_answer() -> None:
    evals = [
        EvalQuestion("e1", "How many weeks of parental leave do we get?", "20 weeks"),
        EvalQuestion("e2", "What is the list price of the HX-100 sensor?", "EUR 149"),
        EvalQuestion("e3", "Does Aurelwind offer stock options?", ""),
    ]
    pairs = [
        ("how many weeks of parental leave do we get", "20"),
        ("List price of HX-100?", "The list price of the HX-100 sensor is EUR 149."),
        ("What is the vacation allowance?", "28 days."),
        ("Does Aurelwind offer a canteen?", "Yes."),
        ("What does the policy say about leave for the other parent?", "20 weeks."),
        ("What is the lead time for the HX-200?", "The lead time is 20 days."),
    ]
    leaks = find_leaks(pairs, evals)
    assert [(leak.index, leak.eval_id, leak.reason) for leak in leaks] == [
        (0, "e1", "same question"),
        (1, "e2", "question and answer overlap"),
        (4, "e1", "same figure, shared subject"),
    ]


def test_load_eval_reads_the_example_questions_and_rejects_bad_lines(tmp_path: Path) -> None:
    evals = load_eval(Path(__file__).parents[2] / "examples" / "questions.jsonl")
    assert len(evals) >= 10 and evals[0].id == "q01" and evals[0].answer
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"text": "no question"}\n')
    with pytest.raises(ExpertlyError, match="line 2"):
        load_eval(bad)
    with pytest.raises(ExpertlyError, match="no such"):
        load_eval(tmp_path / "missing.jsonl")


def test_split_by_document_keeps_documents_whole_and_is_seeded() -> None:
    items = [_pair(f"q{i}", doc=f"doc{i % 7}") for i in range(70)]
    train, val = split_pairs(items, by="doc", doc=lambda p: p.doc_id, val_fraction=0.2, seed=1)
    assert len(train) + len(val) == 70 and 10 <= len(val) <= 20
    assert not {p.doc_id for p in train} & {p.doc_id for p in val}
    again = split_pairs(items, by="doc", doc=lambda p: p.doc_id, val_fraction=0.2, seed=1)
    assert again == (train, val)
    other = split_pairs(items, by="doc", doc=lambda p: p.doc_id, val_fraction=0.2, seed=2)
    assert other != (train, val)
    by_q = split_pairs(items, by="question", doc=lambda p: p.doc_id, val_fraction=0.1, seed=1)
    assert len(by_q[1]) == 7
    one_doc = [_pair("a"), _pair("b")]
    assert (
        split_pairs(one_doc, by="doc", doc=lambda p: p.doc_id, val_fraction=0.5, seed=0)[0]
        == one_doc
    )  # the last document always stays in training
    # every document is larger than 1.5x the validation share: the smallest one goes there
    big = [_pair(f"a{i}", doc="a") for i in range(12)] + [
        _pair(f"b{i}", doc="b") for i in range(10)
    ]
    big += [_pair(f"c{i}", doc="c") for i in range(11)]
    train, val = split_pairs(big, by="doc", doc=lambda p: p.doc_id, val_fraction=0.1, seed=0)
    assert len(val) in (10, 11, 12) and len({p.doc_id for p in val}) == 1 and len(train) > 12
    with pytest.raises(ExpertlyError, match="doc, question"):
        split_pairs(items, by="topic", doc=lambda p: p.doc_id, val_fraction=0.1, seed=0)


def test_sample_keeps_order_and_respects_the_limit() -> None:
    items = [_pair(f"q{i}") for i in range(20)]
    picked = sample(items, 5, seed=3)
    assert len(picked) == 5 and picked == sorted(picked, key=items.index)
    assert sample(items, 0, seed=3) == items


# ---------------------------------------------------------------- teacher


def test_teacher_keeps_grounded_pairs_and_counts_every_rejection() -> None:
    chunk = _chunk("Employees get 20 weeks of paid parental leave. Vacation is 28 days.")
    reply = json.dumps(
        [
            {"question": "How long is parental leave?", "answer": "20 weeks of paid leave."},
            {"question": "How long is vacation?", "answer": "30 days."},  # wrong figure
            {"question": "Who is the CEO of the company?", "answer": "Marguerite Okonkwo"},
            {"question": "Only a question?"},
        ]
    )
    llm = ScriptedLLM([f"Sure! Here you go:\n{reply}\nHope it helps.", "no json at all"])
    stats = TeacherStats()
    pairs = teacher_pairs(llm, chunk, "Leave", stats, per_chunk=4)
    assert [(p.question, p.kind) for p in pairs] == [("How long is parental leave?", "teacher")]
    assert stats.rejected == {
        "a figure not in the passage": 1,
        "words not in the passage": 1,
        "missing question or answer": 1,
    }
    assert teacher_pairs(llm, chunk, "Leave", stats) == []
    assert stats.bad_replies == 1 and stats.calls == 2 and stats.kept == 1
    prompt = llm.calls[0][1].content
    assert chunk.text in prompt and "JSON" in prompt


def test_parse_teacher_reply_accepts_an_object_holding_the_list() -> None:
    assert parse_teacher_reply('{"pairs": [{"question": "q", "answer": "a"}]}') == [
        {"question": "q", "answer": "a"}
    ]
    with pytest.raises(ValueError):
        parse_teacher_reply("[1, 2]")


# ---------------------------------------------------------------- style


def test_style_template_rewrites_answers_and_rejects_bad_templates() -> None:
    pair = QAPair("Q?", "Twenty weeks.", "Twenty weeks", "hr/leave.md", "hr/leave.md#0", "table")
    (styled,) = stylize([pair], "Answer: {answer}\nSource: {source}")
    assert styled.answer == "Answer: Twenty weeks.\nSource: hr/leave.md"
    with pytest.raises(ExpertlyError, match="unknown field"):
        parse_style("{answer} {author}")
    with pytest.raises(ExpertlyError, match="must contain"):
        parse_style("Source: {source}")


# ---------------------------------------------------------------- the whole build


def _ingested(tmp_path: Path) -> Workspace:
    ws = fake_workspace(tmp_path)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    return ws


def test_build_writes_chat_jsonl_that_finetune_reads_and_counts_add_up(tmp_path: Path) -> None:
    ws = _ingested(tmp_path)
    evals = tmp_path / "eval.jsonl"
    evals.write_text(
        json.dumps({"id": "e1", "question": "What is the price eur for Humidity sensor (HX-100)?"})
        + "\n"
    )
    out = tmp_path / "out"
    seen: list[tuple[int, int]] = []
    options = BuildOptions(val_fraction=0.3, eval_path=evals)
    report = build_dataset(
        ws.store,
        out,
        options,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1][0] == seen[-1][1] == report.chunks
    assert report.leaked_removed == 1 and report.leaked[0]["eval_id"] == "e1"
    assert report.train + report.val == (
        report.generated - report.duplicates_removed - report.leaked_removed - report.sampled_out
    )
    train = datasets.load_jsonl(out / "train.jsonl")
    val = datasets.load_jsonl(out / "val.jsonl")
    assert len(train) == report.train and len(val) == report.val > 0
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    records += [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    docs = {"leave.md", "prices.csv", "security.txt"}
    assert {r["metadata"]["doc_id"] for r in records} <= docs
    assert all(r["metadata"]["span"] in r["messages"][-1]["content"] for r in records)
    questions = [r["messages"][0]["content"] for r in records]
    assert "What is the price eur for Temperature logger (TX-200)?" in questions
    assert "What is the price eur for Humidity sensor (HX-100)?" not in questions  # leaked
    saved = json.loads((out / "report.json").read_text())
    assert saved["train"] == report.train and saved["leaked"][0]["eval_id"] == "e1"

    again = build_dataset(ws.store, tmp_path / "again", options)
    assert (tmp_path / "again" / "train.jsonl").read_text() == (out / "train.jsonl").read_text()
    assert again.train == report.train


def test_build_with_teacher_style_and_system_message(tmp_path: Path) -> None:
    def reply(messages: Sequence[Message]) -> str:
        passage = messages[-1].content
        if "20 weeks" in passage:
            return '[{"question": "How long is parental leave?", "answer": "20 weeks."}]'
        return "I cannot help with that."

    ws = _ingested(tmp_path)
    options = BuildOptions(style="A: {answer} ({source})", system="Be brief.", val_fraction=0)
    report = build_dataset(ws.store, tmp_path / "out", options, teacher=ScriptedLLM(reply))
    assert report.train == 1 and report.val == 0 and report.by_kind == {"teacher": 1}
    assert report.teacher is not None and report.teacher["bad_replies"] == report.chunks - 1
    (record,) = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert record["messages"][2]["content"] == "A: 20 weeks. (leave.md)"
    assert not (tmp_path / "out" / "val.jsonl").exists() and "val" not in report.files


def test_build_stops_calling_the_teacher_once_max_pairs_exist(tmp_path: Path) -> None:
    def reply(messages: Sequence[Message]) -> str:  # a grounded pair for any chunk
        first = messages[-1].content.split('"""\n', 1)[1].split()[0]
        return json.dumps([{"question": f"What is said about {first}?", "answer": first}])

    ws = _ingested(tmp_path)
    llm = ScriptedLLM(reply)
    build_dataset(ws.store, tmp_path / "o", BuildOptions(max_pairs=1, val_fraction=0), teacher=llm)
    assert len(llm.calls) == 1


def test_build_errors_write_nothing(tmp_path: Path) -> None:
    empty = fake_workspace(tmp_path / "empty")
    with pytest.raises(ExpertlyError, match="expertly ingest"):
        build_dataset(empty.store, tmp_path / "o1", BuildOptions())
    ws = _ingested(tmp_path)
    with pytest.raises(ExpertlyError, match="unknown field"):
        build_dataset(ws.store, tmp_path / "o2", BuildOptions(style="{nope}"))
    with pytest.raises(ExpertlyError, match="no such"):
        build_dataset(ws.store, tmp_path / "o3", BuildOptions(eval_path=tmp_path / "x.jsonl"))
    # an evaluation file that asks every question leaves nothing to train on
    questions = [p.question for c, title in iter_chunks(ws.store) for p in offline_pairs(c, title)]
    (tmp_path / "all.jsonl").write_text(
        "".join(json.dumps({"question": q}) + "\n" for q in questions)
    )
    with pytest.raises(ExpertlyError, match="No question/answer pairs were left"):
        build_dataset(ws.store, tmp_path / "o4", BuildOptions(eval_path=tmp_path / "all.jsonl"))
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))
