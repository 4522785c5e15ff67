"""``worldclass stats`` for SEN12MS / DFC2020 (archive root or triplet store): per-band mean/std of the
training split by band name, and per-split class pixel counts under a label scheme.

The band statistics are exact (every pixel of every training patch, float64 sums) and come out in the
form ``data.statistics`` reads, so a run can be normalised with them instead of the sample of training
patches it would otherwise read at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from worldclass.errors import ConfigError, CorruptFileError, MissingFileError

Progress = Callable[[int, int], None]


def landcover_kind(source: Path) -> str | None:
    """``sen12ms`` / ``dfc2020`` for an archive root or a triplet store of one, else None."""
    from worldclass.data.sen12ms import archive_kind
    from worldclass.data.triplet_store import is_triplet_store, store_info

    if is_triplet_store(source):
        return str(store_info(source)["dataset"])
    return archive_kind(source)


def landcover_statistics(
    source: Path | str,
    *,
    splits: Sequence[str] | None = None,
    label_scheme: str = "dfc",
    val_fraction: float = 0.2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """{"source", "dataset", "label_scheme", "classes", "band_statistics": {"split", "scale", "patches",
    "bands": {name: {"mean", "std"}}}, "splits": {split: {"patches", "scenes", "pixels" {class: n},
    "fraction" {class: share of labelled pixels}, "ignored", "absent", "imbalance_ratio"}}}. Band
    statistics are computed when the training split is among ``splits`` (all 15 bands, raw values)."""
    from worldclass.data.scenes import read_labels, read_window
    from worldclass.data.sen12ms import (
        BAND_SETS,
        classes,
        dfc2020_split,
        dfc_lut,
        sen12ms_split,
        stack_scenes,
    )

    root = Path(source)
    dataset = landcover_kind(root)
    if dataset is None:
        raise MissingFileError(f"{root}: not a SEN12MS/DFC2020 root or triplet store")
    names = classes(label_scheme)
    wanted = list(splits) if splits else ["train", "val", "test"]
    bands = list(BAND_SETS["s2+s1"])
    lut = dfc_lut(label_scheme, "igbp" if dataset == "sen12ms" else "dfc")
    pick = sen12ms_split if dataset == "sen12ms" else dfc2020_split
    plan = [
        (split, stack_scenes(root, pick(root, split, val_fraction), bands, lut, dataset)) for split in wanted
    ]
    total, done = sum(len(s) for _, s in plan), 0
    out: dict[str, Any] = {
        "source": str(root),
        "dataset": dataset,
        "label_scheme": label_scheme,
        "classes": names,
        "splits": {},
    }
    for split, scenes in plan:
        counts = np.zeros(len(names) + 1, np.int64)  # last: ignored
        sums = np.zeros(len(bands))
        sq = np.zeros(len(bands))
        n = 0
        for scene in scenes:
            h, w = scene.shape()
            window = Window(0, 0, w, h)
            if split == "train":  # pixels and labels in one read
                pixels, mask = read_window(scene, window, names)
                a = pixels.reshape(len(bands), -1).astype(np.float64)
                sums += a.sum(1)
                sq += (a**2).sum(1)
                n += a.shape[1]
            else:
                mask = read_labels(scene, window, names)
            assert mask is not None
            counts += np.bincount(np.minimum(mask.ravel(), len(names)), minlength=len(names) + 1)
            done += 1
            if progress is not None:
                progress(done, total)
        labelled = counts[:-1]
        present = labelled[labelled > 0]
        out["splits"][split] = {
            "patches": len(scenes),
            "scenes": len({s.group for s in scenes}),
            "pixels": dict(zip(names, labelled.tolist(), strict=True)),
            "fraction": {c: float(v / max(1, labelled.sum())) for c, v in zip(names, labelled, strict=True)},
            "ignored": int(counts[-1]),
            "absent": [c for c, v in zip(names, labelled, strict=True) if v == 0],
            "imbalance_ratio": float(present.max() / present.min()) if present.size else None,
        }
        if split == "train" and n:
            mean = sums / n
            std = np.sqrt(np.maximum(sq / n - mean**2, 1e-12))
            out["band_statistics"] = {
                "split": "train",
                "scale": 1.0,
                "patches": len(scenes),
                "bands": {
                    b: {"mean": float(m), "std": float(s)} for b, m, s in zip(bands, mean, std, strict=True)
                },
            }
    return out


def statistics_from_file(
    path: str | Path, bands: Sequence[str], scale: float
) -> tuple[list[float], list[float]]:
    """Mean and std of ``bands`` (in that order) from a ``worldclass stats --json`` file, whose values are
    for ``raw * scale``."""
    path = Path(path)
    try:
        stats = json.loads(path.read_text())["band_statistics"]
        table = stats["bands"]
        file_scale = float(stats["scale"])
    except FileNotFoundError:
        raise MissingFileError(f"{path}: statistics file not found (data.statistics)") from None
    except (ValueError, KeyError, TypeError):
        raise CorruptFileError(
            f"{path}: no band statistics in it; write it with `worldclass stats ROOT --split train --json`"
        ) from None
    if abs(file_scale - scale) > 1e-12 * max(1.0, abs(scale)):
        raise ConfigError(
            f"{path}: statistics of raw x {file_scale}, but these scenes are read as raw x {scale}"
        )
    missing = [b for b in bands if b not in table]
    if missing:
        raise ConfigError(f"{path}: no statistics for band(s) {missing} (it has {list(table)})")
    return [float(table[b]["mean"]) for b in bands], [float(table[b]["std"]) for b in bands]
