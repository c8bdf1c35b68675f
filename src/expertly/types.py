"""The values that flow through expertly, as frozen dataclasses.

Everything a stage hands to the next is one of these: a loader yields a ``Document``, the
chunker cuts it into ``Chunk``s, the store returns ``Hit``s, and every answerer returns an
``Answer`` that carries its ``Citation``s, the exact prompts sent to the model, a trace,
timings and token usage, so that a user can always see *why* it answered what it did.

Character spans (``start``/``end``) always refer to ``Document.text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
EmbedKind = Literal["query", "passage"]


@dataclass(frozen=True)
class Segment:
    """A structural piece of a document's text: a paragraph, a heading, a table row.

    Loaders describe structure with segments so that the chunker can cut on structural
    boundaries and keep the heading path and page number of every chunk.
    """

    start: int
    end: int
    kind: Literal["heading", "paragraph", "row", "code", "list"] = "paragraph"
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    level: int = 0  # heading level (1 = top) when kind == "heading"


@dataclass(frozen=True)
class Document:
    """One source file (or record set) as text plus its structure.

    ``id`` is stable across runs (the path relative to the ingested root, or an explicit id);
    ``content_hash`` is the SHA-256 of the raw bytes and drives incremental ingest.
    ``metadata`` carries free-form fields plus the access-control fields ``tenant`` (str)
    and ``groups`` (list of str) that search filters honour.
    """

    id: str
    text: str
    source: str = ""
    title: str = ""
    format: str = "txt"
    content_hash: str = ""
    segments: tuple[Segment, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A retrievable span of one document. ``id`` is ``f"{doc_id}#{index}"``."""

    id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    token_count: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """Human-readable place of the chunk in its document (page, heading path, span)."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading_path:
            parts.append(" > ".join(self.heading_path))
        parts.append(f"chars {self.start}-{self.end}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Principal:
    """Who is asking: used to filter out chunks the caller may not see."""

    id: str = "anonymous"
    tenant: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Filters:
    """Restrictions applied *inside* the search.

    ``tenant``: only chunks of this tenant (chunks without a tenant are public).
    ``groups``: only chunks with no groups or sharing at least one group with these;
    ``None`` disables the group check (an administrator's view).
    ``doc_ids``: only these documents. ``metadata``: exact-match on document metadata fields.
    """

    tenant: str | None = None
    groups: tuple[str, ...] | None = None
    doc_ids: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_principal(cls, principal: Principal | None) -> Filters:
        if principal is None:
            return cls()
        return cls(tenant=principal.tenant, groups=principal.groups)

    @property
    def active(self) -> bool:
        """True when these filters restrict anything (else a store adds no condition)."""
        return (
            self.tenant is not None
            or self.groups is not None
            or self.doc_ids is not None
            or bool(self.metadata)
        )


@dataclass(frozen=True)
class Query:
    """What a store searches with. ``vector`` set → dense search; ``text`` set → BM25;
    both set → the store returns the union of both candidate lists, each ``Hit`` carrying
    its per-method rank and score so that a fusion step can combine them."""

    text: str = ""
    vector: Any = None  # numpy.ndarray of shape (dim,), normalised
    filters: Filters = field(default_factory=Filters)


@dataclass(frozen=True)
class Hit:
    """A chunk found by a search, with its fused ``score`` and the per-method details.

    ``scores`` maps method name ("dense", "sparse", "fused", "rerank") to that method's
    score; ``ranks`` maps method name to the 1-based rank the chunk had in that method.
    """

    chunk: Chunk
    score: float
    source: str = ""
    title: str = ""
    scores: Mapping[str, float] = field(default_factory=dict)
    ranks: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentInfo:
    """What a store knows about one stored document (no text)."""

    id: str
    source: str
    title: str
    format: str
    content_hash: str
    chunks: int
    chars: int
    updated_at: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    """What an LLM returned for one call."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    model: str = ""


@dataclass(frozen=True)
class Citation:
    """Where a claim in an answer comes from.

    ``number`` is the ``[n]`` marker in the answer text. ``method`` is ``"cited"`` when the
    model wrote the marker itself and ``"attributed"`` when expertly matched an uncited
    sentence to the source it overlaps most (small models often forget to cite).
    """

    number: int
    doc_id: str
    chunk_id: str
    source: str
    start: int
    end: int
    score: float
    title: str = ""
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    quote: str = ""
    method: Literal["cited", "attributed"] = "cited"


@dataclass(frozen=True)
class TraceStep:
    """One step of how an answer was produced (retrieval, generation, a tool call, ...)."""

    name: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Answer:
    """What every answerer returns.

    ``prompts`` are the exact message lists sent to the model, in order; ``hits`` the
    retrieved context actually placed in the prompt; ``timings`` seconds per stage;
    ``usage`` token counts; ``abstained`` is true when the answerer declined because the
    documents do not contain the answer; ``incomplete`` is true when a budget (steps,
    tokens, time, cost) ran out and the text is the best supported answer so far.
    ``reason`` says why: which route the router chose and why, or which budget ran out.
    ``rewrites`` are the search queries actually run when the question was rewritten.
    ``leads`` are, when the answerer abstained although retrieval found relevant text, the
    source sentences that came closest to answering: where to read on, never an answer.
    """

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    prompts: tuple[tuple[Message, ...], ...] = ()
    trace: tuple[TraceStep, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    usage: Mapping[str, int] = field(default_factory=dict)
    abstained: bool = False
    route: str = "rag"
    model: str = ""
    incomplete: bool = False
    reason: str = ""
    rewrites: tuple[str, ...] = ()
    leads: tuple[Citation, ...] = ()
