"""Retrieval index benchmark: build time, single-query p50/p99 latency and recall@10 versus exact search.

Synthetic embeddings (allowed for the scale test): a mixture of 2,000 Gaussian clusters on a 48-dim
latent subspace mapped to ``--dim`` dims plus isotropic noise, L2-normalised, so that neighbourhoods
overlap the way real embeddings do (not well-separated blobs). Queries are 1,000 fresh draws. For each
size the same run measures (a) the naive way -- numpy brute force ``vectors @ q`` + argpartition per
query, (b) faiss exact flat, (c) the approximate kinds of ``worldclass index build`` through the
worldclass API (normalisation and, for binary, the hashing head included in the latency). Prints JSON.

    python benchmarks/retrieval.py --sizes 100000 1000000 --dim 256
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivfpq", "ivfpq-refine", "binary"])
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            out.append(run(n, args.dim, args.queries, args.kinds, Path(tmp)))
            print(json.dumps(out[-1]), flush=True)
    print(json.dumps({"benchmark": "retrieval", "results": out}, indent=1))


if __name__ == "__main__":
    main()
