"""One active-learning acquisition step on a large pool: time and peak memory, per strategy.

A pool of N patches (default 100,000) with D-dimensional stored embeddings (an embedding set in the
`worldclass embed` layout, read from disk inside the step) and 19 classes. The timed step is exactly what
`worldclass al step` does after round 0: read the pool's embeddings, absorb the answers (simulated oracle),
refit the head, score the evaluation split, score the whole pool (MC dropout for BALD), select the next
batch and write state, model and batch. Each strategy runs in its own process, so its peak resident
memory (ru_maxrss) is its own. Compared in the same run with the naive ways: greedy k-centre recomputing
every distance from scratch at each pick (vs our running minimum), and scikit-learn's KMeans (vs faiss
with k-means++ seeding), on the same rows. Prints JSON.

    python benchmarks/active.py [--pool 100000] [--dim 128] [--batch 100]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

STRATEGIES = ["random", "entropy", "bald", "kmeans", "coreset", "entropy+kmeans", "margin+coreset"]


def make_embeddings(path: Path, n: int, n_eval: int, dim: int, seed: int = 0) -> Path:
    from worldclass.data.nomenclature import class_names
    from worldclass.retrieval.embeddings import write_embeddings

    classes = list(class_names(19))
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(len(classes), dim)).astype(np.float32)
    total = n + n_eval
    y = rng.random((total, len(classes))) < np.linspace(0.3, 0.01, len(classes))
    x = np.empty((total, dim), np.float32)
    for i in range(0, total, 50_000):
        part = y[i : i + 50_000].astype(np.float32)
        x[i : i + 50_000] = part @ protos + rng.normal(size=(len(part), dim)).astype(np.float32)
    rows = pa.table(
        {
            "patch_id": [f"P{i:07d}" for i in range(total)],
            "sensor": ["s2"] * total,
            "split": ["train"] * n + ["test"] * n_eval,
            "labels": [[classes[j] for j in np.flatnonzero(r)] for r in y],
        }
    )
    info = {"model": {"checkpoint": "synthetic", "sha256": "0", "task": "classification"}, "classes": classes}
    return write_embeddings(path, x, rows, info)


def one_step(emb: str, run: str, strategy: str, batch: int) -> None:
    """Child process: init (round 0 = random), then time one step that proposes with ``strategy``."""
    from worldclass.training.active import ActiveSettings, init_run, step

    s = ActiveSettings(
        embeddings=emb, strategy=strategy, batch=batch, budget=10 * batch, initial=batch, oracle="simulated"
    )
    r = init_run(run, s, overwrite=True)
    t = time.perf_counter()
    row = step(r)
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pending = r.state().pending
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_mb),
                "proposed": len(pending["items"]) if pending else 0,
                "f1_macro": row["f1_macro"],
            }
        )
    )


def naive_coreset(x: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    picked: list[int] = []
    for _ in range(k):
        centres = np.concatenate([labelled, x[picked]]) if picked else labelled
        d = (
            ((x[:, None, :] - centres[None]) ** 2).sum(-1).min(1)
            if len(x) * len(centres) < 5e6
            else np.stack([((x - c) ** 2).sum(1) for c in centres]).min(0)
        )
        d[picked] = -1
        picked.append(int(np.argmax(d)))
    return picked


def compare_naive(n: int, dim: int, k: int) -> dict[str, object]:
    from worldclass.training.active.strategies import coreset, kmeans

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    lab = rng.normal(size=(k, dim)).astype(np.float32)
    t = time.perf_counter()
    ours = coreset(x, lab, k)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    naive = naive_coreset(x, lab, k)
    t_naive = time.perf_counter() - t
    out: dict[str, object] = {
        "coreset": {
            "rows": n,
            "k": k,
            "ours_s": round(t_ours, 3),
            "naive_s": round(t_naive, 3),
            "speedup": round(t_naive / t_ours, 1),
            "same_picks": ours.tolist() == naive,
        },
    }
    t = time.perf_counter()
    kmeans(x, k, seed=0)
    t_faiss = time.perf_counter() - t
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        return out
    t = time.perf_counter()
    KMeans(k, n_init=1, max_iter=25, random_state=0).fit(x)
    t_sk = time.perf_counter() - t
    out["kmeans"] = {
        "rows": n,
        "k": k,
        "ours_faiss_s": round(t_faiss, 3),
        "sklearn_s": round(t_sk, 3),
        "speedup": round(t_sk / t_faiss, 1),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--eval", type=int, default=5_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        one_step(*a.child, a.batch)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        emb = make_embeddings(Path(tmp) / "emb", a.pool, a.eval, a.dim)
        made = time.perf_counter() - t
        steps = {}
        for strategy in a.strategies.split(","):
            r = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--batch",
                    str(a.batch),
                    "--child",
                    str(emb),
                    str(Path(tmp) / strategy),
                    strategy,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            steps[strategy] = json.loads(r.stdout.strip().splitlines()[-1])
    result = {
        "pool": a.pool,
        "dim": a.dim,
        "batch": a.batch,
        "embeddings_written_s": round(made, 1),
        "step": steps,
        "slowest_step_s": max(v["seconds"] for v in steps.values()),
        "goal_s": 60,
        "naive": compare_naive(20_000, a.dim, 50),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
