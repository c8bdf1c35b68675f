"""Sequence packing: whole examples concatenated into rows, each attending only to itself.

Short chat examples padded to the longest one in a batch waste most of the compute on
padding. Packing places whole examples (never split) into rows of at most ``max_seq_len``
tokens and gives every example its own ``position_ids`` counting from 0. The model is
called *without* an ``attention_mask`` and with ``use_cache=False``: transformers (>= 4.54,
``masking_utils``) then reads the restarting positions as packed sequences and builds a
block-diagonal causal mask for the eager and SDPA attentions (flash attention reads the
same positions as variable-length sequences). This is the flattening TRL calls
``padding_free`` / ``DataCollatorWithFlattening``,
kept in rows so the attention stays ``max_seq_len`` wide.

Labels are those of the unpacked examples, except that the first token of every example is
never a target: in a packed row it would be predicted from the previous example's last
token, which an example trained alone never does. So the loss of a packed batch is the
token-weighted loss of its examples run one by one (``tests/unit/test_finetune_packing.py``
checks the logits and the loss against that).

Padding at the end of a row (only the batch's rows of different lengths need any) gets the
position ``width`` (the padded batch width, above any real position) on every pad token,
so each pad token is a sequence of its own that no real token sees, and ``real_tokens``
can tell pads from tokens without an attention mask.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from expertly.finetune.datasets import IGNORE, Encoded


@dataclass(frozen=True)
class PackedRow:
    """One training row: several whole examples back to back.

    ``lengths`` are the examples' token counts in order, so the row can be cut back into
    them (tests, statistics).
    """

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    lengths: tuple[int, ...]


def pack(examples: Sequence[Encoded], max_len: int) -> list[PackedRow]:
    """Whole examples placed into as few rows of at most ``max_len`` tokens as best-fit
    decreasing finds (longest first, each into the fullest row it still fits in).

    Deterministic for the same input; examples longer than ``max_len`` (not produced by
    ``datasets.encode_all``, which truncates) raise ValueError rather than being cut here.
    """
    if max_len <= 0:
        raise ValueError(f"max_len must be > 0, got {max_len}")
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), i))
    bins: list[list[int]] = []  # example indices per row
    free: list[tuple[int, int]] = []  # (room left, row index), sorted: best fit by bisect
    for i in order:
        size = len(examples[i].input_ids)
        if size == 0:
            continue
        if size > max_len:
            raise ValueError(f"example {i} has {size} tokens, more than max_len = {max_len}")
        at = bisect.bisect_left(free, (size, -1))
        if at == len(free):
            bins.append([i])
            room, row = max_len - size, len(bins) - 1
        else:
            room, row = free.pop(at)
            bins[row].append(i)
            room -= size
        if room > 0:
            bisect.insort(free, (room, row))
    return [_row([examples[i] for i in sorted(members)]) for members in bins]


def _row(parts: Sequence[Encoded]) -> PackedRow:
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for part in parts:
        ids += part.input_ids
        labels += [IGNORE, *part.labels[1:]]  # never predicted from the previous example
        positions += range(len(part.input_ids))
    return PackedRow(ids, labels, positions, tuple(len(p.input_ids) for p in parts))


def rows_for_trainer(rows: Sequence[PackedRow]) -> list[dict[str, list[int]]]:
    """The rows as the plain dicts the ``Trainer``'s data loader hands to ``collator``."""
    return [
        {"input_ids": r.input_ids, "labels": r.labels, "position_ids": r.position_ids} for r in rows
    ]


def collator(pad_id: int) -> Callable[[list[dict[str, list[int]]]], dict[str, Any]]:
    """Right-pads packed rows to the batch's widest: pad tokens get label -100 and the
    position ``width``, and no ``attention_mask`` is returned (one would switch off the
    per-example attention; see the module docstring). ``use_cache`` is False: transformers
    builds a key/value cache whenever the model's ``use_cache`` is on, in training too, and
    a cache also switches the per-example attention off."""

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, fill: int) -> Any:
            return torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows])

        return {
            "input_ids": pad("input_ids", pad_id),
            "labels": pad("labels", IGNORE),
            "position_ids": pad("position_ids", width),
            "use_cache": False,
        }

    return collate


def real_tokens(position_ids: Any) -> Any:
    """How many tokens of a collated packed batch are not padding (a 0-d tensor)."""
    return (position_ids < position_ids.shape[-1]).sum()


def padding_share(rows: Sequence[PackedRow], max_len: int) -> float:
    """Share of ``len(rows) * max_len`` token slots left empty, for the run summary."""
    if not rows:
        return 0.0
    used = sum(len(r.input_ids) for r in rows)
    return 1 - used / (len(rows) * max_len)
