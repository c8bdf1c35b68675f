"""Intervals and paired tests for the compare report, seeded so that a report is reproducible.

``bootstrap_ci`` resamples questions with replacement (percentile interval, 2,000 resamples
by default). ``paired_bootstrap_p`` resamples the *same* questions for two routes and counts
how often the sign of the difference flips (two-sided). ``mcnemar_p`` is the exact binomial
McNemar test on 0/1 outcomes, the usual test when both routes answered the same questions.
With a few dozen questions, intervals are wide: the report shows them so that nobody reads a
winner into noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 13


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% bootstrap interval over ``n`` values."""

    mean: float
    low: float
    high: float
    n: int


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> Interval | None:
    """Mean and 95% percentile bootstrap interval; None for no values."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(mean, float(low), float(high), int(data.size))


def paired_bootstrap_p(
    a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> float:
    """Two-sided p-value that mean(a) and mean(b) differ, resampling the question pairs."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("paired samples need the same questions in the same order")
    if x.size == 0:
        return 1.0
    diff = x - y
    if not diff.any():
        return 1.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    below = (means <= 0).mean() if diff.mean() > 0 else (means >= 0).mean()
    return float(min(1.0, 2 * below))


def mcnemar_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided McNemar p-value for paired 0/1 outcomes (values >= 0.5 count as 1)."""
    if len(a) != len(b):
        raise ValueError("paired samples need the same questions in the same order")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x >= 0.5 > y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y >= 0.5 > x)
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation), None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))
