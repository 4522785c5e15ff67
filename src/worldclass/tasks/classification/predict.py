"""``worldclass predict``: a classification checkpoint + patches -> ``predictions.parquet``.

Inputs (any mix, each path one of):

* a multi-band GeoTIFF (``.tif``): one patch; band descriptions name the bands (``B02``, ``VV``, ...),
  or, without them, the file holds exactly the model's bands in the model's order;
* a folder of the official single-band files of one patch (``..._B02.tif``, ``..._VV.tif``);
* a folder of such patch folders, or of multi-band GeoTIFFs: every one is a patch;
* an archive or store the checkpoint's dataset reads (official BigEarthNet v1/v2 root, worldclass store,
  rico-hdl LMDB): every patch of ``split`` (default all), S1 paired as in training.

Output rows (one per patch, input order): ``patch_id`` (in full: the archive's id, the file stem or the
folder name), ``source`` (the file, folder or archive read), ``labels`` (classes whose score reaches its
threshold, highest score first), ``top_label``, ``top_score``, then one float32 score column per class
(evaluated classes, in the checkpoint's class order). The file's metadata (``worldclass``) holds the
checkpoint, classes and thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from worldclass.errors import ConfigError, MissingFileError
from worldclass.models.checkpoint import ModelMeta, load_model
from worldclass.models.classifier import SceneClassifier
from worldclass.models.device import pick_device

Progress = Callable[[int, int], None]


@dataclass
class PatchFiles:
    """One patch read from files: its id and the files (or folder) holding its bands."""

    patch_id: str
    paths: list[Path]


def _has_band_files(folder: Path) -> bool:
    from worldclass.data.patch_files import BAND_FILE

    return any(BAND_FILE.search(f.name) for f in folder.glob("*.tif"))


def collect(inputs: Sequence[str | Path]) -> list[PatchFiles | Path]:
    """Split ``inputs`` into patches read from files and archive/store roots (see the module docstring)."""
    items: list[PatchFiles | Path] = []
    for p in map(Path, inputs):
        if not p.exists():
            raise MissingFileError(f"{p}: not found; give GeoTIFFs, patch folders or an archive/store")
        if p.is_file():
            items.append(PatchFiles(p.stem, [p]))
        elif _has_band_files(p):
            items.append(PatchFiles(p.name, [p]))
        elif any(p.glob("*.tif")):
            items += [PatchFiles(f.stem, [f]) for f in sorted(p.glob("*.tif"))]
        elif (subs := sorted(d for d in p.iterdir() if d.is_dir() and _has_band_files(d))) and not any(
            p.glob("*.parquet")
        ):
            items += [PatchFiles(d.name, [d]) for d in subs]
        else:
            items.append(p)
    return items


def resolve_thresholds(
    spec: str | float | None, meta: ModelMeta, model: SceneClassifier, data: str | Path | None, batch: int
) -> tuple[npt.NDArray[np.float32], str]:
    """Per-class thresholds and how they were chosen. ``spec``: a number; ``tuned`` (maximise validation
    F1 per class on the training data's validation split, as ``evaluate --tune-thresholds``); a JSON file
    ``{class: threshold}`` (``evaluate`` writes ``thresholds.json``); None: ``tuned`` when the run set
    ``trainer.threshold_tuning``, else 0.5."""
    n = len(meta.classes)
    if spec is None:
        spec = "tuned" if meta.config.get("trainer", {}).get("threshold_tuning") else 0.5
    if isinstance(spec, str) and spec != "tuned":
        try:
            spec = float(spec)
        except ValueError:
            return _threshold_file(Path(str(spec)), meta), f"from {spec}"
    if isinstance(spec, float | int):
        if not 0 < spec < 1:
            raise ConfigError(f"--thresholds {spec}: give a probability between 0 and 1, 'tuned' or a file")
        return np.full(n, spec, np.float32), str(spec)
    from worldclass.metrics import tune_thresholds
    from worldclass.tasks.classification.evaluate import dataset_for, predict_scores

    root = data or meta.config["data"]["root"]
    y, s, _ = predict_scores(model, dataset_for(meta, root, "validation"), batch)
    return np.asarray(tune_thresholds(y, s), np.float32), f"tuned on the validation split of {root}"


def _threshold_file(path: Path, meta: ModelMeta) -> npt.NDArray[np.float32]:
    try:
        table = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingFileError(
            f"{path}: no such thresholds file; give a number, 'tuned', or the thresholds.json of "
            "`worldclass evaluate --tune-thresholds`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a JSON thresholds file ({exc})") from None
    missing = [c for c in meta.classes if not isinstance(table, dict) or c not in table]
    if missing:
        raise ConfigError(f"{path}: no threshold for classes {missing[:3]}; it belongs to another model")
    return np.asarray([float(table[c]) for c in meta.classes], np.float32)


def _file_scores(
    model: SceneClassifier,
    meta: ModelMeta,
    patches: list[PatchFiles],
    batch: int,
    tick: Callable[[int], None],
) -> npt.NDArray[np.float32]:
    from worldclass.data.patch_files import read_patch
    from worldclass.data.transforms import PatchTransform

    pre = meta.preprocessing
    transforms: dict[tuple[int, ...], PatchTransform] = {}

    def transform(sizes: tuple[int, ...]) -> PatchTransform:
        if sizes not in transforms:  # one per band geometry: official files 120/60/20 px, a GeoTIFF one size
            transforms[sizes] = PatchTransform(
                meta.bands,
                size=int(pre.get("size", 120)),
                resampling=pre.get("resampling", "bilinear"),
                normalize=pre.get("normalize", "v2"),
                native_sizes=sizes,
                mean=pre.get("mean"),
                std=pre.get("std"),
            )
        return transforms[sizes]

    device = next(model.parameters()).device
    out = []
    for lo in range(0, len(patches), batch):
        chunk = patches[lo : lo + batch]
        arrays = [read_patch(p.paths, meta.bands, native=False) for p in chunk]
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, (p, a) in enumerate(zip(chunk, arrays, strict=True)):
            if any(v.shape[0] != v.shape[1] for v in a.values()):
                raise ConfigError(
                    f"{p.paths[0]}: bands of {next(iter(a.values())).shape} px; give square patches"
                )
            groups.setdefault(tuple(a[b].shape[0] for b in meta.bands), []).append(k)
        x = torch.empty(0)
        for sizes, members in groups.items():
            part = transform(sizes)([arrays[k] for k in members])
            if x.numel() == 0:
                x = torch.empty((len(chunk), *part.shape[1:]))
            x[members] = part
        out.append(model.scores(model(x.to(device))).float().cpu().numpy())
        tick(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, len(meta.classes)), np.float32)


def _archive_scores(
    model: SceneClassifier,
    meta: ModelMeta,
    root: Path,
    split: str,
    batch: int,
    workers: int,
    tick: Callable[[int], None],
) -> tuple[npt.NDArray[np.float32], list[str]]:
    from torch.utils.data import DataLoader

    from worldclass.data.collate import collate
    from worldclass.tasks.classification.evaluate import dataset_for

    ds = dataset_for(meta, root, split)
    device = next(model.parameters()).device
    scores, ids = [], []
    for b in DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=collate):
        scores.append(model.scores(model(b["image"].to(device))).float().cpu().numpy())
        ids += [str(i) for i in b["patch_id"]]
        tick(len(b["patch_id"]))
    return np.concatenate(scores), ids


@torch.inference_mode()
def predict(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    thresholds: str | float | None = None,
    split: str = "all",
    data: str | Path | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every patch of ``inputs`` and write ``out`` (parquet; see the module docstring). Returns
    ``{"out", "patches", "classes", "thresholds", "label_counts"}``. ``data``: the training data for
    ``thresholds="tuned"`` (default: the run's ``data.root``)."""
    model, meta = load_model(checkpoint, device=pick_device(device))
    if not isinstance(model, SceneClassifier):
        raise ConfigError(
            f"{checkpoint}: a {meta.task} checkpoint; `predict` scores classification models "
            "(segmentation: `worldclass map`; self-supervised: `worldclass embed`)"
        )
    items = collect(inputs)
    thr, how = resolve_thresholds(thresholds, meta, model, data, batch_size)
    files = [i for i in items if isinstance(i, PatchFiles)]
    done = [0]
    total = len(files)

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], max(total, done[0]))

    parts: list[tuple[npt.NDArray[np.float32], list[str], list[str]]] = []
    for i, item in enumerate(items):
        if isinstance(item, Path):
            s, ids = _archive_scores(model, meta, item, split, batch_size, num_workers, tick)
            parts.append((s, ids, [str(item)] * len(ids)))
        elif i == 0 or not isinstance(items[i - 1], PatchFiles):  # a run of file patches: one batch loop
            run: list[PatchFiles] = []
            for nxt in items[i:]:
                if not isinstance(nxt, PatchFiles):
                    break
                run.append(nxt)
            s = _file_scores(model, meta, run, batch_size, tick)
            parts.append((s, [p.patch_id for p in run], [str(p.paths[0]) for p in run]))
    scores = np.concatenate([p[0] for p in parts]).astype(np.float32)
    ids = [x for p in parts for x in p[1]]
    sources = [x for p in parts for x in p[2]]
    _write(Path(out), scores, ids, sources, thr, meta, str(checkpoint), how)
    above = scores >= thr
    return {
        "out": str(out),
        "patches": len(ids),
        "classes": len(meta.classes),
        "thresholds": how,
        "label_counts": {c: int(n) for c, n in zip(meta.classes, above.sum(0), strict=True) if n},
    }


def _write(
    path: Path,
    scores: npt.NDArray[np.float32],
    ids: list[str],
    sources: list[str],
    thr: npt.NDArray[np.float32],
    meta: ModelMeta,
    checkpoint: str,
    how: str,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from worldclass.io import atomic_path

    classes = meta.classes
    order = np.argsort(-scores, axis=1, kind="stable")
    labels = [[classes[j] for j in row if scores[i, j] >= thr[j]] for i, row in enumerate(order)]
    top = order[:, 0] if len(ids) else np.zeros(0, np.int64)
    columns: dict[str, Any] = {
        "patch_id": pa.array(ids, pa.string()),
        "source": pa.array(sources, pa.string()),
        "labels": pa.array(labels, pa.list_(pa.string())),
        "top_label": pa.array([classes[j] for j in top], pa.string()),
        "top_score": pa.array(scores[np.arange(len(ids)), top], pa.float32()),
    }
    columns |= {c: pa.array(scores[:, j], pa.float32()) for j, c in enumerate(classes)}
    info = {
        "checkpoint": checkpoint,
        "classes": classes,
        "thresholds": {c: float(t) for c, t in zip(classes, thr, strict=True)},
        "threshold_source": how,
        "bands": meta.bands,
    }
    table = pa.table(columns).replace_schema_metadata({"worldclass": json.dumps(info)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
