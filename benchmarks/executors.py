"""Executors for batch work: local vs Ray (1 and 2 actors) on `map` (8 scenes), `embed` and `encode`.

map: 8 generated aerial scenes (`--side` px, 0.3 m) mapped by a U-Net/ResNet18 trained for one short
epoch (weights do not matter for speed), one work unit per scene. embed: a generated reBEN archive
encoded into a store and a small classifier, `--chunk` patches per unit. Each job runs with the local
executor (one process, the default), Ray with 1 actor and Ray with 2 actors (a local Ray instance with
2 CPUs; Ray's start-up included, as a user pays it); outputs are compared with the local ones (maps:
identical bytes of every band; embeddings: max abs difference; stores: every key and value). encode: the
same archive into a store, local with 0 and 2 reader processes vs Ray, 32 patches per unit. Prints JSON:
seconds, throughput, ratios.

    python benchmarks/executors.py [--scenes 8] [--side 1024] [--patches 2000] [--chunk 250]
                                   [--only map|embed|encode]
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
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--only", choices=("map", "embed", "encode"))
    a = ap.parse_args()
    jobs = {
        "map": lambda: bench_map(a.scenes, a.side),
        "embed": lambda: bench_embed(a.patches, a.chunk),
        "encode": lambda: bench_encode(a.patches),
    }
    result = {k: f() for k, f in jobs.items() if a.only in (None, k)}
    print(json.dumps(result, indent=1))


def _ratios(runs: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "ray2_vs_local": round(runs["local"]["seconds"] / runs["ray-2"]["seconds"], 2),
        "ray2_vs_ray1": round(runs["ray-1"]["seconds"] / runs["ray-2"]["seconds"], 2),
    }


def bench_map(scenes: int, side: int) -> dict[str, object]:
    import rasterio

    from worldclass.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes
    from worldclass.mapping.job import MapJob
    from worldclass.tasks import load_config
    from worldclass.training import train
    from worldclass.training.executors import run_units

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        root = synth_scenes(t / "scenes", size=side, scenes=scenes, seed=2)
        cfg = load_config(
            None,
            [
                "task=segmentation",
                f"data.root={root}",
                "data.dataset=scenes",
                f"data.classes={AERIAL_CLASSES}",
                "data.vector=labels.gpkg",
                "data.patch_size=64",
                "data.samples_per_epoch=16",
                "data.batch_size=8",
                "data.num_workers=0",
                "model.encoder=resnet18",
                "optim.max_epochs=1",
                f"trainer.out={t / 'run'}",
                "trainer.progress=false",
            ],
        )
        ckpt = train(cfg).best_checkpoint
        images = sorted((Path(root) / "images").glob("*.tif"))
        runs: dict[str, dict[str, float]] = {}
        for name, executor, workers in (("local", "local", 1), ("ray-1", "ray", 1), ("ray-2", "ray", 2)):
            job = MapJob(ckpt, images, t / name, tile=256, overlap=32, batch_size=8, device="cpu")
            start = time.perf_counter()
            run_units(job, job.prepare(), executor=executor, workers=workers, cpus=2)
            seconds = time.perf_counter() - start
            mpx = len(images) * side * side / 1e6
            runs[name] = {"seconds": round(seconds, 2), "mpx_per_s": round(mpx / seconds, 3)}
        same = True
        for img in images:
            with rasterio.open(t / "local" / f"{img.stem}.tif") as ref:
                want = ref.read()
            for name in ("ray-1", "ray-2"):
                with rasterio.open(t / name / f"{img.stem}.tif") as got:
                    same = same and bool(np.array_equal(want, got.read()))
        return {"scenes": len(images), "side_px": side, "runs": runs, **_ratios(runs), "maps_identical": same}


def bench_embed(patches: int, chunk: int) -> dict[str, object]:

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
        root = synth_bigearthnet(t / "reBEN", version=2, patches=patches, seed=5)
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
            job = EmbedJob(ckpt, t / "store", t / name, chunk=chunk, device="cpu")
            start = time.perf_counter()
            todo = job.prepare()
            run_units(job, todo, executor=executor, workers=workers, cpus=2)
            out = job.finalize()
            seconds = time.perf_counter() - start
            sets[name] = Embeddings.open(out)
            n = len(sets[name])
            runs[name] = {"seconds": round(seconds, 2), "patches_per_s": round(n / seconds, 1)}
        diff = max(float(np.abs(sets[k].vectors - sets["local"].vectors).max()) for k in ("ray-1", "ray-2"))
        return {
            "patches": len(sets["local"]),
            "chunk": chunk,
            "runs": runs,
            **_ratios(runs),
            "max_abs_diff_vs_local": diff,
        }


def bench_encode(patches: int) -> dict[str, object]:
    from worldclass.data.bigearthnet.sources import lmdb_open
    from worldclass.data.encode import EncodeJob
    from worldclass.data.synth.bigearthnet import synth_bigearthnet
    from worldclass.training.executors import run_units

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        root = synth_bigearthnet(t / "reBEN", version=2, patches=patches, seed=5)
        runs: dict[str, dict[str, float]] = {}
        items = {}
        cases = (("local", "local", 0), ("local-2proc", "local", 2), ("ray-1", "ray", 1), ("ray-2", "ray", 2))
        for name, executor, workers in cases:
            start = time.perf_counter()
            with EncodeJob(root, t / name) as job:
                todo = job.prepare()
                if executor == "local":
                    job.run_local(todo, workers)
                else:
                    run_units(job, todo, executor="ray", workers=workers, cpus=2)
                job.finalize()
            seconds = time.perf_counter() - start
            runs[name] = {"seconds": round(seconds, 2), "patches_per_s": round(patches / seconds, 1)}
            with lmdb_open(t / name).begin() as txn:
                items[name] = {bytes(k): bytes(v) for k, v in txn.cursor()}
        return {
            "patches": patches,
            "runs": runs,
            **_ratios(runs),
            "ray2_vs_local_2proc": round(runs["local-2proc"]["seconds"] / runs["ray-2"]["seconds"], 2),
            "stores_identical": all(items[k] == items["local"] for k in items),
        }


if __name__ == "__main__":
    main()
