"""The loss curve of a run as a PNG: training and validation loss against the step.

matplotlib is imported inside the function with the non-interactive Agg backend, so it
works on a server without a display and importing this module costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from expertly.errors import MissingDependencyError

Curve = Sequence[tuple[int, float]]


def loss_curve(train: Curve, val: Curve, path: Path, *, title: str = "") -> Path:
    """Draw ``train`` and ``val`` (step, loss) points into ``path`` (PNG); return it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "finetune", "the loss-curve plot") from exc
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    try:
        if train:
            ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1.2)
        if val:
            ax.plot(*zip(*val, strict=True), "o-", label="validation loss", linewidth=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (assistant tokens)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if train or val:
            ax.legend()
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
    return path
