"""The demo pipeline behind ``make demo`` / ``worldclass demo``: embedded data -> stores -> stats -> report.

Steps: (1) synthesise a small reBEN-layout archive, (2) take the real BigEarthNet v1 sample patches
(``real``; default: the 3 S2 + 6 S1 patches shipped inside the package, :data:`REAL_SAMPLES`), (3) encode
both into stores, (4) compute
imbalance statistics and a spatial-leak report, (5) train a small classifier briefly with MROS + DCW and
evaluate it on the test split, (6) train a small segmenter on synthetic aerial scenes, map an unseen
scene to a COG, polygonize its buildings (:mod:`worldclass.demo.mapping`), (7) pretrain a cross-sensor
encoder, embed the archive, evaluate retrieval and query an index (:mod:`worldclass.demo.retrieval`),
(8) write ``OUT/report/index.html``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.data.bigearthnet.sources import lmdb_forget
from worldclass.data.dataset import BigEarthNet
from worldclass.data.encode import encode
from worldclass.data.imbalance import imbalance, split_statistics
from worldclass.data.nomenclature import CLASSES19
from worldclass.data.splits import make_splits
from worldclass.data.store import FORMAT_VERSION, is_store, read_info
from worldclass.data.synth.bigearthnet import synth_bigearthnet
from worldclass.demo.previews import preview_dataset, preview_item
from worldclass.report import Report, plots

#: The real BigEarthNet v1 patches shipped in the package (3 S2 + 6 S1, official layout, CDLA-Permissive).
REAL_SAMPLES = Path(__file__).parent / "samples" / "bigearthnet-v1-real"


def _previews(root: Path, n: int, prefix: str) -> list[dict[str, Any]]:
    ds = preview_dataset(root)
    labels = ds.labels()
    items = []
    for i in np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int):
        names = [CLASSES19[k] if ds.num_classes == 19 else "" for k in np.flatnonzero(labels[i])]
        title = f"{prefix}{ds.patch_ids[i][-14:]}\n" + ", ".join(n[:18] for n in names[:3])
        items.append(preview_item(ds, int(i), title))
    return items


#: Short MROS+DCW training of the demo (a CPU-sized timm backbone; reBEN recipe: configs/reben-resnet50.yaml).
DEMO_TRAINING = [
    "data.bands=s2-10+s1",
    "data.batch_size=32",
    "data.num_workers=0",
    "model.backbone=mobilenetv3_small_100",
    "model.drop_rate=0.1",
    "model.drop_path_rate=0",
    "loss.name=dcw",
    "sampler.name=mros",
    "optim.lr=0.002",
    "optim.warmup_steps=20",
    "optim.patience=3",
    "trainer.progress=false",
]


def _drop_outdated_store(store: Path, log: Callable[[str], None]) -> None:
    """The demo owns its output folder: a store of an older format left by a previous demo is re-encoded."""
    if is_store(store) and read_info(store).get("format_version") != FORMAT_VERSION:
        log(f"      {store} has an older store format; re-encoding it")
        lmdb_forget(store)
        shutil.rmtree(store)


def run_demo(
    out: Path,
    *,
    patches: int = 800,
    workers: int = 2,
    log: Callable[[str], None] = print,
    real: Path | None = None,
    epochs: int = 8,
    seg_epochs: int = 6,
    scene_size: int = 1536,
    ssl_epochs: int = 8,
    noise_epochs: int = 6,
    align_epochs: int = 6,
    fl_rounds: int = 4,
    budget_epochs: int = 3,
) -> Path:
    """Run the demo into ``out``; returns the report path."""
    out = Path(out)
    synth_root, store = out / "archives" / "reben-synth", out / "stores" / "reben-synth"
    log(f"[1/12] synthetic reBEN archive ({patches} patches) -> {synth_root}")
    if not (synth_root / "metadata.parquet").is_file():
        synth_bigearthnet(synth_root, version=2, patches=patches, seed=0, workers=workers)
    log(f"[2/12] encode -> {store}")
    _drop_outdated_store(store, log)
    enc = encode(synth_root, store, workers=workers)
    real_store = out / "stores" / "bigearthnet-v1-real"
    if real is None:
        real = REAL_SAMPLES
    has_real = (Path(real) / "BigEarthNet-v1.0").is_dir()
    if has_real:
        log(f"[3/12] real BigEarthNet v1 patches {real} -> {real_store}")
        _drop_outdated_store(real_store, log)
        encode(real, real_store, workers=0)
    else:
        log(f"[3/12] no real sample patches in {real} (--real-samples wants a BigEarthNet v1 root); skipped")
    log("[4/12] statistics and splits")
    stats = split_statistics(store)
    leak = make_splits(store, "official")
    report = Report("worldclass demo: BigEarthNet data layer")
    report.heading("Archives and stores")
    rows: list[list[Any]] = [["synthetic reBEN (v2 layout)", str(synth_root), enc.total, str(store)]]
    if has_real:
        real_ds = BigEarthNet(real_store, split="all", sensors=("s2", "s1"), include_snow_cloud=True)
        rows.append(
            ["real BigEarthNet v1 samples (CDLA-Permissive-1.0)", str(real), len(real_ds), str(real_store)]
        )
    report.table(["archive", "source", "patches", "store"], rows)
    report.heading("Imbalance statistics (19 classes)")
    report.table(
        ["split", "patches", "MeanIR", "MaxIR", "CVIR", "SCUMBLE", "cardinality"],
        [
            [s, v["n_samples"], v["mean_ir"], v["max_ir"], v["cvir"], v["scumble"], v["cardinality"]]
            for s, v in stats["splits"].items()
        ],
    )
    report.figure(plots.class_distribution(stats), "class distribution")
    report.figure(plots.imbalance_ratios(stats, "train"), "imbalance ratios")
    lk = leak["leak"]
    report.text(
        f"Spatial contact between the splits of the official (geographic) split: share of each split's patches "
        f"whose centre lies within {lk['distance_m']:.0f} m (edge and diagonal neighbours) of a patch of "
        f"another split, distances in {lk['frame']}."
    )
    report.table(
        ["pair", "patches", "touching", "share"],
        [[k, v["n"], v["leaked"], v["share"]] for k, v in lk["pairs"].items()],
    )
    report.heading("Patch previews (RGB = B04/B03/B02, 2-98 % stretch; S1 VV)")
    items = _previews(store, 6, "synth ")
    if has_real:
        items += _previews(real_store, 3, "real ")
        real_stats = imbalance(real_ds.labels(), real_ds.classes)
        report.text(
            f"Real patches: label cardinality {real_stats['cardinality']:.2f} (19 classes).", note=True
        )
    report.figure(plots.patch_previews(items), "patch previews")
    log(f"[5/12] train MROS+DCW for {epochs} epochs, evaluate on test")
    supervised = _train_and_evaluate(report, store, out, epochs)
    log("[6/12] noisy labels: 40 % mixed noise, BCE vs GRID-style training")
    from worldclass.demo.imperfect import run_alignment_demo, run_noise_demo

    run_noise_demo(report, store, out, DEMO_TRAINING, epochs=noise_epochs, log=log)
    log("[7/12] mapping: segmentation, whole-scene COG, polygons")
    from worldclass.demo.mapping import run_mapping_demo

    run_mapping_demo(report, out, epochs=seg_epochs, scene_size=scene_size, log=log)
    log("[8/12] misaligned building layer -> aligned")
    unseen = out / "archives" / "aerial-unseen" / "scene.tif"
    run_alignment_demo(report, out, unseen, unseen.with_name("reference.gpkg"), epochs=align_epochs, log=log)
    log("[9/12] retrieval: cross-sensor pretraining, embeddings, protocol, index, query")
    from worldclass.demo.retrieval import run_retrieval_demo

    run_retrieval_demo(report, store, out, supervised, epochs=ssl_epochs, log=log)
    log("[10/12] federated: one client per country, FedAvg vs SCAFFOLD")
    from worldclass.demo.federated import run_federated_demo

    run_federated_demo(report, store, out, rounds=fl_rounds, log=log)
    log("[11/12] label budget: SSCL pretraining, DFC2020 with 6 labelled patches, 3 seeds")
    from worldclass.demo.selfsup import run_label_budget_demo

    run_label_budget_demo(report, out, epochs=budget_epochs, log=log)
    path = report.write(out / "report")
    log(f"[12/12] report -> {path}")
    return path


def _train_and_evaluate(report: Report, store: Path, out: Path, epochs: int) -> Path:
    from worldclass.tasks import get_task, load_config
    from worldclass.tasks.classification.evaluate import evaluate
    from worldclass.training import train

    cfg = load_config(
        None,
        [
            f"data.root={store}",
            f"trainer.out={out / 'runs' / 'mros-dcw'}",
            f"optim.max_epochs={epochs}",
            *DEMO_TRAINING,
        ],
    )
    result = train(cfg, overwrite=True)  # the demo owns its output folder
    metrics = evaluate(
        result.best_checkpoint,
        split="test",
        out=out / "runs" / "mros-dcw" / "eval",
        report=False,
        return_arrays=True,
    )
    report.heading(f"Classification: {cfg.model.backbone}, MROS + DCW, {result.epochs} epochs (test split)")
    report.text(
        f"Checkpoint {result.best_checkpoint} (best validation macro AP {result.best_score:.3f}); bands "
        f"{', '.join(cfg.data.bands if isinstance(cfg.data.bands, list) else [str(cfg.data.bands)])}. "
        "A short CPU run on a small synthetic archive: the numbers show the pipeline, not a benchmark."
    )
    get_task(cfg.task).report_section(report, metrics)
    return result.best_checkpoint
