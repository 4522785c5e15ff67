"""``worldclass experiment misaligned``: segmentation from a misaligned map, on the same scenes.

The config is a segmentation run on scenes whose ``data.vector`` holds the true labels. The experiment
draws a misaligned copy of the map (:func:`~worldclass.data.misalign.misalign_layer`: the building layer
moved by a smooth field, a constant offset per scene and a shift per building, some buildings omitted,
some invented; the other classes stay) and trains, per seed, with the same model and schedule:

- **misaligned**: on the misaligned map only;
- **misaligned → clean**: that model fine-tuned on a small clean set (the first ``clean_scenes`` scenes
  with their true labels; lower learning rate, keeps the starting model's input normalisation);
- **auto-aligned** (with an alignment checkpoint): on the misaligned map moved back by ``worldclass
  align``;
- **aligned**: on the true labels (the reference a perfect map gives);
- each of these **+ refiner**: the iterative refiner trained on top of the frozen model, on the labels
  that model was trained on.

Every model is scored against the **true** labels: on ``test`` scenes when given (whole scenes), else on
the validation rows of the training scenes. Model selection uses each variant's own validation labels
(misaligned for the misaligned variants: a user of a crowd-sourced map has nothing better). Written to
``trainer.out``: ``misaligned.json`` (every run, mean and sample std, the map's statistics and its
agreement with the truth), ``misaligned.md`` (per-class IoU in %, mean ± std over the seeds),
``labels/`` (the maps used) and ``subsets.json`` (scenes and rows of each role).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.config import ExperimentConfig
from worldclass.data.misalign import LayerSpec, misalign_layer
from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic, write_text_atomic
from worldclass.training.fit import train


@dataclass(frozen=True)
class Variant:
    """``labels``: misaligned | clean | auto | true; ``start``: the variant whose best model this one
    starts from (None: fresh); ``refine``: train only the refiner on top of ``start``."""

    name: str
    labels: str
    start: str | None = None
    refine: bool = False


BASES = (
    Variant("misaligned", "misaligned"),
    Variant("misaligned → clean", "clean", start="misaligned"),
    Variant("auto-aligned", "auto"),
    Variant("aligned", "true"),
)


def variant_list(with_auto: bool) -> list[Variant]:
    """The bases (auto-aligned only ``with_auto``), each followed by its ``+ refiner``."""
    out = []
    for b in BASES:
        if b.labels == "auto" and not with_auto:
            continue
        out += [b, Variant(f"{b.name} + refiner", b.labels, start=b.name, refine=True)]
    return out


@dataclass
class Setting:
    """What all variants share: the label files, the clean subset's root, where to score."""

    out: Path
    true: Path
    misaligned: Path
    auto: Path | None
    clean_root: Path
    test_root: Path | None
    finetune_epochs: int
    refine_epochs: int
    refine_steps: int


def _images(cfg: ExperimentConfig) -> list[Path]:
    images = sorted((Path(cfg.data.root) / "images").glob("*.tif"))
    if not images:
        raise ConfigError(f"{Path(cfg.data.root) / 'images'}: no scene GeoTIFFs (data.dataset: scenes)")
    return images


def prepare(
    cfg: ExperimentConfig,
    spec: LayerSpec,
    *,
    clean_scenes: int,
    align_checkpoint: Path | None,
    test_root: Path | None,
    finetune_epochs: int,
    refine_epochs: int,
    refine_steps: int,
    log: Callable[[str], None],
) -> tuple[Setting, dict[str, Any]]:
    """Write the misaligned map (and its auto-aligned copy) under ``<out>/labels`` and the clean subset's
    root (links to the first ``clean_scenes`` images); returns the setting and the map's statistics."""
    from worldclass.datasets import get_dataset
    from worldclass.datasets.scene_base import SceneCollection

    if not isinstance(get_dataset(cfg.data.dataset), SceneCollection) or not cfg.data.vector:
        raise ConfigError(
            "experiment misaligned needs a segmentation config on data.dataset 'scenes' with data.vector "
            "(the true polygon labels), e.g. configs/misaligned-scenes.yaml"
        )
    out, root = Path(cfg.trainer.out), Path(cfg.data.root)
    true = Path(cfg.data.vector) if Path(cfg.data.vector).is_absolute() else root / cfg.data.vector
    images = _images(cfg)
    if not 1 <= clean_scenes < len(images):
        raise ConfigError(f"--clean-scenes {clean_scenes}: give 1..{len(images) - 1} of {len(images)} scenes")
    labels = out / "labels"
    misaligned = labels / "misaligned.gpkg"
    stats_file = labels / "misaligned.json"
    if stats_file.is_file():
        stats = json.loads(stats_file.read_text())
    else:
        log(f"misaligned map of {len(images)} scenes -> {misaligned}")
        stats = misalign_layer(
            images, true, misaligned, list(cfg.data.classes or []), spec, column=cfg.data.class_column
        )
        write_json_atomic(stats_file, stats)
    auto = None
    if align_checkpoint is not None:
        auto = labels / "auto-aligned.gpkg"
        if not auto.is_file():
            log(f"align the misaligned map with {align_checkpoint} -> {auto}")
            auto_align(align_checkpoint, images, misaligned, auto, spec, cfg)
    clean_root = out / "clean-subset"
    for img in images[:clean_scenes]:
        link = clean_root / "images" / img.name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(img.resolve())
    setting = Setting(
        out, true, misaligned, auto, clean_root, test_root, finetune_epochs, refine_epochs, refine_steps
    )
    return setting, stats


def auto_align(
    checkpoint: Path, images: list[Path], misaligned: Path, out: Path, spec: LayerSpec, cfg: ExperimentConfig
) -> None:
    """The misaligned map with its moved classes aligned per scene by ``checkpoint`` (other classes as
    drawn); written to ``out``."""
    import shapely
    from rasterio.transform import array_bounds

    from worldclass.data.rasters import open_raster
    from worldclass.data.scenes import class_values
    from worldclass.data.vector import read_polygons, write_polygons
    from worldclass.mapping.align import align_vectors

    column, names = cfg.data.class_column, list(cfg.data.classes or [])
    geoms, cols, crs = read_polygons(misaligned)
    values = class_values(np.asarray(cols[column]), names, misaligned, column)
    moving = np.isin(values, [names.index(c) for c in spec.classes])
    parts, part_values = [geoms[~moving]], [values[~moving]]
    tmp = out.parent / "align-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for img in images:
        with open_raster(img) as src:
            box = shapely.box(*array_bounds(src.height, src.width, src.transform))
        sel = moving & shapely.intersects(geoms, box)
        if not sel.any():
            continue
        layer, moved = tmp / f"{img.stem}.gpkg", tmp / f"{img.stem}-aligned.gpkg"
        write_polygons(layer, geoms[sel], {column: values[sel].astype(np.int32)}, crs=crs)
        align_vectors(checkpoint, img, layer, moved, map_class=spec.classes[0], device="cpu")
        g, c, _ = read_polygons(moved)
        parts.append(g)
        part_values.append(np.asarray(c[column]))
    write_polygons(
        out, np.concatenate(parts), {column: np.concatenate(part_values).astype(np.int32)}, crs=crs
    )


def variant_config(cfg: ExperimentConfig, v: Variant, seed: int, s: Setting) -> ExperimentConfig:
    """The run config of variant ``v`` for ``seed`` (output ``<out>/<variant>/seed<seed>``)."""
    c = copy.deepcopy(cfg)
    c.trainer.seed = seed
    c.trainer.out = str(s.out / slug(v.name) / f"seed{seed}")
    vector = {"misaligned": s.misaligned, "auto": s.auto, "true": s.true, "clean": s.true}[v.labels]
    c.data.vector = str(Path(vector).resolve()) if vector else None
    if v.labels == "clean":
        c.data.root = str(s.clean_root)
    if v.start is not None:
        c.model.init_from = str(s.out / slug(v.start) / f"seed{seed}" / "checkpoints" / "best.ckpt")
    if v.refine:
        c.model.refine_steps, c.model.freeze_base = s.refine_steps, True
        c.optim.max_epochs = s.refine_epochs
    elif v.start is not None:  # fine-tune: shorter, gentler
        c.optim.max_epochs, c.optim.lr = s.finetune_epochs, cfg.optim.lr * 0.3
    return c


def slug(name: str) -> str:
    return name.replace(" → ", "-to-").replace(" + ", "-").replace(" ", "-")


def score(checkpoint: Path, cfg: ExperimentConfig, s: Setting) -> dict[str, Any]:
    """Metrics of ``checkpoint`` against the true labels: the test scenes (whole) or the validation rows
    of the training scenes."""
    from worldclass.datasets import get_dataset
    from worldclass.mapping.predictor import predictor_from_model
    from worldclass.models.checkpoint import load_model
    from worldclass.tasks.segmentation.evaluate import evaluate_scenes

    data = copy.deepcopy(cfg.data)
    data.vector = str(s.true.resolve())
    if s.test_root is not None:
        data.root, data.vector = str(s.test_root), str(s.test_root / Path(cfg.data.vector or "").name)
    ds = get_dataset(cfg.data.dataset)
    scenes = ds.scenes(data, "val")  # type: ignore[attr-defined]
    if s.test_root is not None:
        scenes = [replace(sc, rows=(0.0, 1.0)) for sc in scenes]
    model, meta = load_model(checkpoint)
    pred = predictor_from_model(model, meta, device="cpu")
    return evaluate_scenes(pred, scenes, tile=cfg.data.patch_size, overlap=0)  # as validation saw it


def run_misaligned(
    cfg: ExperimentConfig,
    *,
    spec: LayerSpec | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    clean_scenes: int = 1,
    align_checkpoint: Path | None = None,
    test_root: Path | None = None,
    refine_steps: int = 5,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every variant × seed (finished runs are read back); returns ``{"variants", "map", "table"}``."""
    spec = spec or LayerSpec()
    epochs = cfg.optim.max_epochs
    s, stats = prepare(
        cfg,
        spec,
        clean_scenes=clean_scenes,
        align_checkpoint=align_checkpoint,
        test_root=test_root,
        finetune_epochs=max(1, epochs // 2),
        refine_epochs=max(1, epochs // 2),
        refine_steps=refine_steps,
        log=log,
    )
    classes = list(cfg.data.classes or [])
    results: dict[str, Any] = {}
    for seed in seeds:
        for v in variant_list(align_checkpoint is not None):
            c = variant_config(cfg, v, seed, s)
            done = Path(c.trainer.out) / "eval" / "metrics.json"
            if done.is_file():
                m = json.loads(done.read_text())
                log(f"[{v.name} seed {seed}] done before: {done}")
            else:
                log(f"[{v.name} seed {seed}] training -> {c.trainer.out}")
                res = train(c, overwrite=True)
                m = score(res.best_checkpoint, cfg, s)["overall"] | {"epochs": res.epochs}
                write_json_atomic(done, m)
            results.setdefault(v.name, {"runs": {}})["runs"][str(seed)] = m
            log(f"[{v.name} seed {seed}] mIoU={m['miou']:.3f} " + _per_class(m, classes))
    for r in results.values():
        runs = list(r["runs"].values())
        keys = ["miou", "accuracy", *(f"iou_{c}" for c in classes)]
        rows = [{"miou": x["miou"], "accuracy": x["accuracy"]} | _iou(x, classes) for x in runs]
        r["mean"] = {k: float(np.mean([x[k] for x in rows])) for k in keys}
        r["std"] = {k: float(np.std([x[k] for x in rows], ddof=1)) if len(rows) > 1 else 0.0 for k in keys}
    table = misaligned_table(results, classes, len(seeds))
    agreement = map_agreement(cfg, s)
    out = Path(cfg.trainer.out)
    write_text_atomic(out / "misaligned.md", table)
    write_json_atomic(out / "subsets.json", _subsets(cfg, s, clean_scenes))
    write_json_atomic(
        out / "misaligned.json",
        {"seeds": list(seeds), "variants": results, "map": stats, "map_agreement": agreement},
    )
    return {"variants": results, "map": stats, "map_agreement": agreement, "table": table}


def _iou(m: dict[str, Any], classes: list[str]) -> dict[str, float]:
    return {f"iou_{c}": float(m["iou_per_class"][c]) for c in classes}


def _per_class(m: dict[str, Any], classes: list[str]) -> str:
    return " ".join(f"{c}={m['iou_per_class'][c]:.3f}" for c in classes)


def misaligned_table(results: dict[str, Any], classes: list[str], n_seeds: int) -> str:
    """Markdown: one row per variant, per-class IoU, mIoU and pixel accuracy in %, mean ± std."""
    keys = [*(f"iou_{c}" for c in classes), "miou", "accuracy"]
    head = "| variant | " + " | ".join([*classes, "mIoU", "accuracy"]) + " |"
    rows = [
        f"| {name} | "
        + " | ".join(f"{100 * r['mean'][k]:.1f} ± {100 * r['std'][k]:.1f}" for k in keys)
        + " |"
        for name, r in results.items()
    ]
    note = f"\nIoU against the true labels, %, mean ± std over {n_seeds} seeds\n"
    return "\n".join([head, "|---|" + "---|" * len(keys), *rows]) + "\n" + note


def map_agreement(cfg: ExperimentConfig, s: Setting) -> dict[str, Any]:
    """Per-class IoU of each label map used (misaligned, auto-aligned) with the true labels, over the
    training scenes' pixels: how wrong the supervision is."""
    from rasterio.windows import Window

    from worldclass.data.scenes import read_labels
    from worldclass.datasets import get_dataset
    from worldclass.metrics.segmentation import ConfusionAccumulator, confusion_metrics

    classes = list(cfg.data.classes or [])
    out = {}
    ds = get_dataset(cfg.data.dataset)
    for name, path in (("misaligned", s.misaligned), ("auto-aligned", s.auto)):
        if path is None:
            continue
        acc = ConfusionAccumulator(len(classes))
        truth_cfg, drawn_cfg = copy.deepcopy(cfg.data), copy.deepcopy(cfg.data)
        truth_cfg.vector, drawn_cfg.vector = str(s.true.resolve()), str(path.resolve())
        pairs = zip(ds.scenes(truth_cfg, "train"), ds.scenes(drawn_cfg, "train"), strict=True)  # type: ignore[attr-defined]
        for t, d in pairs:
            h, w = t.shape()
            whole = Window(0, 0, w, h)
            truth, drawn = read_labels(t, whole, classes), read_labels(d, whole, classes)
            if truth is not None and drawn is not None:
                acc.update(truth, drawn)
        m = confusion_metrics(acc.overall(), classes)
        out[name] = {"miou": m["miou"], "iou_per_class": m["iou_per_class"]}
    return out


def _subsets(cfg: ExperimentConfig, s: Setting, clean_scenes: int) -> dict[str, Any]:
    images = [p.name for p in _images(cfg)]
    return {
        "train": {"scenes": images, "rows": [0.0, 1 - cfg.data.val_fraction]},
        "validation": {"scenes": images, "rows": [1 - cfg.data.val_fraction, 1.0]},
        "clean_finetune": {"scenes": images[:clean_scenes], "labels": str(s.true)},
        "test": (
            {
                "root": str(s.test_root),
                "scenes": sorted(p.name for p in (s.test_root / "images").glob("*.tif")),
            }
            if s.test_root
            else {"scenes": images, "rows": [1 - cfg.data.val_fraction, 1.0], "labels": str(s.true)}
        ),
    }
