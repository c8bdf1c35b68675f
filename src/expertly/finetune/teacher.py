"""Question/answer pairs written by a teacher LLM, kept only when grounded in the chunk.

The teacher (the workspace's model, or any OpenAI-compatible endpoint) gets one chunk and
must reply with a JSON list of ``{"question", "answer"}`` objects. A reply that is not such
a list counts as a bad reply; a pair is rejected, with its reason counted, when a field is
missing or empty, or when the answer is not grounded: every number of the answer must
appear in the chunk and at least half of its content words must. Small models write many
ungrounded answers, and a fine-tuned model learns whatever it is shown, so nothing that
fails these checks reaches the dataset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from expertly.finetune.dedup import content_tokens
from expertly.finetune.synthesize import QAPair
from expertly.generate import LLM
from expertly.types import Chunk, Message

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

TEACHER_SYSTEM = (
    "You write question-answer pairs that train an assistant on a company's documents. "
    "Use only facts stated in the passage. Reply with JSON only."
)
TEACHER_PROMPT = """Passage from "{title}":
\"\"\"
{text}
\"\"\"

Write up to {n} questions an employee or customer could ask that this passage answers, each
with a short answer taken from the passage. Reply with a JSON list and nothing else:
[{{"question": "...", "answer": "..."}}]"""


@dataclass
class TeacherStats:
    """What the teacher returned: kept pairs, rejected pairs by reason, unusable replies."""

    calls: int = 0
    kept: int = 0
    bad_replies: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def parse_teacher_reply(text: str) -> list[dict[str, Any]]:
    """The list of objects in a teacher's reply (a JSON list, or an object holding one).

    Raises ``ValueError`` when no JSON list of objects can be found.
    """
    start, end = text.find("["), text.rfind("]")
    candidates = [text[start : end + 1]] if 0 <= start < end else []
    obj_start, obj_end = text.find("{"), text.rfind("}")
    if 0 <= obj_start < obj_end:
        candidates.append(text[obj_start : obj_end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        if isinstance(data, list) and all(isinstance(x, dict) for x in data):
            return data
    raise ValueError("no JSON list of question/answer objects in the reply")


def grounding_problem(answer: str, chunk_text: str, min_overlap: float = 0.5) -> str | None:
    """Why ``answer`` is not grounded in ``chunk_text``, or None if it is.

    Every number of the answer must appear in the chunk (thousands separators ignored), and
    at least ``min_overlap`` of its content words must.
    """
    plain = chunk_text.replace(",", "")
    for number in _NUMBER.findall(answer):
        if number.replace(",", "") not in plain:
            return "a figure not in the passage"
    words = content_tokens(answer)
    if words and len(words & content_tokens(chunk_text)) / len(words) < min_overlap:
        return "words not in the passage"
    return None


def teacher_pairs(
    llm: LLM,
    chunk: Chunk,
    title: str,
    stats: TeacherStats,
    *,
    per_chunk: int = 3,
    max_tokens: int = 400,
) -> list[QAPair]:
    """Grounded pairs an LLM writes for one chunk; rejections are counted in ``stats``."""
    prompt = TEACHER_PROMPT.format(title=title, text=chunk.text, n=per_chunk)
    messages = [Message("system", TEACHER_SYSTEM), Message("user", prompt)]
    stats.calls += 1
    reply = llm.generate(messages, max_tokens=max_tokens, temperature=0.0).text
    try:
        items = parse_teacher_reply(reply)
    except ValueError:
        stats.bad_replies += 1
        return []
    out = []
    for item in items[:per_chunk]:
        question, answer = item.get("question"), item.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            stats.reject("missing question or answer")
            continue
        question, answer = question.strip(), answer.strip()
        if len(question) < 8 or not answer or len(question) > 300 or len(answer) > 600:
            stats.reject("empty or too long")
            continue
        problem = grounding_problem(answer, chunk.text)
        if problem is not None:
            stats.reject(problem)
            continue
        span = answer if answer in chunk.text else ""
        out.append(QAPair(question, answer, span, chunk.doc_id, chunk.id, "teacher", title))
    stats.kept += len(out)
    return out
