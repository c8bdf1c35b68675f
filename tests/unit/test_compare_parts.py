"""Question sets, statistics and per-answer metrics of ``expertly compare``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expertly.evaluate import metrics
from expertly.evaluate.questions import Question, load_questions
from expertly.evaluate.stats import bootstrap_ci, mcnemar_p, paired_bootstrap_p, percentile
from expertly.jsonl import JsonlError


def _write(path: Path, *records: object) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


# --- question sets ------------------------------------------------------------------------


def test_the_sample_set_loads_with_its_own_field_names() -> None:
    questions = load_questions(Path("examples/questions.jsonl"))
    assert len(questions) == 15
    first = questions[0]
    assert first.id == "q01" and first.answers and first.must_contain == ("fan",)
    assert first.relevant == ("products/stratus-aq200-user-manual.pdf",)
    assert {q.kind for q in questions} == {"factual", "unanswerable"}


def test_seen_is_derived_from_the_training_documents(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "q.jsonl",
        {"id": "a", "question": "A?", "answers": ["x"], "relevant": ["docs/leave.md"]},
        {"id": "b", "question": "B?", "answers": ["y"], "relevant": ["security.txt"]},
        {"id": "c", "question": "C?", "answers": ["z"], "seen": True},
    )
    seen = {q.id: q.seen for q in load_questions(path, trained_on=["/data/docs/leave.md"])}
    assert seen == {"a": True, "b": False, "c": True}
    assert all(q.seen is None for q in load_questions(path)[:2])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"answers": ["x"]}, "'question' is missing"),
        ({"question": "Q?"}, "no 'answers'"),
        ({"question": "Q?", "answers": ["x"], "kind": "trivia"}, "kind 'trivia' is not one of"),
        ({"question": "Q?", "answers": [1]}, "'answers' must be a string or a list"),
        ({"question": "Q?", "answers": ["x"], "choices": ["yes"]}, "at least two"),
        ({"question": "Q?", "answers": ["x"], "seen": "yes"}, "'seen' must be true or false"),
        (
            {"question": "Q?", "answers": ["x"], "update": {"root": "d", "old": "1"}},
            "'update' lacks document, new, answers",
        ),
        ({"question": "Q?", "answers": ["x"], "pattern": "^Answer: (.*"}, "not a valid regular"),
        ({"question": "Q?", "answers": ["x"], "pattern": 3}, "'pattern' must be a string"),
    ],
)
def test_bad_lines_name_the_file_and_the_line(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / "q.jsonl", {"question": "ok?", "answers": ["ok"]}, record)
    with pytest.raises(JsonlError, match=rf"q\.jsonl, line 2: .*{message}"):
        load_questions(path)


def test_duplicate_ids_and_empty_files_are_errors(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.jsonl", *[{"id": "x", "question": "Q?", "answers": ["a"]}] * 2)
    with pytest.raises(JsonlError, match="line 2: id 'x' already used on line 1"):
        load_questions(path)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(JsonlError, match="no questions"):
        load_questions(tmp_path / "empty.jsonl")


def test_unanswerable_needs_no_answer_and_limit_stops_early(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "q.jsonl",
        {"question": "Who is the CEO's cat?", "kind": "unanswerable"},
        {"question": "Q2?", "answers": ["a"]},
    )
    (only,) = load_questions(path, limit=1)
    assert only.kind == "unanswerable" and only.answers == () and only.id == "line1"


# --- statistics -----------------------------------------------------------------------------


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    values = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    first, again = bootstrap_ci(values), bootstrap_ci(values)
    assert first == again and first is not None
    assert first.mean == pytest.approx(0.7) and first.n == 10
    assert first.low < first.mean < first.high
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([0.5]) == bootstrap_ci([0.5], seed=1)


def test_mcnemar_exact_values() -> None:
    # 10 discordant pairs all one way: p = 2 * (1/2)^10
    assert mcnemar_p([1] * 10 + [0] * 5, [0] * 10 + [0] * 5) == pytest.approx(2 / 1024)
    assert mcnemar_p([1, 0, 1], [1, 0, 1]) == 1.0
    # 3 vs 2 discordant: nowhere near significant
    assert mcnemar_p([1, 1, 1, 0, 0], [0, 0, 0, 1, 1]) == 1.0
    with pytest.raises(ValueError, match="same questions"):
        mcnemar_p([1], [1, 0])


def test_paired_bootstrap_separates_a_clear_difference_from_none() -> None:
    better = [0.9, 0.8, 1.0, 0.95, 0.85, 0.9, 1.0, 0.8]
    worse = [0.1, 0.2, 0.0, 0.15, 0.3, 0.1, 0.0, 0.2]
    assert paired_bootstrap_p(better, worse) < 0.01
    assert paired_bootstrap_p(worse, better) < 0.01
    assert paired_bootstrap_p(better, better) == 1.0
    mixed_a, mixed_b = [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]
    assert paired_bootstrap_p(mixed_a, mixed_b) > 0.5


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 95) is None


# --- per-answer metrics --------------------------------------------------------------------


PASSAGES = [
    "Employees get 20 weeks of paid parental leave. Everyone gets 28 days of vacation.",
    "Passwords must have at least 14 characters.",
]


def test_groundedness_counts_supported_sentences_and_invented_figures() -> None:
    answer = "Employees get 20 weeks of parental leave [1]. The moon is made of cheese and 42 mice."
    result = metrics.groundedness(answer, PASSAGES)
    assert result == {"grounded": 0.5, "unsupported_figures": ["42"]}
    assert metrics.groundedness(answer, []) == {"grounded": None, "unsupported_figures": None}
    assert metrics.figures("It costs 2,340.50 EUR, or 12.") == {"2340.50", "12"}


def test_citation_precision_and_recall_at_document_level() -> None:
    cited = [
        {"doc_id": "d1", "source": "/docs/handbook/leave.md"},
        {"doc_id": "d2", "source": "/docs/security.txt"},
    ]
    scores = metrics.citation_scores(cited, ["handbook/leave.md", "prices.csv"])
    assert scores == {"citation_precision": 0.5, "citation_recall": 0.5}
    assert metrics.citation_scores([], ["x"]) == {
        "citation_precision": None,
        "citation_recall": 0.0,
    }
    assert metrics.citation_scores(cited, [])["citation_precision"] is None


def test_free_text_is_mapped_to_the_first_choice_it_names() -> None:
    choices = ["yes", "no", "maybe"]
    assert metrics.pick_choice("No. Maybe later, but no.", choices) == "no"
    assert metrics.pick_choice("Maybe; yes in some cases.", choices) == "maybe"
    assert metrics.pick_choice("It depends.", choices) is None
    assert metrics.macro_f1(["yes", "no", None], ["yes", "yes", "no"], choices) == pytest.approx(
        (2 / 3 + 0 + 0) / 3
    )


@pytest.mark.parametrize(
    ("question", "text", "abstained", "correct"),
    [
        (Question("a", "Q?", ("20 weeks",)), "It is 20 weeks.", False, 1.0),
        (Question("a", "Q?", ("20 weeks",)), "It is 28 days.", False, 0.0),
        (Question("b", "Q?", ("long reference",), must_contain=("14",)), "14 chars", False, 1.0),
        (Question("e", "Q?", ("EUR 689",), must_contain=("689",)), "price: 689.00", False, 1.0),
        (Question("c", "Q?", kind="unanswerable"), "The documents do not say.", True, 1.0),
        (Question("c", "Q?", kind="unanswerable"), "It is 7.", False, 0.0),
        (Question("d", "Q?", ("yes",), choices=("yes", "no")), "Yes, it does.", False, 1.0),
        (Question("d", "Q?", ("yes",), choices=("yes", "no")), "No.", False, 0.0),
    ],
)
def test_correct_by_kind_of_question(
    question: Question, text: str, abstained: bool, correct: float
) -> None:
    scores = metrics.score(question, {"text": text, "abstained": abstained})
    assert scores["correct"] == correct
    answerable = question.kind != "unanswerable"
    assert (scores["abstain_wrong"] is None) is not answerable


def test_dataset_build_pairs_are_a_compare_set(tmp_path: Path) -> None:
    pair = {
        "messages": [
            {"role": "user", "content": "What is the price of HX-100?"},
            {"role": "assistant", "content": "Answer: 149 EUR.\nSource: sales/prices.csv"},
        ],
        "metadata": {"doc_id": "sales/prices.csv", "span": "149"},
    }
    plain = {**pair, "metadata": {}}
    path = tmp_path / "val.jsonl"
    path.write_text(json.dumps(pair) + "\n" + json.dumps(plain) + "\n")
    first, second = load_questions(path, trained_on=["sales/prices.csv"])
    assert (first.question, first.answers, first.relevant) == (
        "What is the price of HX-100?",
        ("149",),
        ("sales/prices.csv",),
    )
    assert first.seen is True
    assert second.answers == ("Answer: 149 EUR.\nSource: sales/prices.csv",)
    assert second.relevant == () and second.seen is False
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(JsonlError, match=r"val.jsonl, line 1: a 'messages' line"):
        load_questions(path)


# --- template adherence ----------------------------------------------------------------


def test_adherence_scores_answers_against_the_style_questions_pattern(tmp_path: Path) -> None:
    template = r"^Answer: \S.*\nSource: \S+$"
    path = _write(
        tmp_path / "q.jsonl",
        {"question": "Phone of ZRH?", "answers": ["+41"], "kind": "style", "pattern": template},
        {"question": "Phone of LYS?", "answers": ["+33"]},
    )
    styled, plain = load_questions(path)
    assert styled.pattern == template and plain.pattern == ""
    follows = {"text": "  Answer: +41 44 555\nSource: offices.csv\n", "abstained": False}
    prose = {"text": "The phone for ZRH is +41 44 555.", "abstained": False}
    assert metrics.score(styled, follows)["adherence"] == 1.0
    assert metrics.score(styled, prose)["adherence"] == 0.0
    assert metrics.score(plain, prose)["adherence"] is None
