"""``worldclass embed``: checkpoint + archive -> embedding set, batched, with progress, resumable.

Work is cut into chunks of ``chunk`` patches per sensor; each finished chunk is written to
``OUT/parts/<sensor>-<n>.npz`` (atomically), so a killed run resumes from the last finished chunk. The
plan (model hash, data, sensors, patch list) is kept in ``OUT/info.json``; a resumed run with another
plan is refused instead of mixing models. The final ``vectors.npy`` is filled chunk by chunk through a
memory map, so memory stays bounded by one chunk whatever the archive size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset

from worldclass.errors import ConfigError
from worldclass.retrieval.embeddings import FORMAT, ROW_SCHEMA, check_finite, fingerprint, l2_normalize
from worldclass.retrieval.encoders import Encoder, load_encoder

Progress = Callable[[int, int], None]


@dataclass
class Plan:
    """What one sensor's rows are: dataset, keys, splits and label names."""

    sensor: str
    dataset: Dataset[Any]
    rows: pa.Table
    classes: list[str]


def _plan(enc: Encoder, data: Path, sensor: str, window: int | None) -> Plan:
    """Rows of one sensor: every item of the checkpoint's dataset at ``data``, read as it was trained."""
    from worldclass.datasets import data_section, get_dataset

    cfg = data_section(enc.meta.config, data)
    plan = get_dataset(enc.meta.dataset or cfg.dataset).embedding_plan(
        cfg, enc.meta.preprocessing, enc.bands(sensor), window
    )
    n = len(plan.patch_ids)
    rows = pa.table(
        {"patch_id": plan.patch_ids, "sensor": [sensor] * n, "split": plan.splits, "labels": plan.labels},
        schema=ROW_SCHEMA,
    )
    return Plan(sensor, plan.dataset, rows, plan.classes)


def _plan_digest(enc: Encoder, plans: list[Plan], chunk: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{enc.sha256}|{enc.layer}|{chunk}".encode())
    for p in plans:
        h.update(p.sensor.encode())
        h.update("\x1f".join(p.rows.column("patch_id").to_pylist()).encode())
    return h.hexdigest()


def _batches(plan: Plan, lo: int, hi: int, batch_size: int, workers: int) -> Iterator[torch.Tensor]:
    from torch.utils.data import Subset

    from worldclass.data.collate import collate

    sub = Subset(plan.dataset, range(lo, hi))
    loader = DataLoader(
        sub,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
    )
    for batch in loader:
        yield batch["image"]


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def embed(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    sensors: Sequence[str] | None = None,
    layer: str = "auto",
    batch_size: int = 64,
    workers: int = 0,
    chunk: int = 2048,
    window: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Embed every patch of ``data`` (all splits) with ``checkpoint`` into the embedding set ``out``.

    ``sensors``: which row sensors to embed (default: all the encoder offers, e.g. s2 and s1 for a
    cross-sensor SSL model). Segmentation checkpoints embed ``window``-px grid windows of the scenes.
    Returns ``out``. Re-running resumes; a complete set with the same plan is left as it is."""
    enc = load_encoder(checkpoint, layer=layer, device=device)
    wanted = list(sensors) if sensors else list(enc.sensors)
    for s in wanted:
        enc.bands(s)  # refuses sensors the model cannot embed
    data = Path(data)
    plans = [_plan(enc, data, s, window) for s in wanted]
    digest = _plan_digest(enc, plans, chunk)
    out = Path(out)
    info_path = out / "info.json"
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        if old.get("plan") == digest and old.get("complete"):
            return out
        if old.get("plan") != digest:
            if not overwrite:
                raise ConfigError(
                    f"{out}: holds embeddings of another model, layer or patch list; pass --overwrite to "
                    "replace them or choose another --out"
                )
            shutil.rmtree(out)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "format": FORMAT,
        "complete": False,
        "plan": digest,
        "model": {
            "checkpoint": str(Path(checkpoint).resolve()),
            "sha256": enc.sha256,
            "task": enc.task,
            "layer": enc.layer,
        },
        "data": {"root": str(data.resolve()), "bands": {s: enc.bands(s) for s in wanted}},
        "classes": list(enc.meta.classes) or list(plans[0].classes),
    }
    _write_json(info_path, info)
    total = sum(p.rows.num_rows for p in plans)
    done = 0
    for plan in plans:
        n = plan.rows.num_rows
        for c, lo in enumerate(range(0, n, chunk)):
            hi = min(lo + chunk, n)
            part = parts / f"{plan.sensor}-{c:06d}.npz"
            if not part.is_file():
                vecs = [
                    enc(x, plan.sensor).cpu().numpy() for x in _batches(plan, lo, hi, batch_size, workers)
                ]
                raw = np.concatenate(vecs)
                check_finite(raw, f"{plan.sensor} rows {lo}-{hi} of {data}", lo)
                tmp = part.with_name(part.stem + ".tmp.npz")
                np.savez(tmp, vectors=l2_normalize(raw))
                os.replace(tmp, part)
            done += hi - lo
            if progress:
                progress(done, total)
    return _finalize(out, plans, chunk, info)


def _finalize(out: Path, plans: list[Plan], chunk: int, info: dict[str, Any]) -> Path:
    rows = pa.concat_tables([p.rows for p in plans])
    dim = int(np.load(out / "parts" / f"{plans[0].sensor}-000000.npz")["vectors"].shape[1])
    tmp = out / "vectors.npy.tmp"
    vectors = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows.num_rows, dim))
    at = 0
    for plan in plans:
        for c in range((plan.rows.num_rows + chunk - 1) // chunk):
            v: npt.NDArray[np.float32] = np.load(out / "parts" / f"{plan.sensor}-{c:06d}.npz")["vectors"]
            vectors[at : at + len(v)] = v
            at += len(v)
    vectors.flush()
    os.replace(tmp, out / "vectors.npy")
    pq.write_table(rows, out / "rows.parquet")
    final = np.load(out / "vectors.npy", mmap_mode="r")
    info.update(
        dim=dim,
        rows=rows.num_rows,
        complete=True,
        sensors=[p.sensor for p in plans],
        fingerprint=fingerprint(info["model"]["sha256"], rows, final),
    )
    _write_json(out / "info.json", info)
    shutil.rmtree(out / "parts", ignore_errors=True)
    return out
