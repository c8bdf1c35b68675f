"""usearch against hnswlib (HNSW, M 16) on clustered 384-d unit vectors: the choice of library.

    PYTHONPATH=src .venv/bin/python benchmarks/ann_libraries.py 100000 hnswlib
    PYTHONPATH=src .venv/bin/python benchmarks/ann_libraries.py 100000 usearch

One library per run (prints one JSON line; results/ann_libraries.json holds both runs):
build time with 2 threads (ef_construction = $EFC, 100 unless set), memory added, p50/p95
and recall@10 against exact of 200 single queries for ef_search 40/64/100/200, filtered
search with 1% and 10% of the rows allowed (hnswlib's filter callback; usearch has no
Python filter, so it over-fetches and filters), 1,000 deletes and adds, save and load
times, the file size, and what loading a file cut in half does.
"""

# ruff: noqa: E741, B023, B905, SIM115
import json
import os
import sys
import tempfile
import time

import numpy as np

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
D = 384
K = 10
Q = 200
rng = np.random.default_rng(0)


def clustered(n, centers, rng, noise=0.6):
    c = centers[rng.integers(0, len(centers), n)]
    x = c + noise * rng.standard_normal((n, D)).astype(np.float32) / np.sqrt(D)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


centers = rng.standard_normal((1000, D)).astype(np.float32)
centers /= np.linalg.norm(centers, axis=1, keepdims=True)
X = clustered(N, centers, rng)
Qs = clustered(Q, centers, rng)
S = Qs @ X.T
truth = np.argsort(-S, axis=1)[:, :K]


def rec(found, tr):
    return np.mean([len(set(f[:K]) & set(t)) / K for f, t in zip(found, tr)])


def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20


out = {}


def ptile(ts):
    ts = np.array(ts) * 1000
    return round(float(np.percentile(ts, 50)), 3), round(float(np.percentile(ts, 95)), 3)


allow1 = np.sort(rng.choice(N, N // 100, replace=False))
allow10 = np.sort(rng.choice(N, N // 10, replace=False))


def ftruth(allow):
    s = S[:, allow]
    return allow[np.argsort(-s, axis=1)[:, :K]]


ft1, ft10 = ftruth(allow1), ftruth(allow10)
lib = sys.argv[2]
M = 16
EFC = int(os.environ.get("EFC", "100"))
r0 = rss()
t = time.perf_counter()
if lib == "hnswlib":
    import hnswlib

    idx = hnswlib.Index(space="ip", dim=D)
    idx.init_index(max_elements=N + 1000, M=M, ef_construction=EFC)
    idx.set_num_threads(int(os.environ.get("T", "2")))
    idx.add_items(X, np.arange(N))
else:
    from usearch.index import Index

    idx = Index(ndim=D, metric="ip", dtype="f32", connectivity=M, expansion_add=EFC)
    idx.add(np.arange(N), X, threads=int(os.environ.get("T", "2")))
build = time.perf_counter() - t
out["build_s"] = round(build, 2)
out["rss_mb_added"] = round(rss() - r0, 1)
for ef in (40, 64, 100, 200):
    ts = []
    found = []
    if lib == "hnswlib":
        idx.set_ef(ef)
        idx.set_num_threads(1)
    else:
        idx.expansion_search = ef
    for q in Qs:
        t = time.perf_counter()
        if lib == "hnswlib":
            l, _ = idx.knn_query(q, k=K)
            found.append(list(l[0]))
        else:
            m = idx.search(q, K)
            found.append(list(m.keys))
        ts.append(time.perf_counter() - t)
    out[f"ef{ef}"] = {"p50_p95_ms": ptile(ts), "recall10": round(rec(found, truth), 4)}
# filtered
ef = 100
if lib == "hnswlib":
    idx.set_ef(ef)
else:
    idx.expansion_search = ef
for name, allow, ft in (("1pct", allow1, ft1), ("10pct", allow10, ft10)):
    aset = set(allow.tolist())
    ts = []
    found = []
    for q in Qs:
        t = time.perf_counter()
        if lib == "hnswlib":
            try:
                l, _ = idx.knn_query(q, k=K, filter=lambda i: i in aset)
                found.append(list(l[0]))
            except RuntimeError:
                found.append([])
        else:
            # usearch: no python predicate fast; oversample
            m = idx.search(q, K * (100 if name == "1pct" else 10) * 2)
            keys = [k for k in m.keys if k in aset][:K]
            found.append(keys)
        ts.append(time.perf_counter() - t)
    out["filter_" + name] = {"p50_p95_ms": ptile(ts), "recall10": round(rec(found, ft), 4)}
# deletes/adds
t = time.perf_counter()
for i in range(1000):
    if lib == "hnswlib":
        idx.mark_deleted(i)
    else:
        idx.remove(i)
out["delete1000_ms"] = round((time.perf_counter() - t) * 1000, 1)
newv = clustered(1000, centers, rng)
t = time.perf_counter()
if lib == "hnswlib":
    idx.add_items(newv, np.arange(N, N + 1000))
else:
    idx.add(np.arange(N, N + 1000), newv)
out["add1000_ms"] = round((time.perf_counter() - t) * 1000, 1)
d = tempfile.mkdtemp()
p = os.path.join(d, "i.bin")
t = time.perf_counter()
idx.save_index(p) if lib == "hnswlib" else idx.save(p)
out["save_s"] = round(time.perf_counter() - t, 3)
out["file_mb"] = round(os.path.getsize(p) / 2**20, 1)
t = time.perf_counter()
if lib == "hnswlib":
    j = hnswlib.Index(space="ip", dim=D)
    j.load_index(p, max_elements=N + 2000)
else:
    from usearch.index import Index

    j = Index.restore(p)
out["load_s"] = round(time.perf_counter() - t, 3)
if lib != "hnswlib":
    t = time.perf_counter()
    jv = Index.restore(p, view=True)
    out["view_s"] = round(time.perf_counter() - t, 3)
# truncated file
with open(p, "rb") as f:
    data = f.read()
open(p + ".trunc", "wb").write(data[: len(data) // 2])
try:
    if lib == "hnswlib":
        j = hnswlib.Index(space="ip", dim=D)
        j.load_index(p + ".trunc")
        out["truncated_load"] = "loaded!"
    else:
        j = Index.restore(p + ".trunc")
        out["truncated_load"] = "loaded" if j is not None else "None"
        if j is not None:
            out["truncated_len"] = len(j)
except BaseException as e:
    out["truncated_load"] = f"{type(e).__name__}: {str(e)[:100]}"
print(json.dumps({lib: out}))
