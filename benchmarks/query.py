"""Search latency at 5k and 100k chunks: the in-memory copies against sqlite-vec and FTS5.

    .venv/bin/python benchmarks/query.py [--chunks 5000 100000] [--queries 200]

Corpus: one-section synthetic documents (``corpus.pooled_documents``): a title, a heading
and four sentences drawn from a pool of 4,000. Vectors: the pool's sentences are encoded
with the packaged MiniLM and a document's vector is the normalised mean of its sentences'
vectors (encoding 100k chunks one by one takes over half an hour on 2 cores); the queries
are encoded with MiniLM as a user's are. The index is written with ``SQLiteStore.upsert``
(one transaction per document, as ingest writes it) and kept in ``--index-dir`` for the
next run.

Measured per query, interleaved, in one run, one thread:

    embed              the query's MiniLM vector alone (the floor)
    dense_sqlite_vec   store dense top-k by sqlite-vec's scan (store.vector_cache = off)
    dense_cache        store dense top-k from the in-memory copy (vector_cache = on)
    sparse             store BM25 top-k by FTS5's bm25() (store.sparse_cache = off)
    sparse_cache       store BM25 top-k from the in-memory postings (sparse_cache = on)
    hybrid_sqlite_vec  Retriever.search end to end (embed + dense + BM25 + fusion), sqlite-vec
                       and FTS5
    hybrid_cache       the same with the vector copy and FTS5
    hybrid_all_cache   the same with both copies (what a server, chat or evaluation gets
                       by default, from a handle's second search)
    dense_hnsw<E>      store dense top-k through the HNSW graph over the vector copy
                       (store.vector_index = hnsw), candidate list E, for each E of --ef-search
    hybrid_hnsw<E>     Retriever.search end to end with the HNSW graph and the postings copy

plus recall@10 of the copy's dense top-10 against sqlite-vec's and the agreement of the
postings copy's BM25 top-10 with FTS5's (both copies are exact, so these check it), the
time to read each copy into memory, the time a search takes to sync the postings copy
after one document was added (and removed) through the handle, and the batch path
(``search_many`` with every query vector at once, per query). For the HNSW graph: the time
to build it (after the copy is read; a graph saved beside the index by an earlier run is
loaded instead), and for each candidate list the recall@10 of its dense top-10 against
the exact copy's and of the hybrid top-10 against the exact hybrid's (both copies), for
the same queries, and the batch path, and the time of the first HNSW search (the second
candidate list) after one document is added or removed, beside the same for the exact
copy (``dense_cache_sync_after_*``: the copy's own sync, which the HNSW search pays too).
One graph serves every candidate list (``HNSWIndex.ef_search`` is set between searches;
their order turns from query to query).
Targets: hybrid p50 <= 20 ms at 5k, <= 50 ms at 100k.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from corpus import pooled_documents, queries, sentence_pool

from expertly.config import RetrievalSettings, StoreSettings
from expertly.retrieve.hybrid import Retriever, keyword_query
from expertly.store.sqlite import SQLiteStore
from expertly.types import Chunk, Document, Query
from expertly.workspace import Workspace

POOL = 4000
EF_SEARCH = (40, 100, 200)
TARGETS_MS = {5000: 20.0, 100_000: 50.0}


def pct(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds (linear interpolation)."""
    return round(float(np.percentile(np.asarray(values) * 1000, q * 100)), 2)


def pool_vectors(ws: Workspace, pool: list[str], cache: Path) -> np.ndarray:
    """MiniLM vectors of the sentence pool, cached in ``cache``."""
    if cache.is_file():
        return np.load(cache)
    t = time.perf_counter()
    vectors = np.asarray(ws.embedder.embed(pool, kind="passage"), dtype=np.float32)
    print(f"encoded {len(pool)} pool sentences in {time.perf_counter() - t:.0f} s", flush=True)
    np.save(cache, vectors)
    return vectors


def build(path: Path, n: int, pool: list[str], vectors: np.ndarray, dim: int, name: str) -> float:
    """Write the ``n``-document index at ``path`` unless it is already there; seconds spent."""
    signature = hashlib.sha256(f"{n}/{POOL}/{name}/v1".encode()).hexdigest()[:16]
    with SQLiteStore(path, dim=dim, embedder=name) as store:
        if store.get_meta("bench_corpus") == signature:
            return 0.0
    path.unlink(missing_ok=True)
    t = time.perf_counter()
    with SQLiteStore(path, dim=dim, embedder=name) as store:
        for i, (title, heading, picks) in enumerate(pooled_documents(n, len(pool))):
            body = " ".join(pool[p] for p in picks)
            text = f"# {title}\n\n## {heading}\n\n{body}\n"
            doc_id = f"doc{i:06d}.md"
            start = text.index(body)
            digest = hashlib.sha256(text.encode()).hexdigest()
            doc = Document(id=doc_id, text=text, source=f"/bench/{doc_id}", title=title,
                           format="md", content_hash=digest)  # fmt: skip
            chunk = Chunk(id=f"{doc_id}#0", doc_id=doc_id, index=0, text=body, start=start,
                          end=start + len(body), heading_path=(title, heading),
                          token_count=len(body.split()))  # fmt: skip
            vector = vectors[picks].mean(axis=0)
            store.upsert(doc, [chunk], (vector / np.linalg.norm(vector))[None, :])
            if (i + 1) % 20_000 == 0:
                print(f"  {i + 1} documents written", flush=True)
        store.set_meta("bench_corpus", signature)
    return time.perf_counter() - t


def open_store(
    path: Path, dim: int, name: str, vectors: str, postings: str, index: str = "exact"
) -> SQLiteStore:
    settings = StoreSettings(
        vector_cache=vectors, sparse_cache=postings, vector_index=index, hnsw_min_chunks=0
    )
    return SQLiteStore(path, dim=dim, embedder=name, settings=settings)


def overlap_at_10(found: list[str], exact: list[str]) -> float:
    """Share of the exact top-10 that ``found``'s top-10 holds."""
    return len(set(found[:10]) & set(exact[:10])) / 10


def sync_after_change(
    store: SQLiteStore, dim: int, rounds: int = 5, probe: Query | None = None, name: str = "sparse"
) -> dict[str, float]:
    """Median milliseconds of the first search after one document is added through
    ``store``, and after it is removed again (the index ends as it began). The default
    query is text that matches nothing, so the time is the postings copy's sync plus an
    empty search; a dense ``probe`` on the HNSW store times the vector copy's sync, the
    lists following it and one approximate search."""
    text = "Parental leave policy 999999: sixteen weeks in all, running from the first day."
    doc = Document(id="sync-probe.md", text=text, source="/bench/sync-probe.md",
                   title="Sync probe", format="md", content_hash="probe")  # fmt: skip
    chunk = Chunk(id="sync-probe.md#0", doc_id=doc.id, index=0, text=text, start=0,
                  end=len(text), heading_path=("Sync probe",), token_count=14)  # fmt: skip
    probe = probe or Query(text="zzzqqq")
    store.search(probe, 1)
    times: dict[str, list[float]] = {"add": [], "delete": []}
    for _ in range(rounds):
        for key, change in (
            ("add", lambda: store.upsert(doc, [chunk], np.ones((1, dim), dtype=np.float32))),
            ("delete", lambda: store.delete(doc.id)),
        ):
            change()
            t = time.perf_counter()
            store.search(probe, 1)
            times[key].append(time.perf_counter() - t)
    return {f"{name}_sync_after_{key}_ms": pct(values, 0.5) for key, values in times.items()}


def measure(
    path: Path, ws: Workspace, qs: list[str], name: str, probes: tuple[int, ...]
) -> dict[str, Any]:
    """Every timing of one index size, the peers interleaved query by query."""
    dim, settings = ws.embedder.dim, RetrievalSettings()
    # The model itself, not the workspace's cache of recent query vectors: every peer
    # embeds each question as a question never seen before.
    model = getattr(ws.embedder, "inner", ws.embedder)
    k = settings.candidates
    exact = open_store(path, dim, name, "off", "off")
    cached = open_store(path, dim, name, "on", "off")
    all_cached = open_store(path, dim, name, "on", "on")
    approx = open_store(path, dim, name, "on", "on", index="hnsw")
    try:
        chunks = int(exact.stats()["chunks"])
        warm = model.embed(["warm up"], kind="query")[0]  # loads the model
        t = time.perf_counter()
        cached.search(Query(vector=warm), 1)  # the first search reads the copy
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        all_cached.search(Query(text="warm up"), 1)  # the first text search reads the postings
        sparse_load_s = time.perf_counter() - t
        postings = all_cached._sparse.postings()
        sparse_mb = all_cached._sparse.nbytes() / 1e6
        # Reads both copies, builds (or loads) the graph.
        approx.search(Query(text="warm up", vector=warm), 1)
        index = approx._copies.hnsw
        assert index is not None
        r_exact = Retriever(exact, model, settings)
        r_cached = Retriever(cached, model, settings)
        r_all = Retriever(all_cached, model, settings)
        r_hnsw = Retriever(approx, model, settings)
        for r in (r_exact, r_cached, r_all, r_hnsw):
            r.search("warm up")
        keys = ("embed", "dense_sqlite_vec", "dense_cache", "sparse", "sparse_cache")
        keys += ("hybrid_sqlite_vec", "hybrid_cache", "hybrid_all_cache")
        keys += tuple(f"{kind}_hnsw{p}" for kind in ("dense", "hybrid") for p in probes)
        times: dict[str, list[float]] = {key: [] for key in keys}
        recalls, vectors, agree, same_order = [], [], [], []
        hnsw_recall: dict[str, list[float]] = {
            f"{kind}_hnsw{p}": [] for kind in ("dense", "hybrid") for p in probes
        }
        for q in qs:
            t = time.perf_counter()
            vec = model.embed([q], kind="query")[0]
            times["embed"].append(time.perf_counter() - t)
            vectors.append(vec)
            found = {}
            for key, store in (("dense_sqlite_vec", exact), ("dense_cache", cached)):
                t = time.perf_counter()
                hits = store.search(Query(vector=vec), k)
                times[key].append(time.perf_counter() - t)
                found[key] = [h.chunk.id for h in hits[:10]]
            recalls.append(overlap_at_10(found["dense_cache"], found["dense_sqlite_vec"]))
            turn = len(vectors) % len(probes)  # rotated: no candidate list always runs first
            for p in probes[turn:] + probes[:turn]:
                index.ef_search = p
                t = time.perf_counter()
                hits = approx.search(Query(vector=vec), k)
                times[f"dense_hnsw{p}"].append(time.perf_counter() - t)
                hnsw_recall[f"dense_hnsw{p}"].append(
                    overlap_at_10([h.chunk.id for h in hits], found["dense_cache"])
                )
            ranked = {}
            for key, store in (("sparse", cached), ("sparse_cache", all_cached)):
                t = time.perf_counter()
                hits = store.search(Query(text=keyword_query(q)), k)
                times[key].append(time.perf_counter() - t)
                ranked[key] = [h.chunk.id for h in hits[:10]]
            agree.append(len(set(ranked["sparse"]) & set(ranked["sparse_cache"])) / 10)
            same_order.append(ranked["sparse"] == ranked["sparse_cache"])
            fused = {}
            peers = [("hybrid_sqlite_vec", r_exact, 0), ("hybrid_cache", r_cached, 0)]
            peers += [("hybrid_all_cache", r_all, 0)]
            peers += [(f"hybrid_hnsw{p}", r_hnsw, p) for p in probes[turn:] + probes[:turn]]
            for key, retriever, p in peers:
                if p:
                    index.ef_search = p
                t = time.perf_counter()
                result = retriever.search(q, k=10)
                times[key].append(time.perf_counter() - t)
                fused[key] = [h.chunk.id for h in result.hits]
            for p in probes:
                key = f"hybrid_hnsw{p}"
                hnsw_recall[key].append(overlap_at_10(fused[key], fused["hybrid_all_cache"]))
        batch = [Query(vector=v) for v in vectors]
        batch_s = []
        for _ in range(3):
            t = time.perf_counter()
            cached.search_many(batch, k)
            batch_s.append(time.perf_counter() - t)
        hnsw_batch = {}
        for p in probes:
            index.ef_search = p
            t = time.perf_counter()
            approx.search_many(batch, k)
            hnsw_batch[p] = (time.perf_counter() - t) / len(qs)
        sync = sync_after_change(all_cached, dim)
        sync |= sync_after_change(cached, dim, probe=Query(vector=warm), name="dense_cache")
        index.ef_search = probes[len(probes) // 2]
        sync |= sync_after_change(approx, dim, probe=Query(vector=warm), name="hnsw")
    finally:
        exact.close()
        cached.close()
        all_cached.close()
        approx.close()
    floor = float(np.median(times["embed"]))
    target = TARGETS_MS.get(chunks)
    hybrid_p50 = pct(times["hybrid_all_cache"], 0.5)
    return {
        "chunks": chunks,
        "queries": len(qs),
        "k": k,
        "ms": {
            f"{key}_{q}": pct(values, p)
            for key, values in times.items()
            for q, p in (("p50", 0.5), ("p95", 0.95))
        },
        "dense_batch_ms_per_query": round(float(np.median(batch_s)) / len(qs) * 1000, 2),
        "recall_at_10_cache_vs_sqlite_vec": round(float(np.mean(recalls)), 4),
        "cache_load_seconds": round(load_s, 2),
        "cache_megabytes": round(chunks * dim * 4 / 1e6, 1),
        "dense_speedup_cache_over_sqlite_vec": round(
            pct(times["dense_sqlite_vec"], 0.5) / pct(times["dense_cache"], 0.5), 1
        ),
        "sparse_top10_agreement_cache_vs_fts5": round(float(np.mean(agree)), 4),
        "sparse_top10_same_order_share": round(float(np.mean(same_order)), 4),
        "sparse_cache_load_seconds": round(sparse_load_s, 2),
        "sparse_cache_postings": postings,
        "sparse_cache_megabytes": round(sparse_mb, 1),
        **sync,
        "sparse_speedup_cache_over_fts5": round(
            pct(times["sparse"], 0.5) / pct(times["sparse_cache"], 0.5), 1
        ),
        "hybrid_p50_over_embed_floor": round(hybrid_p50 / (floor * 1000), 2),
        "hnsw": {
            "m": index.m,
            "ef_construction": index.ef_construction,
            "loaded_from_disk": index.loaded_from_disk,
            "build_seconds": round(index.build_seconds, 2),
            "ef_search": {
                str(p): {
                    "dense_recall_at_10_vs_exact": round(
                        float(np.mean(hnsw_recall[f"dense_hnsw{p}"])), 4
                    ),
                    "hybrid_recall_at_10_vs_exact": round(
                        float(np.mean(hnsw_recall[f"hybrid_hnsw{p}"])), 4
                    ),
                    "dense_speedup_over_cache_p50": round(
                        pct(times["dense_cache"], 0.5) / pct(times[f"dense_hnsw{p}"], 0.5), 1
                    ),
                    "dense_batch_ms_per_query": round(hnsw_batch[p] * 1000, 2),
                }
                for p in probes
            },
        },
        "target_hybrid_p50_ms": target,
        "target_met": None if target is None else hybrid_p50 <= target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch and BLAS threads; 0 = expertly's defaults"
    )
    parser.add_argument(
        "--ef-search", type=int, nargs="+", default=list(EF_SEARCH), help="HNSW candidate lists"
    )
    parser.add_argument(
        "--index-dir", type=Path, default=Path(tempfile.gettempdir()) / "expertly-bench-query"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/query.json"))
    args = parser.parse_args()

    if args.threads > 0:  # an extra row only: the headline measures the defaults
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    args.index_dir.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.index_dir / "workspace")
    name = ws.embedder.name
    pool = sentence_pool(POOL)
    vectors = pool_vectors(ws, pool, args.index_dir / f"pool-{POOL}.npy")
    qs = queries(args.queries)
    sizes = []
    for n in args.chunks:
        path = args.index_dir / f"index-{n}.sqlite"
        build_s = build(path, n, pool, vectors, ws.embedder.dim, name)
        result = measure(path, ws, qs, name, tuple(args.ef_search))
        result["build_seconds"] = round(build_s, 1) if build_s else "reused"
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2), flush=True)
        sizes.append(result)
    ws.close()
    report = {
        "benchmark": "query",
        "command": "python benchmarks/query.py --chunks "
        + " ".join(map(str, args.chunks))
        + f" --queries {args.queries} --threads {args.threads}"
        + " --ef-search "
        + " ".join(map(str, args.ef_search)),
        "embedder": name,
        "sizes": sizes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
