"""Prints the demo's questions, one a line, from examples/questions.jsonl (for `make demo`).

python examples/demo_questions.py            # 4 answerable questions + 1 the corpus cannot answer
python examples/demo_questions.py --search   # one question for the search step
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

QUESTIONS = Path(__file__).with_name("questions.jsonl")


def main() -> None:
    rows = [
        json.loads(line)
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    answerable = [r for r in rows if r.get("answer")]
    unanswerable = [r for r in rows if not r.get("answer")]
    if "--search" in sys.argv:
        print(answerable[0]["question"])
        return
    # Prefer a spread of formats: the first question whose source is each kind of file.
    chosen, seen = [], set()
    for row in answerable:
        suffix = Path(row["source"]).suffix
        if suffix not in seen:
            seen.add(suffix)
            chosen.append(row)
    for row in [*chosen[:5], *unanswerable[:1]]:
        print(row["question"])


if __name__ == "__main__":
    main()
