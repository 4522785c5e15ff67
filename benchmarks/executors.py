"""Executors for batch work: `embed` of one archive with the local executor vs Ray (1 and 2 actors).

A generated reBEN archive is encoded into a store, a small classifier is trained for one short epoch (its
weights do not matter for speed), then the same embed job (work manifest of `--chunk` patches per unit)
runs: local (one process, the default), Ray with 1 actor, Ray with 2 actors (a local Ray instance with
2 CPUs; Ray's start-up included, as a user pays it). Every run writes its own embedding set; the sets are
compared (max abs difference of the vectors). Prints JSON with seconds, patches/s and ratios.

    python benchmarks/executors.py [--patches 2000] [--chunk 250]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=250)
    a = ap.parse_args()

    from worldclass.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from worldclass.data.encode import encode
    from worldclass.data.synth.bigearthnet import synth_bigearthnet
    from worldclass.retrieval.embed_archive import EmbedJob
    from worldclass.retrieval.embeddings import Embeddings
    from worldclass.tasks import load_config
    from worldclass.training import train
    from worldclass.training.executors import run_units

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        root = synth_bigearthnet(t / "reBEN", version=2, patches=a.patches, seed=5)
        encode(root, t / "store", workers=0)
        cfg = load_config(
            None,
            [
                f"data.root={t / 'store'}",
                "data.bands=s2-10+s1",
                "data.batch_size=16",
                "data.num_workers=0",
                "model.backbone=resnet10t",
                "optim.max_epochs=1",
                "optim.limit_train_batches=2",
                "optim.limit_val_batches=1",
                f"trainer.out={t / 'run'}",
                "trainer.progress=false",
            ],
        )
        ckpt = train(cfg).best_checkpoint
        runs: dict[str, dict[str, float]] = {}
        sets = {}
        for name, executor, workers in (("local", "local", 1), ("ray-1", "ray", 1), ("ray-2", "ray", 2)):
            job = EmbedJob(ckpt, t / "store", t / name, chunk=a.chunk, device="cpu")
            start = time.perf_counter()
            todo = job.prepare()
            run_units(job, todo, executor=executor, workers=workers, cpus=2)
            out = job.finalize()
            seconds = time.perf_counter() - start
            sets[name] = Embeddings.open(out)
            n = len(sets[name])
            runs[name] = {"seconds": round(seconds, 2), "patches_per_s": round(n / seconds, 1)}
        diff = max(float(np.abs(sets[k].vectors - sets["local"].vectors).max()) for k in ("ray-1", "ray-2"))
        print(
            json.dumps(
                {
                    "patches": len(sets["local"]),
                    "chunk": a.chunk,
                    "runs": runs,
                    "ray2_vs_local": round(runs["local"]["seconds"] / runs["ray-2"]["seconds"], 2),
                    "ray2_vs_ray1": round(runs["ray-1"]["seconds"] / runs["ray-2"]["seconds"], 2),
                    "max_abs_diff_vs_local": diff,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
