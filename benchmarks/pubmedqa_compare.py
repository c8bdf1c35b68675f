"""Prepare PubMedQA PQA-L for ``expertly compare``: one text file per abstract, a question
set with ``choices`` (yes / no / maybe) and the gold abstract as ``relevant``, and fine-tuning
data from the other questions.

    python benchmarks/pubmedqa_compare.py ../shared/data/pubmedqa-l /tmp/pqa --questions 100
    expertly -w /tmp/pqa/ws ingest /tmp/pqa/corpus
    expertly -w /tmp/pqa/ws finetune run /tmp/pqa/train.jsonl --name pqa --max-minutes 12
    expertly -w /tmp/pqa/ws compare /tmp/pqa/questions.jsonl --routes base,rag,finetuned,hybrid \
        --model pqa --out /tmp/pqa/out

The compare set is the *last* ``--questions`` questions of the pool; ``train.jsonl`` is made
from the others (split by document: each question has its own abstract, so no compare
question's abstract is behind any training pair). A training pair is the question with the
same "Answer with one of" instruction the compare asks, and the gold label as the reply: the
model learns the task's form and label prior from questions alone (no abstract in the
prompt), which is what the closed-book fine-tuned route is scored on. Writes a small JSON
summary of what it wrote on stdout.
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
    chosen, rest = pool[-args.questions :], pool[: -args.questions]
    choices = ["yes", "no", "maybe"]
    with (args.out / "train.jsonl").open("w", encoding="utf-8") as fh:
        for q in rest:
            user = f"{q['question'].strip()}\nAnswer with one of: {', '.join(choices)}."
            messages = [
                {"role": "user", "content": user},
                {"role": "assistant", "content": q["answers"][0]},
            ]
            fh.write(json.dumps({"messages": messages}) + "\n")
    with (args.out / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for q in chosen:
            record = {
                "id": q["id"],
                "question": q["question"],
                "answers": q["answers"],
                "choices": choices,
                "relevant": [f"{pid}.txt" for pid in q["gold_passage_ids"]],
                "kind": "factual",
            }
            fh.write(json.dumps(record) + "\n")
    summary = {"passages": len(passages), "questions": len(chosen), "train": len(rest)}
    print(json.dumps({**summary, "out": str(args.out)}))


if __name__ == "__main__":
    main()
