"""Sequence packing: rows of whole examples give each example the logits and the loss it
gives alone (tiny random-weight Llama, CPU, eager and SDPA attention)."""

from __future__ import annotations

import random

import pytest

from expertly.finetune import packing
from expertly.finetune.datasets import IGNORE, Encoded
from tests.unit.helpers import tiny_llama

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _example(rng: random.Random, length: int, prompt: int) -> Encoded:
    """``prompt`` unlabelled tokens, then labelled answer tokens (as ``encode`` gives)."""
    ids = [rng.randrange(3, 250) for _ in range(length)]
    labels = [IGNORE] * prompt + ids[prompt:]
    return Encoded(ids, labels, truncated=False)


def _examples(seed: int = 0) -> list[Encoded]:
    rng = random.Random(seed)
    sizes = [(9, 4), (23, 10), (5, 2), (17, 3), (31, 12), (12, 6), (3, 1), (26, 20)]
    return [_example(rng, n, p) for n, p in sizes]


def test_pack_keeps_every_example_whole_and_fits_rows() -> None:
    examples = _examples()
    rows = packing.pack(examples, max_len=40)
    assert sorted(n for r in rows for n in r.lengths) == sorted(len(e.input_ids) for e in examples)
    assert all(len(r.input_ids) <= 40 for r in rows)
    total = sum(len(e.input_ids) for e in examples)  # 126 tokens: 4 rows of 40 at best
    assert len(rows) == -(-total // 40)
    for row in rows:  # positions restart at 0 for every example; first token never a target
        start = 0
        for n in row.lengths:
            assert row.position_ids[start : start + n] == list(range(n))
            assert row.labels[start] == IGNORE
            start += n
    assert packing.pack(examples, 40) == rows  # deterministic


def test_pack_refuses_an_example_longer_than_a_row() -> None:
    with pytest.raises(ValueError, match="more than max_len"):
        packing.pack(_examples(), max_len=20)


def test_collator_pads_without_attention_mask_and_counts_real_tokens() -> None:
    rows = packing.rows_for_trainer(packing.pack(_examples(), max_len=40))
    batch = packing.collator(pad_id=0)(rows)
    assert "attention_mask" not in batch
    width = batch["input_ids"].shape[1]
    real = sum(len(r["input_ids"]) for r in rows)
    assert int(packing.real_tokens(batch["position_ids"])) == real
    pads = batch["position_ids"] == width
    assert int(pads.sum()) == len(rows) * width - real
    assert bool((batch["labels"][pads] == IGNORE).all())


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_logits_equal_each_example_alone(attn: str) -> None:
    model = tiny_llama(attn)
    examples = _examples()
    rows = packing.pack(examples, max_len=40)
    batch = packing.collator(pad_id=0)(packing.rows_for_trainer(rows))
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        alone = {
            tuple(e.input_ids): model(input_ids=torch.tensor([e.input_ids])).logits[0]
            for e in examples
        }
    compared = 0
    for r, row in enumerate(rows):
        start = 0
        for n in row.lengths:
            ids = tuple(row.input_ids[start : start + n])
            diff = (packed[r, start : start + n] - alone[ids]).abs().max().item()
            assert diff < 1e-4, f"example at row {r}, offset {start}: max |diff| {diff}"
            start += n
            compared += 1
    assert compared == len(examples)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_loss_equals_token_weighted_loss_of_examples_alone(attn: str) -> None:
    model = tiny_llama(attn)
    examples = _examples()
    batch = packing.collator(pad_id=0)(packing.rows_for_trainer(packing.pack(examples, 40)))
    with torch.no_grad():
        packed = model(**batch).loss.item()
        total = count = 0.0
        for e in examples:
            # a causal LM's loss is the mean over its targets: labels[1:] (labels[0] is
            # never predicted), so weight each example's mean by its target count
            targets = sum(label != IGNORE for label in e.labels[1:])
            loss = model(input_ids=torch.tensor([e.input_ids]), labels=torch.tensor([e.labels]))
            total += loss.loss.item() * targets
            count += targets
    assert packed == pytest.approx(total / count, abs=1e-5)


def test_a_packed_runs_collator_pads_validation_rows_unpacked() -> None:
    from expertly.finetune.hf_trainer import collator as _collator
    from expertly.finetune.hf_trainer import rows as _rows

    collate = _collator(0, packed=True)
    examples = _examples()[:3]
    val = collate(_rows(examples))  # validation stays unpacked: padded, with a mask
    assert "position_ids" not in val
    assert val["attention_mask"].sum().item() == sum(len(e.input_ids) for e in examples)
    train = collate(packing.rows_for_trainer(packing.pack(examples, 40)))
    assert "attention_mask" not in train and train["use_cache"] is False
