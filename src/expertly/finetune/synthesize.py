"""Question/answer pairs synthesized from indexed documents, for fine-tuning.

Two generators read the chunks of the store:

* ``offline_pairs`` needs no model and is deterministic. It reads three shapes of text:
  table rows (``key: value; key: value`` chunks, as the CSV, XLSX, DOCX and HTML loaders
  write them) give "What is the <column> for <row>?"; definitional sentences ("The
  probation period is 3 months.", "Home office allowance: EUR 600 ...") give "What is
  <subject>?"; sections give "What does the <title> say about <heading>?" answered by the
  section's first sentence. Every answer contains a verbatim ``span`` of the chunk, so a
  model's answer can be checked by containment.
* ``expertly.finetune.teacher`` has an LLM write the pairs instead, keeping only the
  grounded ones.

``stylize`` rewrites answers into a fixed template ("Answer: {answer}\\nSource: {source}"),
which is how a style dataset (a format or tone to learn) is built from the same facts.
De-duplication, the leakage check and the split are in ``expertly.finetune.dedup``; the
whole build (and the files it writes) in ``expertly.finetune.build``.
"""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from expertly.errors import ExpertlyError
from expertly.finetune.dedup import words
from expertly.types import Chunk, DocumentInfo

KINDS = ("table", "definition", "section", "teacher")
STYLE_FIELDS = ("answer", "question", "source", "title", "span")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\[[ xX]\])\s+")
_NUMBERING = re.compile(r"^\d+(?:\.\d+)*\.?\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NOT_A_SUBJECT = words(
    "it this that there these those he she they we you i everyone nobody anyone what "
    "which who each every all if when where here some any one none both either for in "
    "on at by with check from after before during"
)
_NOT_A_PREDICATE = words(
    "not also only usually always never often still then shown given sent made set "
    "kept held paid taken done built known written seen found"
)
# Words that make a "label: value" line a clause or an instruction rather than a label.
_NOT_IN_LABEL = frozenset(["the", "a", "an", "your", "you", "to", "we", "our", "if"])
_QA_KEYS = ({"question", "q"}, {"answer", "a"})


@runtime_checkable
class ChunkSource(Protocol):
    """What the generators read: the store's documents and their chunks."""

    def documents(self) -> Iterator[DocumentInfo]: ...

    def chunks(self, doc_id: str) -> list[Chunk]: ...


@dataclass(frozen=True)
class QAPair:
    """One synthesized pair and where it came from; ``span`` is verbatim chunk text."""

    question: str
    answer: str
    span: str
    doc_id: str
    chunk_id: str
    kind: str
    title: str = ""

    def to_record(self, system: str = "") -> dict[str, Any]:
        """The chat-form JSONL record that ``expertly finetune`` reads, with metadata."""
        messages = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": self.answer},
        ]
        meta = {"doc_id": self.doc_id, "chunk_id": self.chunk_id, "kind": self.kind}
        return {"messages": messages, "metadata": {**meta, "span": self.span}}


# ---------------------------------------------------------------------------- offline


def _title(info: DocumentInfo) -> str:
    title = info.title.split(" | ")[0].strip()
    if not title or title == info.id.rsplit("/", 1)[-1].rsplit(".", 1)[0]:
        title = info.id.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    return title


def _lower_first(text: str) -> str:
    """Sentence case to mid-sentence case ("Home office allowance" → "home office
    allowance"); names and codes ("Stratus AQ-200", "Aurelwind Cloud") are kept."""
    first, *rest = text.split()
    if first[1:].islower() and first[0].isupper() and all(w.islower() for w in rest):
        return text[0].lower() + text[1:]
    return text


def _is_name(text: str) -> bool:
    return _lower_first(text) == text and text[:1].isupper()


def _row(paragraph: str) -> list[tuple[str, str]] | None:
    """``key: value; key: value`` as (key, value) pairs, or None if it is not a table row.

    Values may themselves contain "; " (a list inside a cell): a piece without ": " is
    joined back onto the previous value.
    """
    if "\n" in paragraph or ": " not in paragraph or "; " not in paragraph:
        return None
    fields: list[tuple[str, str]] = []
    for piece in paragraph.split("; "):
        key, sep, value = piece.partition(": ")
        if sep and 0 < len(key.split()) <= 5 and "." not in key and key[:1].isalnum():
            fields.append((key.strip(), value.strip()))
        elif fields:
            fields[-1] = (fields[-1][0], f"{fields[-1][1]}; {piece}")
        else:
            return None
    return fields if len(fields) >= 2 else None


def _row_subject(fields: list[tuple[str, str]]) -> str:
    """What a row is about: its first cell, with a descriptive second cell when the first
    looks like a code (e.g. "Nimbus LG-8 gateway, indoor (NIM-LG8-IN)")."""
    first = fields[0][1]
    second = fields[1][1]
    looks_like_code = " " not in first and any(c.isdigit() or c == "-" for c in first)
    if looks_like_code and len(second.split()) >= 2 and not _NUMBER.fullmatch(second):
        return f"{second} ({first})"
    return first


def _table_pairs(chunk: Chunk, paragraph: str, title: str) -> Iterator[QAPair]:
    fields = _row(paragraph)
    if not fields:
        return
    cells = {key.lower(): value for key, value in fields}
    question = next((cells[k] for k in _QA_KEYS[0] if k in cells), "")
    answer = next((cells[k] for k in _QA_KEYS[1] if k in cells), "")
    if question and answer:  # a FAQ row already is a question/answer pair
        yield QAPair(question, answer, answer, chunk.doc_id, chunk.id, "table", title)
        return
    subject = _row_subject(fields)
    for key, value in fields[1:]:
        if not value or value in ("—", "-", "–") or value in subject:
            continue
        column = key.replace("_", " ").strip()
        col = _lower_first(column)
        yield QAPair(
            f"What is the {col} for {subject}?",
            f"The {col} for {subject} is {value}.",
            value,
            chunk.doc_id,
            chunk.id,
            "table",
            title,
        )


def _sentences(paragraph: str) -> list[str]:
    lines = [_BULLET.sub("", line).strip() for line in paragraph.split("\n") if line.strip()]
    out: list[str] = []
    for line in lines:
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


_DEFINITION = re.compile(
    r"^(?:(?P<det>The |Our |Your |An |A )(?P<s1>\w[\w\-/ ]{2,60}?)|(?P<s2>[A-Z][\w\-/ ]{2,60}?)) "
    r"(?P<verb>is|are) "
    r"(?P<pred>[^;:]{2,160})\.$"
)
_LABEL = re.compile(r"^(?P<label>[A-Z][\w\-/ ]{2,50}): (?P<value>.{3,240})$")


def _definition_pairs(chunk: Chunk, paragraph: str, title: str) -> Iterator[QAPair]:
    for sentence in _sentences(paragraph):
        m = _DEFINITION.match(sentence)
        if m:
            subj, pred = (m["s1"] or m["s2"]).strip(), m["pred"].strip()
            first_pred = pred.split()[0].lower()
            if (
                len(subj.split()) <= 6
                and subj.split()[0].lower() not in _NOT_A_SUBJECT
                and subj.split()[-1].lower() not in _NOT_A_SUBJECT | {"that", "there"}
                and first_pred not in _NOT_A_PREDICATE
                and not first_pred.endswith("ed")
            ):
                det = (m["det"] or "").strip()
                if det:
                    subject = f"{det.lower()} {subj}"
                else:  # a plural common noun starts lower; a name ("Aurelwind is") keeps case
                    subject = _lower_first(subj) if m["verb"] == "are" else subj
                yield QAPair(
                    f"What {m['verb']} {subject}?",
                    sentence,
                    pred,
                    chunk.doc_id,
                    chunk.id,
                    "definition",
                    title,
                )
            continue
        m = _LABEL.match(sentence)
        words = m["label"].lower().split() if m else []
        if m and len(words) <= 6 and not _NOT_IN_LABEL.intersection(words):
            label = _lower_first(m["label"].strip())
            if label.endswith("s"):
                question = f"What does the {title} say about {label}?"
            else:
                question = f"What is {label}?" if _is_name(label) else f"What is the {label}?"
            value = m["value"].strip()
            yield QAPair(question, value, value, chunk.doc_id, chunk.id, "definition", title)


def _is_heading(paragraph: str, headings: set[str]) -> bool:
    """A heading of the chunk's path, or a short title-like line (small sections are merged
    into one chunk, so their headings appear only in the text)."""
    if paragraph in headings:
        return True
    return (
        len(paragraph.split()) <= 8
        and paragraph[:1].isupper()
        and paragraph[-1:] not in ".!?:;,"
        and "\n" not in paragraph
        and not any(c.isdigit() for c in paragraph)  # a table cell or a page footer
        and paragraph.split()[-1].lower() not in _NOT_A_SUBJECT | {"the", "a", "of", "and"}
        and _row(paragraph) is None
    )


def _section_pairs(chunk: Chunk, paragraphs: list[str], title: str) -> Iterator[QAPair]:
    """For each heading followed by prose: the section's opening sentence(s). A chunk that
    continues a section (prose before any heading) gives none for that prose."""
    headings = {h.strip() for h in chunk.heading_path}
    for before, body in itertools.pairwise(paragraphs):
        if not _is_heading(before, headings) or _is_heading(body, headings) or _row(body):
            continue
        heading = _NUMBERING.sub("", before).strip()
        if title.lower().startswith(heading.lower()):
            continue
        sentences = _sentences(body)
        if not sentences or len(sentences[0]) < 20 or _LABEL.match(sentences[0]):
            continue
        answer = sentences[0]
        if len(answer) < 80 and len(sentences) > 1:
            answer = f"{answer} {sentences[1]}"
        yield QAPair(
            f"What does the {title} say about {_lower_first(heading)}?",
            answer,
            sentences[0],
            chunk.doc_id,
            chunk.id,
            "section",
            title,
        )


def offline_pairs(chunk: Chunk, title: str) -> list[QAPair]:
    """Every pair the deterministic generator finds in one chunk (see the module docstring)."""
    paragraphs = [p.strip() for p in chunk.text.split("\n\n") if p.strip()]
    headings = {h.strip() for h in chunk.heading_path}
    pairs: list[QAPair] = []
    pairs += _section_pairs(chunk, paragraphs, title)
    for paragraph in paragraphs:
        if paragraph in headings:
            continue
        if _row(paragraph) is not None:
            pairs += _table_pairs(chunk, paragraph, title)
        else:
            pairs += _definition_pairs(chunk, paragraph, title)
    return pairs


def iter_chunks(source: ChunkSource) -> Iterator[tuple[Chunk, str]]:
    """(chunk, document title) for every stored chunk, documents by id, chunks in order."""
    for info in source.documents():
        title = _title(info)
        for chunk in source.chunks(info.id):
            yield chunk, title


# ---------------------------------------------------------------------------- style


def parse_style(template: str) -> str:
    """Check a style template: it must use ``{answer}`` and only known fields."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ExpertlyError(f"style template {template!r} is malformed: {exc}") from exc
    unknown = names - set(STYLE_FIELDS)
    if unknown:
        raise ExpertlyError(
            f"style template uses unknown field(s) {', '.join(sorted(unknown))}; "
            f"valid: {', '.join('{' + f + '}' for f in STYLE_FIELDS)}"
        )
    if "answer" not in names:
        raise ExpertlyError("a style template must contain {answer}")
    return template


def stylize(pairs: Iterable[QAPair], template: str) -> list[QAPair]:
    """Every pair with its answer rewritten into ``template`` (fields: see STYLE_FIELDS)."""
    parse_style(template)
    return [
        replace(
            p,
            answer=template.format(
                answer=p.answer, question=p.question, source=p.doc_id, title=p.title, span=p.span
            ),
        )
        for p in pairs
    ]


def sample(items: Sequence[QAPair], limit: int, seed: int) -> list[QAPair]:
    """At most ``limit`` items, a seeded sample that keeps their order (0 = no limit)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


Progress = Callable[[int, int], None]
