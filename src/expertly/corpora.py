"""Labelled corpora: reading a BEIR-layout folder or a user's labelled questions.

Evaluation scores retrieval on them and fine-tuning trains the embedder and the reranker
on their judgements, so they are read here, below both.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and relevance judgements ("qrels") as a tab-separated file with the
columns ``query-id corpus-id score``. The qrels of a split are found as
``qrels-<split>.tsv`` or ``qrels/<split>.tsv`` (the standard BEIR name), or given
explicitly. A header line and CRLF line ends are accepted; judgements with a score <= 0
mean "not relevant" and are dropped, as BEIR's own evaluation does.

Every malformed input raises ``ExpertlyError`` naming the file and the line, because a
silently skipped line would change the numbers without anyone noticing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError
from expertly.jsonl import read_jsonl
from expertly.types import Document

SPLITS = ("test", "train", "dev", "fit")
DEV_FRACTION = 5
"""Without a dev qrels file, ``dev`` is the train queries whose id hashes to 0 modulo this
(one in five) and ``fit`` the rest: tune or train on ``fit``, choose on ``dev``, report
``test`` once."""
Qrels = dict[str, dict[str, int]]
"""query id → {document id: graded relevance > 0}."""


@dataclass(frozen=True)
class EvalSet:
    """Queries with their relevance judgements, in evaluation order.

    ``queries`` maps query id → text, only for queries with at least one relevant document
    (others cannot be scored); ``qrels`` holds the judgements of exactly those queries.
    ``total_queries`` is the size before ``--limit``; ``qrels_path`` says where the
    judgements came from.
    """

    name: str
    queries: dict[str, str]
    qrels: Qrels
    qrels_path: Path
    split: str = ""
    total_queries: int = 0

    def limited(self, limit: int | None) -> EvalSet:
        """The first ``limit`` queries (all of them when ``limit`` is None)."""
        if limit is None or limit >= len(self.queries):
            return self
        if limit < 1:
            raise ExpertlyError(f"--limit must be >= 1, got {limit}")
        ids = list(self.queries)[:limit]
        return replace(
            self,
            queries={q: self.queries[q] for q in ids},
            qrels={q: self.qrels[q] for q in ids},
        )


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR folder: where its corpus is, and the evaluation set of one split."""

    name: str
    folder: Path
    corpus_path: Path
    evalset: EvalSet


def _field(path: Path, number: int, obj: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # some BEIR copies store numeric ids
    if not isinstance(value, str) or (required and not value.strip()):
        raise ExpertlyError(f"{path}, line {number}: '{key}' must be a non-empty string")
    return value


def load_queries(path: Path) -> dict[str, str]:
    """query id → text from a BEIR ``queries.jsonl``."""
    queries: dict[str, str] = {}
    for number, obj in read_jsonl(path):
        qid = _field(path, number, obj, "_id", required=True)
        if qid in queries:
            raise ExpertlyError(f"{path}, line {number}: query id {qid!r} appears twice")
        queries[qid] = _field(path, number, obj, "text", required=True)
    return queries


def load_qrels(path: Path) -> Qrels:
    """Relevance judgements from a ``query-id <tab> corpus-id <tab> score`` file.

    The first line may be a header; later lines must have three tab-separated fields
    (whitespace-separated is accepted too) and an integer score.
    """
    if not path.is_file():
        raise ExpertlyError(f"{path}: no such file")
    qrels: Qrels = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            parts = [p.strip() for p in parts]
            if number == 1 and len(parts) == 3 and not _is_int(parts[2]):
                continue  # header: query-id corpus-id score
            if len(parts) != 3 or not parts[0] or not parts[1] or not _is_int(parts[2]):
                raise ExpertlyError(
                    f"{path}, line {number}: expected 'query-id<TAB>corpus-id<TAB>score' "
                    f"with an integer score, got {line[:80]!r}"
                )
            score = int(parts[2])
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    if not qrels:
        raise ExpertlyError(f"{path}: holds no relevance judgement with a score > 0")
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def find_qrels(folder: Path, split: str, explicit: Path | None = None) -> Path:
    """The qrels file of ``split``: ``explicit``, else ``qrels-<split>.tsv`` or
    ``qrels/<split>.tsv`` inside ``folder``."""
    if explicit is not None:
        if not explicit.is_file():
            raise ExpertlyError(f"{explicit}: no such qrels file")
        return explicit
    if split not in SPLITS:
        raise ExpertlyError(f"Unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if split == "fit" or (split == "dev" and not _split_file(folder, "dev")):
        split = "train"  # load_beir keeps the fit or dev part of the train judgements
    candidates = [folder / f"qrels-{split}.tsv", folder / "qrels" / f"{split}.tsv"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = " or ".join(str(c.relative_to(folder)) for c in candidates)
    raise ExpertlyError(
        f"{folder}: no qrels for split {split!r} (looked for {names}); "
        "choose another --split or give the file with --qrels"
    )


def _split_file(folder: Path, split: str) -> Path | None:
    for candidate in (folder / f"qrels-{split}.tsv", folder / "qrels" / f"{split}.tsv"):
        if candidate.is_file():
            return candidate
    return None


def is_dev_query(query_id: str) -> bool:
    """Whether a train query belongs to the derived dev split (a stable hash of its id)."""
    return int(hashlib.sha256(query_id.encode("utf-8")).hexdigest()[:8], 16) % DEV_FRACTION == 0


def split_judgements(folder: Path, split: str, judgements: Qrels) -> Qrels:
    """The part of the loaded judgements that ``split`` means.

    ``dev`` (when the folder has no dev qrels) and ``fit`` are cut from the train
    judgements by ``is_dev_query``; every other split is its own file, kept whole.
    """
    if split == "fit" and _split_file(folder, "dev") is None:
        return {q: d for q, d in judgements.items() if not is_dev_query(q)}
    if split == "dev" and _split_file(folder, "dev") is None:
        return {q: d for q, d in judgements.items() if is_dev_query(q)}
    return judgements


def load_beir(folder: Path, *, split: str = "test", qrels: Path | None = None) -> BeirDataset:
    """Check a BEIR folder and load its queries and the judgements of ``split``.

    The corpus is only located here; ``corpus_documents`` streams it when indexing.
    Queries are kept in the order they first appear in the qrels file. ``dev`` and
    ``fit`` are cut from the train judgements when the folder has no dev file
    (``split_judgements``).
    """
    if not folder.is_dir():
        raise ExpertlyError(f"{folder}: no such folder (expected a BEIR dataset folder)")
    corpus = folder / "corpus.jsonl"
    if not corpus.is_file():
        raise ExpertlyError(f"{folder}: no corpus.jsonl (expected BEIR layout)")
    qrels_path = find_qrels(folder, split, qrels)
    judgements = load_qrels(qrels_path)
    if qrels is None:
        judgements = split_judgements(folder, split, judgements)
    texts = load_queries(folder / "queries.jsonl")
    missing = [q for q in judgements if q not in texts]
    if missing:
        raise ExpertlyError(
            f"{qrels_path}: {len(missing)} query id(s) are not in queries.jsonl, "
            f"e.g. {missing[0]!r}"
        )
    evalset = EvalSet(
        name=folder.name,
        queries={q: texts[q] for q in judgements},
        qrels=judgements,
        qrels_path=qrels_path,
        split=split if qrels is None else qrels.stem,
        total_queries=len(judgements),
    )
    return BeirDataset(folder.name, folder, corpus, evalset)


def corpus_documents(
    path: Path, *, id_key: str = "_id", noun: str = "document"
) -> Iterator[Document]:
    """One ``Document`` per corpus record (``id_key`` names the id field: BEIR's ``_id``,
    HotpotQA's ``id``; ``noun`` is what error messages call a record).

    The title goes to ``Document.title`` and the body to ``Document.text`` (the title
    stands in for an empty body): that is how ingest treats every file, so the title is
    added to each chunk's embedding input and indexed in BM25's title column, and the
    evaluation measures retrieval exactly as the product does it. ``content_hash`` covers
    title and text, so a reused index re-indexes only records that changed.
    """
    seen: set[str] = set()
    for number, obj in read_jsonl(path):
        doc_id = _field(path, number, obj, id_key, required=True)
        if doc_id in seen:
            raise ExpertlyError(f"{path}, line {number}: {noun} id {doc_id!r} appears twice")
        seen.add(doc_id)
        title = _field(path, number, obj, "title", required=False).strip()
        text = _field(path, number, obj, "text", required=False).strip() or title
        if not text:
            raise ExpertlyError(f"{path}, line {number}: {noun} {doc_id!r} has no text")
        digest = hashlib.sha256(json.dumps([title, text]).encode("utf-8")).hexdigest()
        yield Document(
            id=doc_id,
            text=text,
            source=str(path),
            title=title,
            format="jsonl",
            content_hash=digest,
        )


def load_questions(path: Path, known_ids: set[str]) -> EvalSet:
    """A user's labelled questions: one ``{"question": ..., "relevant": [doc ids]}`` per line.

    An optional ``"id"`` names the question (default ``q<line>``). Every relevant id must
    be a document of the index (``known_ids``, as ``expertly status --documents`` lists
    them): a typo would otherwise silently score as a retrieval failure.
    """
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    for number, obj in read_jsonl(path):
        qid = _field(path, number, obj, "id", required=False) or f"q{number}"
        if qid in queries:
            raise ExpertlyError(f"{path}, line {number}: question id {qid!r} appears twice")
        question = _field(path, number, obj, "question", required=True)
        relevant = obj.get("relevant")
        if (
            not isinstance(relevant, list)
            or not relevant
            or not all(isinstance(d, str) and d for d in relevant)
        ):
            raise ExpertlyError(
                f"{path}, line {number}: 'relevant' must be a non-empty list of document ids"
            )
        unknown = [d for d in relevant if d not in known_ids]
        if unknown:
            raise ExpertlyError(
                f"{path}, line {number}: {unknown[0]!r} is not a document of the index; "
                "list the ids with: expertly status --documents"
            )
        queries[qid] = question
        qrels[qid] = dict.fromkeys(relevant, 1)
    if not queries:
        raise ExpertlyError(f"{path}: holds no question")
    return EvalSet(
        name=path.stem,
        queries=queries,
        qrels=qrels,
        qrels_path=path,
        split="questions",
        total_queries=len(queries),
    )
