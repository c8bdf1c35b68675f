"""Multi-hop questions: the agent route against single-shot RAG, same model, same index.

    .venv/bin/python benchmarks/agent_hotpot.py [--data ../shared/data/hotpotqa-dev100]
        [--limit 30] [--modes rag,agent] [--out benchmarks/results/agent_hotpot.json]

The 991 HotpotQA passages are indexed once (open-collection setting: every question searches
all of them). Each mode answers every question with the workspace's LLM (default the packaged
SmolLM2-135M; set ``EXPERTLY_LLM__BACKEND=openai`` and ``EXPERTLY_LLM__BASE_URL`` to measure
a stronger served model). Scores: exact match, token F1 and containment against the gold
answers (evaluate/qa.py), share of the 2 gold passages the route read, tokens and seconds per
question. The answer cache is off so every answer is computed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from expertly.config import Settings
from expertly.evaluate.hotpot import passage_documents
from expertly.evaluate.qa import contains, exact_match, token_f1
from expertly.types import Answer
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hotpotqa-dev100"


def read_hits(answer: Answer) -> set[str]:
    """Documents the route put in front of the model (RAG hits, agent search observations)."""
    docs = {h.chunk.doc_id for h in answer.hits}
    for step in answer.trace:
        for doc in step.detail.get("doc_ids", []) if isinstance(step.detail, dict) else []:
            docs.add(doc)
    return docs


def run_mode(ws: Workspace, mode: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerer = ws.answerer(mode)
    per: list[dict[str, Any]] = []
    for row in rows:
        t0 = time.perf_counter()
        answer = answerer.answer(row["question"])
        seconds = time.perf_counter() - t0
        gold = row["answers"]
        read = read_hits(answer)
        per.append(
            {
                "id": row["id"],
                "type": row.get("type", ""),
                "prediction": answer.text,
                "answers": gold,
                "em": exact_match(answer.text, gold),
                "f1": round(token_f1(answer.text, gold), 4),
                "contains": contains(answer.text, gold),
                "gold_read": sum(g in read for g in row["gold_passage_ids"]) / 2,
                "abstained": answer.abstained,
                "incomplete": answer.incomplete,
                "steps": sum(1 for s in answer.trace if s.name == "agent.action"),
                "tokens": int(
                    answer.usage.get("prompt_tokens", 0) + answer.usage.get("completion_tokens", 0)
                ),
                "seconds": round(seconds, 3),
            }
        )
        print(f"{mode:>6} {row['id']}  f1 {per[-1]['f1']:.2f}  {answer.text[:70]!r}", flush=True)

    def mean(key: str) -> float:
        return round(statistics.fmean(float(p[key]) for p in per), 4)

    return {
        "mode": mode,
        "questions": len(per),
        "em": mean("em"),
        "f1": mean("f1"),
        "contains": mean("contains"),
        "gold_passages_read": mean("gold_read"),
        "abstained": sum(p["abstained"] for p in per),
        "incomplete": sum(p["incomplete"] for p in per),
        "tokens_mean": mean("tokens"),
        "seconds_p50": round(statistics.median(p["seconds"] for p in per), 3),
        "per_question": per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--modes", default="rag,agent")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/agent_hotpot.json"))
    args = parser.parse_args()
    rows = [
        json.loads(line)
        for line in (args.data / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ][: args.limit]
    root = args.workspace or Path(tempfile.mkdtemp()) / "ws"
    settings = Settings.load(root)
    settings.cache = dataclasses.replace(settings.cache, answers=False)
    ws = Workspace(root, settings)
    started = time.perf_counter()
    ws.ingestor.index_documents(passage_documents(args.data / "passages.jsonl"))
    index_s = time.perf_counter() - started
    getattr(ws.llm, "warmup", lambda: None)()
    results = [run_mode(ws, mode.strip(), rows) for mode in args.modes.split(",") if mode.strip()]
    out = {
        "data": str(args.data),
        "questions": len(rows),
        "llm": ws.llm.name,
        "agent": dataclasses.asdict(settings.agent),
        "retrieval_k": settings.retrieval.k,
        "index_seconds": round(index_s, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for r in results:
        print(
            f"{r['mode']:>6}: EM {r['em']:.3f}  F1 {r['f1']:.3f}  contains {r['contains']:.3f}  "
            f"gold read {r['gold_passages_read']:.3f}  tokens {r['tokens_mean']:.0f}  "
            f"p50 {r['seconds_p50']} s  incomplete {r['incomplete']}"
        )
    ws.close()


if __name__ == "__main__":
    main()
