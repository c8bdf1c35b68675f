"""Prepare PubMedQA PQA-L for ``expertly compare``: one text file per abstract, and a
question set with ``choices`` (yes / no / maybe) and the gold abstract as ``relevant``.

    python benchmarks/pubmedqa_compare.py ../shared/data/pubmedqa-l /tmp/pqa --questions 100
    expertly -w /tmp/pqa/ws ingest /tmp/pqa/corpus
    expertly -w /tmp/pqa/ws compare /tmp/pqa/questions.jsonl --routes base,rag --out /tmp/pqa/out

The compare set is the *last* ``--questions`` questions of the pool (the first ones are left
for building fine-tuning data, so a fine-tuned route is never scored on its own training
questions). Writes a small JSON summary of what it wrote on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="folder with passages.jsonl and questions.jsonl")
    parser.add_argument("out", type=Path)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    with (args.data / "passages.jsonl").open(encoding="utf-8") as fh:
        passages = [json.loads(line) for line in fh if line.strip()]
    for p in passages:
        (corpus / f"{p['id']}.txt").write_text(p["text"], encoding="utf-8")
    with (args.data / "questions.jsonl").open(encoding="utf-8") as fh:
        pool = [json.loads(line) for line in fh if line.strip()]
    chosen = pool[-args.questions :]
    with (args.out / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for q in chosen:
            record = {
                "id": q["id"],
                "question": q["question"],
                "answers": q["answers"],
                "choices": ["yes", "no", "maybe"],
                "relevant": [f"{pid}.txt" for pid in q["gold_passage_ids"]],
                "kind": "factual",
            }
            fh.write(json.dumps(record) + "\n")
    print(json.dumps({"passages": len(passages), "questions": len(chosen), "out": str(args.out)}))


if __name__ == "__main__":
    main()
