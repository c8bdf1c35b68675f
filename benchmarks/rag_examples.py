"""Answer quality of the RAG route on the sample corpus's labelled questions.

    .venv/bin/python benchmarks/rag_examples.py [--k 3] [--questions FILE]
        [--corpus FOLDER] [--out benchmarks/results/rag_examples.json]

For each question of examples/questions.jsonl: is the gold source among the retrieved
chunks (retrieval hit), does the answer contain every `must_contain` string (correct), does
it cite the gold source (cited), and for questions the corpus cannot answer, did it abstain.
When it abstains on an answerable question: does one of the closest passages it points to
(``Answer.leads``) hold the answer.
The peer in the same run is closed-book: the same model without retrieval, so the ratio
shows what retrieval adds. These are the project's own example questions, not a benchmark
of general quality. ``examples/questions.jsonl`` is the development set (choose settings on
it); ``examples/questions_heldout.jsonl`` asks about other facts of the same corpus and is the
set to report a chosen setting on. ``--corpus examples/corpus-utility --questions
examples/questions_utility.jsonl`` asks about a second corpus of another trade (a water
utility), written apart from the answering code.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from expertly.config import RetrievalSettings, Settings
from expertly.types import Message
from expertly.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--k", type=int, default=None, help="chunks per prompt (default retrieval.k)"
    )
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument(
        "--questions",
        type=Path,
        default=ROOT / "examples" / "questions.jsonl",
        help="labelled questions (default: the development set, examples/questions.jsonl)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=ROOT / "examples" / "corpus",
        help="folder the questions' sources are relative to (default: examples/corpus)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rag_examples.json"))
    args = parser.parse_args()

    settings = Settings.load(args.workspace)
    if args.k:
        settings.retrieval = RetrievalSettings(**{**settings.retrieval.__dict__, "k": args.k})
    settings.cache.answers = False  # every answer generated: cached ones would time nothing
    ws = Workspace(args.workspace or Path(tempfile.mkdtemp()) / "ws", settings)
    ws.ingestor.ingest([args.corpus])
    answerer = ws.answerer()
    ws.embedder.load()  # type: ignore[attr-defined]
    getattr(ws.llm, "warmup", lambda: None)()
    rows = [json.loads(x) for x in args.questions.read_text().splitlines() if x]

    results = []
    for row in rows:
        t0 = time.perf_counter()
        answer = answerer.answer(row["question"])
        seconds = time.perf_counter() - t0
        closed = ws.llm.generate([Message("user", row["question"])], max_tokens=80).text
        gold = row["source"]
        text = answer.text.lower()
        results.append(
            {
                "id": row["id"],
                "question": row["question"],
                "answer": answer.text,
                "abstained": answer.abstained,
                "retrieval_hit": bool(gold) and any(h.chunk.doc_id == gold for h in answer.hits),
                "correct": bool(gold)
                and not answer.abstained
                and all(m.lower() in text for m in row["must_contain"]),
                "closed_book_correct": bool(gold)
                and all(m.lower() in closed.lower() for m in row["must_contain"]),
                "cited_gold": bool(gold) and any(c.doc_id == gold for c in answer.citations),
                # an abstention's closest passages (Answer.leads) hold the answer
                "lead_holds_answer": bool(gold)
                and answer.abstained
                and any(
                    all(m.lower() in c.quote.lower() for m in row["must_contain"])
                    for c in answer.leads
                ),
                "citation_methods": sorted({c.method for c in answer.citations}),
                "answerable": bool(gold),
                "seconds": round(seconds, 2),
                "trace": [s.name for s in answer.trace],
                "draft": next(
                    (s.detail.get("raw_text", "") for s in answer.trace if s.name == "generate"),
                    "",
                ),
            }
        )
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]

    def share(key: str) -> float | None:
        """The share of answerable questions with ``key`` true; None when there are none."""
        return round(sum(r[key] for r in answerable) / len(answerable), 3) if answerable else None

    summary = {
        "benchmark": "rag_examples",
        "questions": str(args.questions),
        "corpus": str(args.corpus),
        "model": ws.llm.name,
        "k": ws.settings.retrieval.k,
        "answerable": len(answerable),
        "retrieval_hit_rate": share("retrieval_hit"),
        "accuracy": share("correct"),
        "closed_book_accuracy": share("closed_book_correct"),
        "cited_gold_rate": share("cited_gold"),
        "false_abstentions": sum(r["abstained"] for r in answerable),
        "false_abstentions_answered_by_a_lead": sum(r["lead_holds_answer"] for r in answerable),
        "unanswerable": len(unanswerable),
        "abstained_on_unanswerable": sum(r["abstained"] for r in unanswerable),
        "median_seconds": round(statistics.median(r["seconds"] for r in results), 2),
        "results": results,
    }
    ws.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=2))
    for r in results:
        flag = "OK " if r["correct"] or (not r["answerable"] and r["abstained"]) else "-- "
        print(flag, r["id"], r["answer"][:110].replace("\n", " "))


if __name__ == "__main__":
    main()
