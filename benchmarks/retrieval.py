"""Retrieval index benchmark: build time, single-query p50/p99 latency and recall@10 versus exact search.

Synthetic embeddings (allowed for the scale test): a mixture of 2,000 Gaussian clusters on a 48-dim
latent subspace mapped to ``--dim`` dims plus isotropic noise, L2-normalised, so that neighbourhoods
overlap the way real embeddings do (not well-separated blobs). Queries are 1,000 fresh draws. For each
size the same run measures (a) the naive way -- numpy brute force ``vectors @ q`` + argpartition per
query, (b) faiss exact flat, (c) the approximate kinds of ``worldclass index build`` through the
worldclass API (normalisation and, for binary, the hashing head included in the latency). Prints JSON.

    python benchmarks/retrieval.py --sizes 100000 1000000 --dim 256

``--scale``: the archive-scale check at 1 and 10 million rows of 128-dim embeddings (the projection size
of the self-supervised retrieval models), written to disk chunk by chunk (never all in memory) as a
worldclass embedding set, indexed with ``ivfsq`` (IVF + 8-bit scalar codes) through
:func:`build_index`; exact ground truth by a streamed flat search over the float vectors; single-query
p50/p99 and recall@10 at several ``nprobe``, the index file size and the peak memory of a fresh process
that opens the index and answers the queries. Goals: <= 2 GB, p50 < 5 ms, recall@10 >= 0.9 at 10M.

    python benchmarks/retrieval.py --scale [--scale-sizes 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from worldclass.metrics.retrieval import recall_at_k
from worldclass.retrieval.embeddings import l2_normalize, write_embeddings
from worldclass.retrieval.index import IndexParams, build_index


def synthetic(n: int, dim: int, seed: int, clusters: int = 2000, latent: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(123).standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    centers = np.random.default_rng(7).standard_normal((clusters, latent)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        z = centers[rng.integers(0, clusters, m)] + 1.0 * rng.standard_normal((m, latent)).astype(np.float32)
        out[i : i + m] = z @ basis + 0.25 * rng.standard_normal((m, dim)).astype(np.float32)
    return l2_normalize(out)


def latencies(fn, queries: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:  # type: ignore[no-untyped-def]
    ids, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        ids.append(fn(q[None]))
        times.append(time.perf_counter() - t0)
    t = np.asarray(times) * 1000
    return np.concatenate(ids), {"p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99))}


def run(n: int, dim: int, queries: int, kinds: list[str], work: Path) -> dict[str, object]:
    vectors = synthetic(n, dim, seed=1)
    q = synthetic(queries, dim, seed=2)
    rows = pa.table(
        {
            "patch_id": [f"p{i}" for i in range(n)],
            "sensor": ["s2"] * n,
            "split": ["test"] * n,
            "labels": pa.array([[]] * n, pa.list_(pa.string())),
        }
    )
    emb = write_embeddings(work / f"emb{n}", vectors, rows, {"model": {"sha256": "synthetic"}, "classes": []})
    del vectors
    from worldclass.retrieval.embeddings import Embeddings

    stored = np.asarray(Embeddings.open(emb).vectors)
    exact = np.argsort(-(q @ stored.T), axis=1)[:, :10] if n <= 200_000 else None
    if exact is None:  # chunked exact ground truth
        import faiss

        flat = faiss.IndexFlatIP(dim)
        flat.add(stored)
        exact = flat.search(q, 10)[1]

    def naive(x: np.ndarray) -> np.ndarray:
        s = stored @ x[0]
        top = np.argpartition(-s, 10)[:10]
        return top[np.argsort(-s[top])][None]

    _, naive_lat = latencies(naive, q[:200])
    result: dict[str, object] = {"n": n, "dim": dim, "naive_numpy": naive_lat}
    for kind in kinds:
        params = IndexParams(refine=kind.endswith("-refine"))
        t0 = time.perf_counter()
        index = build_index(emb, work / f"{kind}{n}", kind.removesuffix("-refine"), params=params)
        build = time.perf_counter() - t0
        found, lat = latencies(lambda x, index=index: index.search(x, 10)[1], q)
        entry = {
            "build_s": round(build, 2),
            **{k: round(v, 3) for k, v in lat.items()},
            "recall@10": round(recall_at_k(found, exact), 4),
        }
        if kind == "hnsw":
            for ef in (32, 128):
                index.set_search_params(ef_search=ef)
                f2, l2 = latencies(lambda x, index=index: index.search(x, 10)[1], q)
                entry[f"ef{ef}"] = {
                    "p50_ms": round(l2["p50_ms"], 3),
                    "recall@10": round(recall_at_k(f2, exact), 4),
                }
        if kind.startswith("ivfpq"):
            for nprobe in (4, 64):
                index.set_search_params(nprobe=nprobe)
                f2, l2 = latencies(lambda x, index=index: index.search(x, 10)[1], q)
                entry[f"nprobe{nprobe}"] = {
                    "p50_ms": round(l2["p50_ms"], 3),
                    "recall@10": round(recall_at_k(f2, exact), 4),
                }
        entry["params"] = {k: v for k, v in index.info["params"].items() if v not in (None, {}, 0)}
        result[kind] = entry
        shutil.rmtree(work / f"{kind}{n}", ignore_errors=True)
        print(json.dumps({kind: entry}), flush=True)
    shutil.rmtree(emb, ignore_errors=True)
    return result


def _write_set(path: Path, n: int, dim: int, chunk: int = 200_000) -> Path:
    """An embedding set of ``n`` synthetic rows written chunk by chunk (bounded memory)."""
    import pyarrow.parquet as pq

    from worldclass.retrieval.embeddings import FORMAT, ROW_SCHEMA, fingerprint

    path.mkdir(parents=True, exist_ok=True)
    vectors = np.lib.format.open_memmap(path / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        vectors[i : i + m] = synthetic(m, dim, seed=1000 + i // chunk)
    vectors.flush()
    rows = pa.table(
        {
            "patch_id": [f"p{i}" for i in range(n)],
            "sensor": ["s2"] * n,
            "split": ["test"] * n,
            "labels": pa.array([[]] * n, pa.list_(pa.string())),
        },
        schema=ROW_SCHEMA,
    )
    pq.write_table(rows, path / "rows.parquet")
    model = {"sha256": "synthetic"}
    info = {
        "format": FORMAT,
        "dim": dim,
        "rows": n,
        "complete": True,
        "model": model,
        "sensors": ["s2"],
        "classes": [],
        "fingerprint": fingerprint("synthetic", rows, vectors),
    }
    (path / "info.json").write_text(json.dumps(info))
    return path


def _exact(path: Path, q: np.ndarray, k: int = 10, chunk: int = 500_000) -> np.ndarray:
    """Exact top-k rows of every query by a flat search streamed over the stored float vectors."""
    import faiss

    vectors = np.load(path / "vectors.npy", mmap_mode="r")
    best_d = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for i in range(0, len(vectors), chunk):
        flat = faiss.IndexFlatIP(q.shape[1])
        flat.add(np.ascontiguousarray(vectors[i : i + chunk]))
        d, idx = flat.search(q, k)
        d_all, i_all = np.concatenate([best_d, d], 1), np.concatenate([best_i, idx + i], 1)
        top = np.argsort(-d_all, axis=1)[:, :k]
        best_d, best_i = np.take_along_axis(d_all, top, 1), np.take_along_axis(i_all, top, 1)
    return best_i


_SEARCH = """
import json, sys, time
import numpy as np
from worldclass.retrieval.index import RetrievalIndex
index = RetrievalIndex.open(sys.argv[1])
q = np.load(sys.argv[2])
out = {}
for nprobe in json.loads(sys.argv[3]):
    index.set_search_params(nprobe=nprobe)
    found, times = [], []
    for x in q:
        t0 = time.perf_counter()
        found.append(index.search(x[None], 10)[1])
        times.append((time.perf_counter() - t0) * 1000)
    np.save(sys.argv[4] + f"-{nprobe}.npy", np.concatenate(found))
    out[nprobe] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
# VmHWM: this process's own peak (ru_maxrss would include the benchmark that spawned it: kept over exec)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
out["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def scale_run(n: int, dim: int, queries: int, nprobes: list[int], work: Path) -> dict[str, object]:
    """The archive-scale figures for ``n`` rows (see the module docstring)."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    emb = _write_set(work / f"emb{n}", n, dim)
    write_s = time.perf_counter() - t0
    q = synthetic(queries, dim, seed=2)
    t0 = time.perf_counter()
    exact = _exact(emb, q)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_index(emb, work / f"ivfsq{n}", "ivfsq", params=IndexParams(train_size=200_000))
    build_s = time.perf_counter() - t0
    np.save(work / "queries.npy", q)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            _SEARCH,
            str(work / f"ivfsq{n}"),
            str(work / "queries.npy"),
            json.dumps(nprobes),
            str(work / "found"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    timing = json.loads(r.stdout)
    result: dict[str, object] = {
        "n": n,
        "dim": dim,
        "kind": "ivfsq",
        "write_embeddings_s": round(write_s, 1),
        "exact_ground_truth_s": round(exact_s, 1),
        "build_s": round(build_s, 1),
        "index_file_mb": round((work / f"ivfsq{n}" / "index.faiss").stat().st_size / 2**20, 1),
        "search_process_peak_rss_mb": round(timing["peak_rss_mb"], 1),
        "float_vectors_mb": round(n * dim * 4 / 2**20, 1),
    }
    for nprobe in nprobes:
        found = np.load(work / f"found-{nprobe}.npy")
        t = timing[str(nprobe)]
        result[f"nprobe{nprobe}"] = {
            "p50_ms": round(t["p50_ms"], 3),
            "p99_ms": round(t["p99_ms"], 3),
            "recall@10": round(recall_at_k(found, exact), 4),
        }
    shutil.rmtree(work / f"ivfsq{n}", ignore_errors=True)
    shutil.rmtree(emb, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument(
        "--kinds", nargs="+", default=["flat", "hnsw", "ivfpq", "ivfpq-refine", "ivfsq", "binary"]
    )
    ap.add_argument("--scale", action="store_true", help="The 1M / 10M archive-scale check (ivfsq, dim 128).")
    ap.add_argument("--scale-sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--nprobes", type=int, nargs="+", default=[8, 16, 32])
    args = ap.parse_args()
    out = []
    if args.scale:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.scale_sizes:
                out.append(scale_run(n, 128, args.queries, args.nprobes, Path(tmp)))
                print(json.dumps(out[-1]), flush=True)
        print(json.dumps({"benchmark": "retrieval-scale", "results": out}, indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            out.append(run(n, args.dim, args.queries, args.kinds, Path(tmp)))
            print(json.dumps(out[-1]), flush=True)
    print(json.dumps({"benchmark": "retrieval", "results": out}, indent=1))


if __name__ == "__main__":
    main()
