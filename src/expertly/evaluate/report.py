"""``report.html``: one self-contained page rendered from ``compare.json`` alone.

The page is a Jinja2 template (``templates/report.html.j2``) with autoescaping on, because
answers and documents are untrusted text; the plots are inline SVG drawn by matplotlib (the
``finetune`` extra). Without matplotlib the page says which package adds the plots. No
script, no external resource: the file opens anywhere, offline, and can be archived as is.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

PLOTS_MISSING = "The plots need matplotlib: pip install 'expertly[finetune]'"


def fmt(value: Any, digits: int = 3) -> str:
    """How the report writes a number: fixed digits, an en dash for a missing one."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ci(interval: dict[str, Any] | None) -> str:
    """``0.667 [0.333, 1.000]`` for an interval dict, an en dash for none."""
    if not interval:
        return "–"
    return f"{fmt(interval['mean'])} [{fmt(interval['low'])}, {fmt(interval['high'])}]"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("expertly.evaluate", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["ci"] = ci
    return env


def _plot(compare: dict[str, Any], x_key: str, x_label: str) -> Markup | None:
    """Accuracy (with its interval) against ``x_key`` per route, as inline SVG; None
    without matplotlib."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for route, figures in compare["routes"].items():
        acc, x = figures["metrics"].get("correct"), figures.get(x_key)
        if acc is None or x is None:
            continue
        err = [[acc["mean"] - acc["low"]], [acc["high"] - acc["mean"]]]
        ax.errorbar([x], [acc["mean"]], yerr=err, fmt="o", capsize=4, label=route)
        ax.annotate(route, (x, acc["mean"]), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel(x_label)
    ax.set_ylabel("correct (95% CI)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.StringIO()
    # no date and fixed element ids: the same JSON renders the same page, byte for byte
    with matplotlib.rc_context({"svg.hashsalt": "expertly"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return Markup(svg[svg.index("<svg") :])  # trusted: drawn here from numbers


def render(compare: dict[str, Any]) -> str:
    """The report's HTML from a ``compare.json`` dict."""
    units = [f.get("cost_unit") for f in compare["routes"].values()]
    cost_unit = units[0] if units else "price"
    cost_key = "cpu_s_total" if cost_unit == "cpu-seconds" else "cost_total"
    plots = {
        "latency": _plot(compare, "latency_p50_s", "latency p50 (s)"),
        "cost": _plot(
            compare, cost_key, "CPU-seconds (total)" if cost_key == "cpu_s_total" else "cost"
        ),
    }
    records: dict[str, list[dict[str, Any]]] = {}
    for record in compare["records"]:
        records.setdefault(record["id"], []).append(record)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            c=compare,
            plots=plots,
            plots_missing=PLOTS_MISSING,
            records=records,
            cost_key=cost_key,
            metrics=[
                ("correct", "correct"),
                ("f1", "token F1"),
                ("em", "exact match"),
                ("semantic", "semantic sim."),
                ("grounded", "grounded"),
                ("figures_ok", "figures in passages"),
                ("citation_precision", "citation P"),
                ("citation_recall", "citation R"),
                ("abstain_right", "abstained (unanswerable)"),
                ("abstain_wrong", "abstained (answerable)"),
                ("adherence", "template adherence"),
            ],
        )
    )


def write_report(compare_json: Path, html: Path | None = None) -> Path:
    """Render ``compare_json`` to ``html`` (default: ``report.html`` beside it)."""
    target = html or compare_json.with_name("report.html")
    data = json.loads(compare_json.read_text(encoding="utf-8"))
    target.write_text(render(data), encoding="utf-8")
    return target
