"""Embedder fine-tuning inputs: pairs JSONL validation, pseudo-questions synthesized from
chunks, the training config's checks and the CLI's argument rules (no model is trained)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.errors import ExpertlyError
from expertly.finetune.embedder import EmbedderTrainConfig
from expertly.finetune.pairs import Pair, load_pairs, synthesize_pairs
from expertly.types import Chunk


def write(path: Path, *lines: object) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def test_pairs_accept_both_spellings_and_an_optional_negative(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.jsonl",
        {"query": " Who? ", "passage": "Ada did.", "negative": "Bob did not."},
        "",
        {"question": "When?", "positive": "In 1843."},
    )
    assert load_pairs(path) == [
        Pair("Who?", "Ada did.", "Bob did not."),
        Pair("When?", "In 1843."),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not valid JSON"),
        ("[1, 2]", "line 1: expected a JSON object"),
        ({"passage": "x"}, "line 1: 'query' must be a non-empty string"),
        ({"query": "q", "passage": "  "}, "line 1: 'passage' must be a non-empty string"),
        ({"query": "q", "passage": "p", "negative": 3}, "line 1: 'negative' must be a string"),
    ],
)
def test_bad_pair_lines_name_the_line(tmp_path: Path, line: object, message: str) -> None:
    with pytest.raises(ExpertlyError, match=message):
        load_pairs(write(tmp_path / "bad.jsonl", line))


def test_empty_and_missing_pair_files(tmp_path: Path) -> None:
    with pytest.raises(ExpertlyError, match="holds no pair"):
        load_pairs(write(tmp_path / "empty.jsonl", ""))
    with pytest.raises(ExpertlyError, match="no such file"):
        load_pairs(tmp_path / "missing.jsonl")


def chunk(text: str, headings: tuple[str, ...] = ()) -> Chunk:
    return Chunk(
        id="d#0", doc_id="d", index=0, text=text, start=0, end=len(text), heading_path=headings
    )


LONG = "Employees get twenty weeks of paid parental leave after the birth of a child. " * 2


def test_synthesized_pairs_use_the_heading_or_the_first_sentence() -> None:
    pairs = synthesize_pairs(
        [
            ("Handbook", chunk(LONG, ("Handbook", "Parental leave"))),
            ("", chunk("Rotate API tokens every ninety days. " + LONG)),
            ("Notes", chunk("Too short to train on.")),
        ]
    )
    assert pairs[0] == Pair("Parental leave", LONG.strip(), doc_id="d")
    assert pairs[1].query == "Rotate API tokens every ninety days."
    assert pairs[1].passage == LONG.strip()  # the sentence used as question is not repeated
    assert len(pairs) == 2
    assert synthesize_pairs([("", chunk(LONG))] * 5, limit=3) != []
    assert len(synthesize_pairs([("", chunk("One. " + LONG))] * 5, limit=3)) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 1),
        ("lr", 0),
        ("warmup", 1.0),
        ("max_seq_length", 4),
        ("threads", 0),
        ("max_minutes", -1),
    ],
)
def test_train_config_rejects_bad_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        EmbedderTrainConfig(**{field: value})  # type: ignore[arg-type]


def test_cli_needs_exactly_one_source_and_never_trains_on_test(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(tmp_path / "ws")]
    none = runner.invoke(app, [*ws, "finetune", "embedder"])
    assert none.exit_code != 0 and "exactly one of PAIRS" in none.output
    pairs = write(tmp_path / "p.jsonl", {"query": "q", "passage": "p"})
    both = runner.invoke(app, [*ws, "finetune", "embedder", str(pairs), "--synthesize"])
    assert both.exit_code != 0 and "exactly one of PAIRS" in both.output
    folder = tmp_path / "beir"
    folder.mkdir()
    test = runner.invoke(
        app, [*ws, "finetune", "embedder", "--beir", str(folder), "--split", "test"]
    )
    assert test.exit_code != 0 and "--split test" in test.output
    empty = runner.invoke(app, [*ws, "finetune", "embedder", "--synthesize"])
    assert empty.exit_code != 0 and "Nothing is ingested" in empty.output
