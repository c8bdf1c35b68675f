"""Reranker training inputs, no model trained: hard negatives mined from a fake search
(relevant documents and passages never become negatives, one per document, the pair's own
negative first), the groups' flattening, the training config's checks and the CLI's rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.finetune.pairs import Pair
from expertly.finetune.reranker import (
    Group,
    RerankerTrainConfig,
    group_targets,
    mine_groups,
    usable_groups,
)
from expertly.types import Chunk, Hit
from tests.unit.helpers import fake_workspace, write_corpus


def hit(doc: str, index: int, text: str, title: str = "") -> Hit:
    chunk = Chunk(id=f"{doc}#{index}", doc_id=doc, index=index, text=text, start=0, end=len(text))
    return Hit(chunk=chunk, score=1.0, title=title)


class FakeSearch:
    """Returns a fixed ranking per query and records each call."""

    def __init__(self, rankings: dict[str, list[Hit]]) -> None:
        self.rankings = rankings
        self.calls: list[tuple[str, int]] = []

    def __call__(self, query: str, k: int) -> Sequence[Hit]:
        self.calls.append((query, k))
        return self.rankings.get(query, [])[:k]


def test_mining_skips_relevant_documents_and_repeats_and_takes_the_best_ranked() -> None:
    pairs = [
        Pair("q1", "Relevant abstract one. It has two sentences.", doc_id="d1"),
        Pair("q1", "Another relevant abstract.", doc_id="d2"),
        Pair("q2", "Answer of q2.", doc_id="d9"),
    ]
    search = FakeSearch(
        {
            "q1": [
                hit("d1", 0, "Relevant abstract one."),  # a relevant document by id
                hit("d3", 0, "Hard negative A", title="T3"),
                hit("d3", 1, "Same document again"),  # one negative per document
                hit("d2", 1, "Another relevant abstract."),  # the other positive's document
                hit("d4", 0, "Hard negative B"),
                hit("d5", 0, "Hard negative C"),
                hit("d6", 0, "Too deep"),
            ],
            "q2": [hit("d9", 0, "Answer of q2."), hit("d1", 0, "Relevant abstract one.")],
        }
    )
    mined = mine_groups(pairs, search, negatives=2, depth=30)
    assert search.calls == [("q1", 30), ("q2", 30)]  # each question searched once
    assert mined.groups[0] == Group(
        "q1", pairs[0].passage, ("T3\nHard negative A", "Hard negative B")
    )
    assert mined.groups[1].negatives == mined.groups[0].negatives
    # q2's relevant document d1 for q1 is a fine negative for q2
    assert mined.groups[2].negatives == ("Relevant abstract one.",)
    assert (mined.queries, mined.negatives, mined.without_negatives) == (2, 5, 0)


def test_mining_without_document_ids_compares_text_and_puts_the_own_negative_first() -> None:
    pairs = [Pair("q", "Alpha beta gamma.\n\nDelta   epsilon.", negative="Given negative")]
    search = FakeSearch(
        {
            "q": [
                hit("x", 0, "delta epsilon."),  # part of the positive passage: skipped
                hit("y", 0, "Unrelated text"),
                hit("z", 0, "More unrelated text"),
            ]
        }
    )
    mined = mine_groups(pairs, search, negatives=2)
    assert mined.groups[0].negatives == ("Given negative", "Unrelated text")


def test_mining_counts_pairs_left_without_negatives_and_checks_its_arguments() -> None:
    pairs = [Pair("q", "only passage", doc_id="a")]
    mined = mine_groups(pairs, FakeSearch({"q": [hit("a", 0, "only passage")]}))
    assert mined.without_negatives == 1 and mined.groups[0].negatives == ()
    assert usable_groups(mined.groups, "listwise") == []
    assert usable_groups(mined.groups, "bce") == mined.groups
    none = mine_groups(pairs, FakeSearch({}), negatives=0)
    assert none.groups[0].negatives == ()
    with pytest.raises(ValueError, match="negatives must be >= 0"):
        mine_groups(pairs, FakeSearch({}), negatives=-1)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        mine_groups(pairs, FakeSearch({}), depth=0)


def test_group_targets_flatten_positive_first_with_sizes() -> None:
    pairs, sizes = group_targets([Group("q1", "p1", ("n1", "n2")), Group("q2", "p2", ())])
    assert pairs == [("q1", "p1"), ("q1", "n1"), ("q1", "n2"), ("q2", "p2")]
    assert sizes == [3, 1]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("loss", "hinge"),
        ("epochs", 0),
        ("batch_size", 0),
        ("lr", 0),
        ("warmup", 1.0),
        ("max_seq_length", 8),
        ("threads", 0),
        ("max_minutes", -1),
    ],
)
def test_train_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RerankerTrainConfig(**{field: value})  # type: ignore[arg-type]


def test_cli_rules_one_source_never_test_and_an_index_to_mine(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(tmp_path / "ws")]
    none = runner.invoke(app, [*ws, "finetune", "reranker"])
    assert none.exit_code != 0 and "exactly one of PAIRS" in none.output
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"query": "q", "passage": "p"}) + "\n", encoding="utf-8")
    test = runner.invoke(
        app, [*ws, "finetune", "reranker", "--beir", str(tmp_path), "--split", "test"]
    )
    assert test.exit_code != 0 and "--split test" in test.output
    bad = runner.invoke(app, [*ws, "finetune", "reranker", str(pairs), "--loss", "hinge"])
    assert bad.exit_code != 0 and "loss must be one of listwise, bce" in bad.output
    empty = runner.invoke(app, [*ws, "finetune", "reranker", str(pairs)])
    assert empty.exit_code == 1 and "Nothing is ingested" in empty.output


def test_cli_mines_from_the_workspace_index_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything up to the model: the pairs, the mined groups and the paths handed to the
    trainer (training itself is the integration test's job)."""
    import expertly.finetune.reranker as module

    workspace = fake_workspace(tmp_path)  # at tmp_path / "ws", hashing embedder of dim 64
    root = workspace.root
    workspace.ingestor.ingest([write_corpus(tmp_path / "docs")])
    workspace.close()
    seen: dict[str, object] = {}

    def fake_train(groups, base, out, config, *, progress=None):
        seen.update(groups=groups, out=out, config=config)
        raise module.ExpertlyError("stop here")

    monkeypatch.setattr(module, "finetune_reranker", fake_train)
    monkeypatch.setenv("EXPERTLY_EMBEDDER__BACKEND", "hashing")
    monkeypatch.setenv("EXPERTLY_EMBEDDER__DIM", "64")
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(
        json.dumps({"query": "How many weeks of parental leave?", "passage": "Twenty weeks."})
        + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app,
        ["--workspace", str(root), "finetune", "reranker", str(pairs), "--name", "t", "--json"],
    )
    assert result.exit_code == 1 and "stop here" in result.output
    groups = seen["groups"]
    assert isinstance(groups, list) and len(groups) == 1
    assert len(groups[0].negatives) == 3 and "Twenty weeks." not in groups[0].negatives
    assert seen["out"] == root / "models" / "reranker-t"
