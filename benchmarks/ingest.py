"""Ingest throughput: `expertly ingest` vs raw sentence-transformers encoding of the same chunks.

    .venv/bin/python benchmarks/ingest.py [--documents 400] [--out benchmarks/results/ingest.json]

Both sides use the same warm all-MiniLM-L6-v2 model object in the same process and encode
exactly the same texts (the chunks' embed text), so the ratio isolates expertly's overhead:
loading, parsing, chunking, hashing, the SQLite writes. The embedding cache is disabled so
every chunk is really encoded. Target: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from corpus import write_corpus

from expertly.config import EmbedderSettings, Settings
from expertly.ingest.pipeline import embed_text
from expertly.workspace import Parts, Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="expertly-bench-"))
    corpus = write_corpus(tmp / "corpus", args.documents)
    settings = Settings(embedder=EmbedderSettings(cache=False))

    probe = Workspace(tmp / "probe", settings)
    model = probe.embedder.load()  # type: ignore[attr-defined]
    model.encode(["warm up"] * 8)
    from expertly.ingest.loaders import load_file

    texts: list[str] = []
    for path in sorted(corpus.iterdir()):
        doc = load_file(path, doc_id=path.name)
        texts += [embed_text(c, doc.title) for c in probe.chunker.chunk(doc)]

    # Each round times both sides back to back (alternating which goes first) and the
    # median of the per-round ratios is reported: on a shared machine load drifts, and a
    # paired ratio cancels most of it.
    raw_rates, ingest_rates, ratios = [], [], []
    for r in range(args.repeats):
        pair: dict[str, float] = {}
        for side in ("raw", "expertly") if r % 2 == 0 else ("expertly", "raw"):
            if side == "raw":
                t0 = time.perf_counter()
                model.encode(
                    texts, batch_size=settings.embedder.batch_size, normalize_embeddings=True
                )
                pair["raw"] = len(texts) / (time.perf_counter() - t0)
            else:
                # the same warm model object, handed in as a part
                ws = Workspace(tmp / f"ws{r}", settings, overrides=Parts(embedder=probe.embedder))
                t0 = time.perf_counter()
                report = ws.ingestor.ingest([corpus])
                seconds = time.perf_counter() - t0
                assert report.chunks_written == len(texts), (report.chunks_written, len(texts))
                pair["expertly"] = report.chunks_written / seconds
                ws.close()
        raw_rates.append(pair["raw"])
        ingest_rates.append(pair["expertly"])
        ratios.append(pair["expertly"] / pair["raw"])

    raw, ours = statistics.median(raw_rates), statistics.median(ingest_rates)
    result = {
        "benchmark": "ingest",
        "documents": args.documents,
        "chunks": len(texts),
        "raw_encode_chunks_per_s": round(raw, 1),
        "expertly_ingest_chunks_per_s": round(ours, 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratios_per_round": [round(x, 3) for x in ratios],
        "target_ratio": 0.95,
        "runs": {
            "raw": [round(x, 1) for x in raw_rates],
            "expertly": [round(x, 1) for x in ingest_rates],
        },
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
