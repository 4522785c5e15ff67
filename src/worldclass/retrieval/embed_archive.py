"""``worldclass embed``: checkpoint + archive -> embedding set, batched, with progress, resumable.

Work is cut into chunks of ``chunk`` patches per sensor (the work manifest ``OUT/manifest.json``, one
unit per chunk); each finished chunk is written to ``OUT/parts/<sensor>-<n>.npz`` (atomically), so a killed
run resumes from the finished chunks, whichever executor ran them (:class:`EmbedJob`). The
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


@dataclass(frozen=True)
class Unit:
    """One row of the work manifest: rows ``lo:hi`` of ``sensor``, written to ``part``."""

    id: str
    sensor: str
    lo: int
    hi: int


class EmbedJob:
    """``embed`` as a work manifest: :meth:`prepare` (plan, checks, ``info.json``, ``manifest.json``),
    :meth:`run_unit` (one chunk -> ``parts/<id>.npz``, in any process: it loads the model once per
    process), :meth:`finalize` (the embedding set, from the parts alone). An executor runs the units in
    any order and place; a part file is written atomically, so a unit is done exactly when its part exists."""

    def __init__(
        self,
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
    ) -> None:
        self.checkpoint, self.data, self.out = Path(checkpoint), Path(data), Path(out)
        self.sensors, self.layer, self.batch_size = list(sensors or []), layer, batch_size
        self.workers, self.chunk, self.window, self.device = workers, chunk, window, device
        self._enc: Encoder | None = None
        self._plans: dict[str, Plan] = {}
        self.info: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:  # sent to executor processes: settings only, no model or data
        return {**self.__dict__, "_enc": None, "_plans": {}}

    def encoder(self) -> Encoder:
        if self._enc is None:
            self._enc = load_encoder(self.checkpoint, layer=self.layer, device=self.device)
        return self._enc

    def plan(self, sensor: str) -> Plan:
        if sensor not in self._plans:
            self._plans[sensor] = _plan(self.encoder(), self.data, sensor, self.window)
        return self._plans[sensor]

    def prepare(self, overwrite: bool = False) -> list[Unit]:
        """Check and record the plan; returns the units still to do (none when the set is complete)."""
        enc = self.encoder()
        wanted = self.sensors or list(enc.sensors)
        for sensor in wanted:
            enc.bands(sensor)  # refuses sensors the model cannot embed
        self.sensors = wanted
        plans = [self.plan(sensor) for sensor in wanted]
        digest = _plan_digest(enc, plans, self.chunk)
        out = self.out
        info_path = out / "info.json"
        if info_path.is_file():
            old = json.loads(info_path.read_text())
            if old.get("plan") == digest and old.get("complete"):
                self.info = old
                return []
            if old.get("plan") != digest:
                if not overwrite:
                    raise ConfigError(
                        f"{out}: holds embeddings of another model, layer or patch list; pass --overwrite to "
                        "replace them or choose another --out"
                    )
                shutil.rmtree(out)
        (out / "parts").mkdir(parents=True, exist_ok=True)
        self.info = {
            "format": FORMAT,
            "complete": False,
            "plan": digest,
            "model": {
                "checkpoint": str(self.checkpoint.resolve()),
                "sha256": enc.sha256,
                "task": enc.task,
                "layer": enc.layer,
            },
            "data": {"root": str(self.data.resolve()), "bands": {s: enc.bands(s) for s in wanted}},
            "classes": list(enc.meta.classes) or list(plans[0].classes),
        }
        _write_json(info_path, self.info)
        units = self.units()
        _write_json(
            out / "manifest.json",
            {
                "plan": digest,
                "units": [{"id": u.id, "sensor": u.sensor, "lo": u.lo, "hi": u.hi} for u in units],
            },
        )
        return [u for u in units if not self.done(u)]

    def units(self) -> list[Unit]:
        """Every chunk of every sensor, in the order of the final rows."""
        out = []
        for sensor in self.sensors:
            n = self.plan(sensor).rows.num_rows
            for c, lo in enumerate(range(0, n, self.chunk)):
                out.append(Unit(f"{sensor}-{c:06d}", sensor, lo, min(lo + self.chunk, n)))
        return out

    def done(self, unit: Unit) -> bool:
        return (self.out / "parts" / f"{unit.id}.npz").is_file()

    def run_unit(self, unit: Unit) -> int:
        """Embed one chunk into its part file (atomic); returns its row count."""
        part = self.out / "parts" / f"{unit.id}.npz"
        if not part.is_file():
            enc, plan = self.encoder(), self.plan(unit.sensor)
            vecs = [
                enc(x, unit.sensor).cpu().numpy()
                for x in _batches(plan, unit.lo, unit.hi, self.batch_size, self.workers)
            ]
            raw = np.concatenate(vecs)
            check_finite(raw, f"{unit.sensor} rows {unit.lo}-{unit.hi} of {self.data}", unit.lo)
            tmp = part.with_name(part.stem + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, vectors=l2_normalize(raw))
            os.replace(tmp, part)
        return unit.hi - unit.lo

    def finalize(self) -> Path:
        if self.info.get("complete"):
            return self.out
        missing = [u.id for u in self.units() if not self.done(u)]
        if missing:
            raise ConfigError(
                f"{self.out}: {len(missing)} chunks not embedded yet (e.g. {missing[0]}); run embed again"
            )
        return _finalize(self.out, [self.plan(s) for s in self.sensors], self.chunk, self.info)


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
    """Embed every patch of ``data`` (all splits) with ``checkpoint`` into the embedding set ``out``, in
    this process (the local executor; ``worldclass embed --executor ray`` runs the same :class:`EmbedJob`
    units on Ray).

    ``sensors``: which row sensors to embed (default: all the encoder offers, e.g. s2 and s1 for a
    cross-sensor SSL model). Segmentation checkpoints embed ``window``-px grid windows of the scenes.
    Returns ``out``. Re-running resumes; a complete set with the same plan is left as it is."""
    job = EmbedJob(
        checkpoint,
        data,
        out,
        sensors=sensors,
        layer=layer,
        batch_size=batch_size,
        workers=workers,
        chunk=chunk,
        window=window,
        device=device,
    )
    todo = job.prepare(overwrite)
    units = job.units()
    total = sum(u.hi - u.lo for u in units)
    done = total - sum(u.hi - u.lo for u in todo)
    for u in todo:
        done += job.run_unit(u)
        if progress:
            progress(done, total)
    return job.finalize()


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
