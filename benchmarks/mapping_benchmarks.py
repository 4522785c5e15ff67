"""U-Net, FCN and multi-resolution MLP on the generated archives of the seed's mapping benchmarks.

For every dataset (``vaihingen``, ``potsdam``, ``massachusetts-roads``, ``massachusetts-buildings``,
``crowdai``): the dataset's generator writes one archive in the official layout; each architecture is trained
(segmentation task, ResNet18 encoder, CE + soft IoU, ``--epochs`` x ``--samples`` random windows of
``--patch`` px) for every ``--seeds`` value and scored by ``worldclass evaluate`` on the split with a public
reference (ISPRS and Massachusetts: ``test``; CrowdAI: ``val``) with the benchmark's own rule. Prints one JSON
line per run, then a summary (mean ± sample std over seeds) beside the seed's / the literature's reference
figures on the real data, and writes everything, with the tile ids of every split used, to ``--out``.

    python benchmarks/mapping_benchmarks.py --seeds 0 1 2 --out results/mapping-benchmarks-synth
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.datasets import get_dataset
from worldclass.tasks import get_task, load_config
from worldclass.tasks.base import EvalOptions
from worldclass.training import train

DATASETS = ("vaihingen", "potsdam", "massachusetts-roads", "massachusetts-buildings", "crowdai")
ARCHS = ("unet", "fcn", "mlp")
EVAL_SPLIT = {"crowdai": "val"}
# Reference figures on the real archives (not comparable with the generated data; for when they are present).
REFERENCE = {
    "vaihingen": "seed 003, MLP (Maggiori et al. 2017): OA 88.92 %, F1 imp 91.69 / bld 95.24 / low veg 79.44 / "
    "tree 88.12 / car 78.42 (ISPRS server OA 89.5 %)",
    "potsdam": "not given in the seed; UNetFormer-protocol papers report mean F1 ~ 0.92, OA ~ 0.91 (eroded GT)",
    "massachusetts-roads": "relaxed breakeven (rho 3): Mnih CNN 0.8873, + post-processing 0.9006 (Mnih 2013)",
    "massachusetts-buildings": "relaxed breakeven (rho 3): Mnih CNN 0.9150, Saito et al. 2016 0.9528",
    "crowdai": "COCO AP on val: U-Net + frame field 61.3 (Girard et al. 2021), HiSup 79.4 (leaky val)",
}


def run(name: str, arch: str, seed: int, root: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    overrides = [o for o in _overrides(name, root) if not o.startswith("data.patch_size")]
    cfg = load_config(
        None,
        [
            "task=segmentation",
            *overrides,
            f"data.patch_size={args.patch}",
            f"model.arch={arch}",
            "model.encoder=resnet18",
            "data.batch_size=16",
            "data.num_workers=0",
            f"data.samples_per_epoch={args.samples}",
            f"optim.max_epochs={args.epochs}",
            "optim.warmup_steps=10",
            "optim.lr=0.003",
            "optim.patience=100",
            f"trainer.seed={seed}",
            "trainer.progress=false",
            f"trainer.out={out}",
        ],
    )
    t0 = time.perf_counter()
    res = train(cfg, overwrite=True)
    task = get_task("segmentation")
    split = EVAL_SPLIT.get(name, "test")
    result = task.evaluate(
        res.best_checkpoint,
        data=None,
        split=split,
        out=out / "eval",
        options=EvalOptions(tile=args.patch * 2),
    )
    return {
        "dataset": name,
        "arch": arch,
        "seed": seed,
        "split": split,
        "seconds": round(time.perf_counter() - t0, 1),
        **task.headline(result),
    }


_FAKES: dict[str, list[str]] = {}


def _overrides(name: str, root: Path) -> list[str]:
    if name not in _FAKES:
        _FAKES[name] = get_dataset(name).make_fake(root / name, seed=0)
    return _FAKES[name]


def splits_used(name: str, root: Path) -> dict[str, list[str]]:
    from worldclass.datasets import data_section

    ds = get_dataset(name)
    values = dict(o.split("=", 1) for o in _overrides(name, root))
    data = data_section(
        {"data": {k.removeprefix("data."): v for k, v in values.items() if k != "data.patch_size"}}
    )
    return {split: [s.name for s in ds.scenes(data, split)] for split in ds.splits}  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subsets = {n: splits_used(n, root) for n in args.datasets}
        for name in args.datasets:
            for arch in args.archs:
                for seed in args.seeds:
                    r = run(name, arch, seed, root, root / "runs" / f"{name}-{arch}-{seed}", args)
                    runs.append(r)
                    print(json.dumps(r), flush=True)
    summary: dict[str, Any] = {}
    for name in args.datasets:
        for arch in args.archs:
            rows = [r for r in runs if r["dataset"] == name and r["arch"] == arch]
            keys = [k for k in rows[0] if k not in ("dataset", "arch", "seed", "split", "seconds")]
            summary[f"{name}/{arch}"] = {
                k: {
                    "mean": round(float(np.nanmean([r[k] for r in rows])), 4),
                    "std": round(float(np.nanstd([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0, 4),
                }
                for k in keys
            }
    report = {
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "out"},
            "encoder": "resnet18",
            "loss": "ce+iou",
        },
        "summary": summary,
        "reference_on_real_data": REFERENCE,
        "splits": subsets,
        "runs": runs,
    }
    print(json.dumps({"summary": summary}, indent=1))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
