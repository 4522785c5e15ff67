"""``BigEarthNet``: one torch Dataset over every BigEarthNet source (v1, v2, rico-hdl LMDB, worldclass store)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset

from worldclass.data.bigearthnet.sources import MAP_KEY, Source
from worldclass.data.bigearthnet.table import conform, normalize_split
from worldclass.data.device import native_batch, native_groups
from worldclass.data.native import NativeBatch
from worldclass.data.nomenclature import (
    IGNORE_INDEX,
    class_names,
    clc_lut,
    codes_to_names43,
    multi_hot,
    names43_to_19,
)
from worldclass.data.open import open_source
from worldclass.data.sensors import BANDS, resolve_bands
from worldclass.data.splits import keep_subset, read_split_file
from worldclass.data.transforms import Normalization, PatchTransform, Resampling
from worldclass.errors import ConfigError, DataError

Sample = dict[str, Any]


class BigEarthNet(Dataset[Sample]):
    """BigEarthNet v1.0 and reBEN (v2.0) multi-label scene classification, Sentinel-2 and/or Sentinel-1.

    **Data card.** 1.2 km x 1.2 km patches from 10 European countries, Jun 2017 - May 2018. v1: 590,326
    S2 patches + S1 pairs, 43 CLC2018 level-3 labels in JSON files. v2 (reBEN): 549,488 S1/S2 pairs,
    19-class labels in ``metadata.parquet``, pixel-level reference maps of raw CLC codes, geographic splits
    ``train``/``validation``/``test`` (``val`` accepted). Licence CDLA-Permissive-1.0, contains modified
    Copernicus Sentinel data. Cite Sumbul et al., IGARSS 2019 / GRSM 2021 (v1) and Clasen et al.,
    IGARSS 2025 (reBEN).

    **Sources.** ``root`` is an official v1 root (``BigEarthNet-v1.0/``, ``BigEarthNet-S1-v1.0/``, split
    CSVs), an official v2 root (``BigEarthNet-S2/``, ``BigEarthNet-S1/``, ``Reference_Maps/``,
    ``metadata.parquet``), a worldclass store (``worldclass encode``), or a rico-hdl LMDB (+ metadata.parquet).

    **Samples.** ``image`` float32 (C, 120, 120): channels = ``ds.bands`` (S2 bands in ESA order
    B01..B12 with B8A after B08, then VV, VH); 20/60 m bands upsampled (bilinear default); normalised with
    shipped per-band mean/std (``normalize='v2'``, or 'v1'/'none'). ``label`` float32 multi-hot
    (num_classes,) in ``ds.classes`` order (19 classes: original paper order; 43: CLC-code order).
    ``patch_id`` str (S2 name), ``index`` int (position in this split). v2 sources also give ``mask`` int64 (120, 120) of class indices with
    :data:`IGNORE_INDEX` (255) for nodata and dropped CLC codes. For v2, 43-class labels are the CLC codes
    present in the reference map. Patches with seasonal snow or cloud/shadow are excluded unless
    ``include_snow_cloud``; patches without any label in the chosen nomenclature are excluded when known.

    ``splits``: optional parquet/CSV with ``patch_id,split`` overriding the official split (e.g. from
    ``worldclass splits``). ``labels``: a label view (:mod:`worldclass.data.label_view`) replacing the
    labels of the patches it lists. ``subset``: a file of patch ids; the ``train`` split keeps only them
    (label-budget runs). ``native=True``: the GPU data path; samples carry the native band
    arrays (``native/<size>px-<dtype>`` keys, :mod:`worldclass.data.device`) instead of ``image``. Use
    ``__getitems__`` (used by DataLoader automatically) for batched loading.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        sensors: Sequence[str] = ("s2",),
        num_classes: int = 19,
        bands: str | Sequence[str] | None = None,
        *,
        resampling: Resampling = "bilinear",
        normalize: Normalization = "v2",
        include_snow_cloud: bool = False,
        splits: str | Path | None = None,
        metadata: str | Path | None = None,
        return_mask: bool | None = None,
        labels: str | Path | None = None,
        native: bool = False,
        subset: str | Path | None = None,
    ) -> None:
        self.sensors = tuple(sensors)
        bad = [s for s in self.sensors if s not in ("s2", "s1")]
        if bad or not self.sensors:
            raise ConfigError(f"sensors={list(sensors)}; use ('s2',), ('s1',) or ('s2', 's1')")
        self.classes = class_names(num_classes)
        self.num_classes = num_classes
        self.source: Source = open_source(root, metadata=metadata)
        missing = [s for s in self.sensors if s not in self.source.sensors]
        if missing:
            raise DataError(
                f"{root}: has no {missing} data (found {list(self.source.sensors)}); change sensors="
            )
        self.bands = resolve_bands(
            bands if bands is None or isinstance(bands, str) else list(bands), self.sensors
        )
        self.transform = PatchTransform(self.bands, resampling=resampling, normalize=normalize)
        self.native = native
        self._groups = native_groups(self.bands, [BANDS[b].size for b in self.bands]) if native else []
        self.split = normalize_split(split)
        self.return_mask = self.source.has_mask if return_mask is None else return_mask
        if self.return_mask and not self.source.has_mask:
            raise ConfigError(f"{root}: return_mask=True but this source has no reference maps (v1)")
        self._lut = clc_lut(num_classes).astype(np.int64)
        table = self._select(conform(self.source.table()), splits, include_snow_cloud)
        if subset is not None and self.split == "train":  # a label budget: only these patches are trained on
            ids = table.column("patch_id").to_pylist()
            keep = keep_subset(list(range(len(ids))), subset, ids)
            table = table.take(pa.array(keep, type=pa.int64()))
        self.patch_ids: list[str] = table.column("patch_id").to_pylist()
        self.s1_names: list[str | None] = table.column("s1_name").to_pylist()
        self._labels19: list[list[str] | None] = table.column("labels").to_pylist()
        self._labels43: list[list[str] | None] = table.column("labels43").to_pylist()
        self.table = table
        self._label_cache = self._precompute_labels()
        if labels is not None:  # a label view (e.g. injected noise) replaces the labels of its patches
            from worldclass.data.label_view import read_label_view

            view = read_label_view(labels, num_classes)
            matrix = self.labels().copy()
            for i, pid in enumerate(self.patch_ids):
                if pid in view:
                    matrix[i] = view[pid]
            self._label_cache = matrix

    def _select(self, table: pa.Table, splits: str | Path | None, include_snow_cloud: bool) -> pa.Table:
        if splits is not None:
            override = read_split_file(Path(splits)).to_pydict()
            assigned = dict(zip(override["patch_id"], override["split"], strict=True))
            ids = table.column("patch_id").to_pylist()
            keep = [i for i, pid in enumerate(ids) if pid in assigned]
            table = table.take(pa.array(keep, pa.int64()))
            column = pa.array([assigned[ids[i]] for i in keep], pa.string())
            table = table.set_column(table.column_names.index("split"), "split", column)
        if self.split != "all":
            if table.column("split").null_count == table.num_rows:
                raise DataError(
                    f"{self.source.root}: no split information (no split CSVs / split column); "
                    "use split='all' or pass splits= (see `worldclass splits`)"
                )
            table = table.filter(pc.equal(table.column("split"), self.split))
        if not include_snow_cloud:
            table = table.filter(pc.invert(pc.or_(table.column("snow"), table.column("cloud"))))
        if "s1" in self.sensors and "s2" in self.sensors:
            table = table.filter(pc.is_valid(table.column("s1_name")))
        known = table.column("labels43" if self.num_classes == 43 else "labels")
        if known.null_count == 0 and table.num_rows:
            table = table.filter(pc.greater(pc.list_value_length(known), 0))
        if table.num_rows == 0:
            raise DataError(
                f"{self.source.root}: split {self.split!r} is empty after filtering (snow/cloud excluded: "
                f"{not include_snow_cloud}); choose another split or include_snow_cloud=True"
            )
        return table

    def _precompute_labels(self) -> npt.NDArray[np.float32] | None:
        """Multi-hot matrix when the table knows every label; None means read per sample (raw v1 JSON,
        raw v2 reference maps for 43 classes)."""
        if self.num_classes == 19 and all(x is not None for x in self._labels19):
            src = self._labels19
        elif all(x is not None for x in self._labels43):
            src = (
                self._labels43 if self.num_classes == 43 else [names43_to_19(x or []) for x in self._labels43]
            )
        else:
            return None
        where = str(self.source.root)
        return np.stack([multi_hot(x or [], self.num_classes, source=where) for x in src])

    def __len__(self) -> int:
        return len(self.patch_ids)

    def labels(self) -> npt.NDArray[np.float32]:
        """(N, num_classes) multi-hot matrix of the whole split. Label files or reference maps (raw v1, raw
        v2 with 43 classes) are read on the first call only; later calls and batches use the matrix."""
        if self._label_cache is None:
            self._label_cache = np.asarray(
                np.stack([self._label(i, None) for i in range(len(self))]), np.float32
            )
        return self._label_cache

    def _label(self, i: int, arrays: dict[str, Any] | None) -> npt.NDArray[np.float32]:
        if self._label_cache is not None:
            row: npt.NDArray[np.float32] = self._label_cache[i]
            return row
        pid = self.patch_ids[i]
        if self.source.version == 1:
            names43 = self.source.read_labels43(pid) or []
            names = names43 if self.num_classes == 43 else names43_to_19(names43)
        else:
            if arrays is None:
                arrays = self.source.read(pid, self.s1_names[i], (), True)
            names = codes_to_names43(np.flatnonzero(np.bincount(arrays[MAP_KEY].ravel(), minlength=1000)))
        return multi_hot(names, self.num_classes, source=pid)

    def __getitems__(self, indices: Sequence[int]) -> list[Sample]:
        """Batched loading: one read of the native arrays, one compiled resample/normalise call for the
        whole batch. Samples are views of one (B, C, H, W) batch tensor, which :func:`collate` returns
        without copying."""
        need_map = self.return_mask or (
            self.num_classes == 43 and self._label_cache is None and self.source.version == 2
        )
        requests = [(self.patch_ids[i], self.s1_names[i]) for i in indices]

        def build(native: NativeBatch) -> list[Sample]:
            groups = native_batch(native, self._groups) if self.native else {}
            images = None if self.native else self.transform(native)
            masks = self.transform.masks(native, self._lut) if self.return_mask else None
            if self._label_cache is not None:
                labels = torch.from_numpy(self._label_cache[np.asarray(indices, dtype=np.int64)])
            else:  # from the label files / reference maps read with this batch (file sources pack dicts)
                raw: Sequence[dict[str, Any] | None] = native.arrays or [None] * len(indices)
                labels = torch.from_numpy(np.stack([self._label(i, raw[k]) for k, i in enumerate(indices)]))
            out = []
            for k, i in enumerate(indices):
                sample: Sample = {"label": labels[k], "patch_id": self.patch_ids[i], "index": i}
                if images is not None:
                    sample["image"] = images[k]
                for key, group in groups.items():
                    sample[key] = group[k]
                if masks is not None:
                    sample["mask"] = masks[k]
                out.append(sample)
            return out

        return self.source.read_native(requests, self.bands, need_map, build)

    def __getitem__(self, index: int) -> Sample:
        return self.__getitems__([index])[0]


__all__ = ["IGNORE_INDEX", "BigEarthNet"]
