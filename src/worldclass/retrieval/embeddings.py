"""Embedding sets: the vectors of an archive under one model, kept apart from any index.

Layout of an embedding folder ``EMB/`` (written by ``worldclass embed``)::

    info.json      {"format": "worldclass-embeddings/1", "dim", "rows", "complete", "fingerprint",
                    "model": {"checkpoint", "sha256", "task", "layer"}, "data": {"root", "bands"},
                    "classes": [...], "sensors": [...]}
    vectors.npy    float32 (rows, dim), L2-normalised (cosine = inner product)
    rows.parquet   patch_id (str), sensor ("s2", "s1" or "s2+s1"), split (str), labels (list<str>)

Row ``i`` of ``rows.parquet`` is vector ``i``; the key of a row is (patch_id, sensor). The fingerprint
hashes the model hash, the keys and the vector bytes, so an index can tell when the set it was built from
has changed. While ``embed`` runs, finished chunks live in ``EMB/parts/`` and ``info.json`` says
``"complete": false``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from worldclass.errors import ConfigError, DataError, IncompleteStoreError

FORMAT = "worldclass-embeddings/1"
ROW_SCHEMA = pa.schema(
    [
        ("patch_id", pa.string()),
        ("sensor", pa.string()),
        ("split", pa.string()),
        ("labels", pa.list_(pa.string())),
    ]
)


def l2_normalize(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    a = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = np.divide(a, n, out=np.zeros_like(a), where=n > 0)
    return out


def check_finite(vectors: npt.NDArray[Any], what: str, start: int = 0) -> None:
    """Refuse NaN/inf embeddings (a diverged model, a NaN pixel): they would be indexed and give a
    plausible-looking but meaningless ranking. ``start``: row number of ``vectors[0]`` for the message."""
    bad = ~np.isfinite(vectors).all(axis=-1)
    if bad.any():
        rows = (np.flatnonzero(bad)[:3] + start).tolist()
        raise DataError(
            f"{what}: {int(bad.sum())} embedding(s) are NaN/inf (rows {rows}...); the model or the input "
            "patches produce non-finite values: check the checkpoint and the data (`worldclass verify`)"
        )


def fingerprint(model_sha: str, rows: pa.Table, vectors: npt.NDArray[Any], chunk: int = 65536) -> str:
    """blake2b over the model hash, the row keys and the vector bytes (streamed in chunks)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(model_sha.encode())
    for col in ("patch_id", "sensor"):
        h.update("\x1f".join(rows.column(col).to_pylist()).encode())
    h.update(str(vectors.shape).encode())
    for i in range(0, len(vectors), chunk):
        h.update(np.ascontiguousarray(vectors[i : i + chunk]).tobytes())
    return h.hexdigest()


def write_embeddings(path: str | Path, vectors: npt.ArrayLike, rows: pa.Table, info: dict[str, Any]) -> Path:
    """Write a complete embedding set atomically (folder built beside ``path``, then renamed).

    ``vectors`` (N, D) are L2-normalised here; ``rows`` must follow :data:`ROW_SCHEMA`."""
    out = Path(path)
    check_finite(np.asarray(vectors), str(out))
    v = l2_normalize(vectors)
    rows = rows.select(ROW_SCHEMA.names).cast(ROW_SCHEMA)
    if len(v) != rows.num_rows:
        raise ValueError(f"{len(v)} vectors but {rows.num_rows} rows")
    tmp = out.with_name(out.name + ".writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "vectors.npy", v)
    pq.write_table(rows, tmp / "rows.parquet")
    meta = dict(info)
    model = dict(meta.get("model", {}))
    meta.update(
        format=FORMAT,
        dim=int(v.shape[1]),
        rows=len(v),
        complete=True,
        model=model,
        sensors=sorted(set(rows.column("sensor").to_pylist())),
        fingerprint=fingerprint(str(model.get("sha256", "")), rows, v),
    )
    (tmp / "info.json").write_text(json.dumps(meta, indent=1))
    replace_dir(tmp, out)
    return out


def replace_dir(new: Path, dst: Path) -> None:
    """Put folder ``new`` at ``dst``; an existing ``dst`` is only removed once ``new`` is in place."""
    old = dst.with_name(dst.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        os.replace(dst, old)
    os.replace(new, dst)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class Embeddings:
    """An opened embedding set: ``vectors`` is memory-mapped, ``rows`` a pyarrow table."""

    path: Path
    info: dict[str, Any]
    rows: pa.Table
    vectors: npt.NDArray[np.float32]
    _keys: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> Embeddings:
        p = Path(path)
        info_path = p / "info.json"
        if not info_path.is_file():
            raise DataError(f"{p}: not an embedding set (no info.json); create it with `worldclass embed`")
        try:
            info = json.loads(info_path.read_text())
        except ValueError as exc:
            raise DataError(f"{info_path}: corrupt JSON ({exc}); re-run `worldclass embed`") from None
        if info.get("format") != FORMAT:
            raise DataError(f"{p}: unknown embedding format {info.get('format')!r} (expected {FORMAT})")
        if not info.get("complete"):
            raise IncompleteStoreError(
                f"{p}: embedding run was interrupted; re-run the same `worldclass embed` command to resume"
            )
        try:
            vectors = np.load(p / "vectors.npy", mmap_mode="r")
            rows = pq.read_table(p / "rows.parquet")
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{p}: unreadable vectors.npy/rows.parquet ({exc}); re-run `worldclass embed`"
            ) from None
        if vectors.ndim != 2 or len(vectors) != rows.num_rows or vectors.shape[1] != info["dim"]:
            raise DataError(
                f"{p}: vectors.npy {vectors.shape} does not match rows.parquet ({rows.num_rows} rows, "
                f"dim {info['dim']}); re-run `worldclass embed`"
            )
        return cls(p, info, rows, vectors)

    @property
    def dim(self) -> int:
        return int(self.info["dim"])

    @property
    def fingerprint(self) -> str:
        return str(self.info["fingerprint"])

    @property
    def classes(self) -> list[str]:
        return list(self.info.get("classes", []))

    def __len__(self) -> int:
        return int(self.rows.num_rows)

    def select(self, *, sensor: str | None = None, split: str | None = None) -> npt.NDArray[np.int64]:
        """Row indices with the given sensor and/or split (``val`` and ``validation`` name the same split:
        BigEarthNet rows say ``validation``, scene datasets' rows ``val``)."""
        mask = pa.array(np.ones(len(self), bool))
        if sensor is not None:
            mask = pc.and_(mask, pc.equal(self.rows.column("sensor"), sensor))
        if split is not None:
            names = ["validation", "val"] if split in ("val", "validation") else [split]
            mask = pc.and_(mask, pc.is_in(self.rows.column("split"), pa.array(names)))
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).astype(np.int64)

    def row_of(self, patch_id: str, sensor: str | None = None) -> int:
        """Row of (patch_id, sensor); ``sensor`` may be left out when the patch has one row."""
        if not self._keys:
            ids, sensors = self.rows.column("patch_id").to_pylist(), self.rows.column("sensor").to_pylist()
            self._keys = {(a, b): i for i, (a, b) in enumerate(zip(ids, sensors, strict=True))}
        if (patch_id, str(sensor)) in self._keys:
            return self._keys[(patch_id, str(sensor))]
        hits = [s for (pid, s) in self._keys if pid == patch_id]
        if sensor is not None and hits:
            raise ConfigError(
                f"{self.path}: no {sensor} embedding of patch {patch_id!r} (has {sorted(hits)}); check --sensor"
            )
        if len(hits) == 1:
            return self._keys[(patch_id, hits[0])]
        if not hits:
            raise ConfigError(f"{self.path}: patch {patch_id!r} is not in the embedding set; check --id")
        raise ConfigError(f"{self.path}: patch {patch_id!r} has embeddings for {sorted(hits)}; pass --sensor")

    def multi_hot(self, rows: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.bool_]:
        """(len(rows), len(classes)) label matrix in ``classes`` order."""
        table = self.rows if rows is None else self.rows.take(pa.array(rows))
        return labels_to_multi_hot(table.column("labels").to_pylist(), self.classes)


def labels_to_multi_hot(labels: list[list[str] | None], classes: list[str]) -> npt.NDArray[np.bool_]:
    """Label-name lists -> (N, C) bool in ``classes`` order (names outside ``classes`` are ignored)."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), bool)
    for i, names in enumerate(labels):
        for n in names or []:
            if n in index:
                out[i, index[n]] = True
    return out
