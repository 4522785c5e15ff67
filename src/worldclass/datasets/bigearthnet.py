"""BigEarthNet v1.0 and reBEN (BigEarthNet v2.0): multi-label scene classification, Sentinel-2 + Sentinel-1.

**Layout.** v1: ``BigEarthNet-v1.0/<S2 patch>/<patch>_B01.tif..B12.tif`` + ``<patch>_labels_metadata.json``,
``BigEarthNet-S1-v1.0/<S1 patch>/<patch>_VV.tif, _VH.tif`` + labels JSON, split CSVs (``train.csv``,
``val.csv``, ``test.csv``; S2 name, S1 name), snow/cloud lists. v2 (reBEN): ``BigEarthNet-S2/<tile>/<patch>/``,
``BigEarthNet-S1/<tile>/<patch>/``, ``Reference_Maps/<tile>/<patch>/<patch>_reference_map.tif`` (raw
CLC2018 codes), ``metadata.parquet`` (patch_id, labels, split, country, s1_name, contains_seasonal_snow,
contains_cloud_or_shadow). Also read: a worldclass store (``worldclass encode``) and a rico-hdl LMDB
with its ``metadata.parquet``; the same patch gives the same tensor from every source.

**Geometry.** 1.2 km x 1.2 km patches, 120 px at 10 m; S2 L2A 12 bands (no B10), uint16 reflectance
x 1e4, at 120 px (B02-B04, B08), 60 px (B05-B07, B8A, B11, B12) and 20 px (B01, B09), resampled to
120 px; S1 IW GRD ``VV``, ``VH`` float32 dB at 120 px. Channels: S2 bands in ESA order, then VV, VH.

**Classes.** 19 (Sumbul et al. 2021, original order) or 43 CLC level-3 classes (CLC-code order);
``data.attribute_encoding`` trains on the 43 and evaluates on the 19.

**Samples.** ``image`` float32 (C, 120, 120), ``label`` float32 (num_classes,) multi-hot, ``patch_id`` str,
v2 also ``mask`` int64 (120, 120) with ignore index 255.

**Sizes.** v1: 590,326 S2 patches (+ S1 pairs) from 10 countries, Jun 2017 - May 2018. v2: 549,488 S1/S2
pairs, geographic splits train / validation / test.

**Licence.** CDLA-Permissive-1.0; contains modified Copernicus Sentinel data.
**Citation.** Sumbul et al., IGARSS 2019 and IEEE GRSM 2021 (v1); Clasen et al., IGARSS 2025 (reBEN).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Dataset

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.base import EmbeddingPlan, RegisteredDataset
from worldclass.errors import ConfigError

#: Patch side in px at 10 m.
PATCH_SIZE = 120


def _sensors_of(bands: Sequence[str]) -> tuple[str, ...]:
    from worldclass.data.sensors import S1_NAMES

    has_s1 = any(b in S1_NAMES for b in bands)
    has_s2 = any(b not in S1_NAMES for b in bands)
    return tuple(s for s, on in (("s2", has_s2), ("s1", has_s1)) if on)


@register_dataset
class BigEarthNetDataset(RegisteredDataset):
    name = "bigearthnet"
    kind = "multilabel"
    summary = "BigEarthNet v1 / reBEN v2 (official roots, worldclass stores, rico-hdl LMDBs); S2 + S1, 19/43 classes"
    patch_size = PATCH_SIZE
    sample_keys: ClassVar[dict[str, tuple[str, str]]] = {
        "image": ("float32", "(C, 120, 120)"),
        "label": ("float32", "(num_classes,)"),
        "patch_id": ("str", ""),
        "index": ("int", "patch number in the split (distributed validation counts each once)"),
    }

    def validate(self, data: DataConfig) -> None:
        bad = [s for s in data.sensors if s not in ("s2", "s1")]
        if bad or not data.sensors:
            raise ConfigError(
                f"config key 'data.sensors': {data.sensors} must be a non-empty subset of [s2, s1]"
            )
        if data.attribute_encoding and data.num_classes != 19:
            raise ConfigError(
                "data.attribute_encoding trains on 43 attributes and evaluates on 19: set data.num_classes=19"
            )
        from worldclass.data.sensors import resolve_bands

        resolve_bands(data.bands, tuple(data.sensors))

    def open(self, data: DataConfig, split: str, **options: Any) -> Dataset[Any]:
        from worldclass.data.dataset import BigEarthNet

        kwargs: dict[str, Any] = {
            "sensors": tuple(data.sensors),
            "num_classes": 43 if data.attribute_encoding else data.num_classes,
            "bands": data.bands,
            "resampling": data.resampling,
            "normalize": data.normalize,
            "include_snow_cloud": data.include_snow_cloud,
            "splits": data.splits,
            "labels": data.labels,
        }
        kwargs.update(options)
        return BigEarthNet(data.root, split=split, **kwargs)

    def embedding_plan(
        self, data: DataConfig, preprocessing: dict[str, Any], bands: Sequence[str], window: int | None
    ) -> EmbeddingPlan:
        from worldclass.data.dataset import BigEarthNet

        ds = BigEarthNet(
            data.root,
            split="all",
            sensors=_sensors_of(bands),
            bands=list(bands),
            resampling=preprocessing.get("resampling", "bilinear"),
            normalize=preprocessing.get("normalize", "v2"),
            return_mask=False,
        )
        if list(ds.bands) != list(bands):
            raise ConfigError(f"{data.root}: gives bands {list(ds.bands)}, the model needs {list(bands)}")
        labels = ds.labels()
        names = [[ds.classes[j] for j in np.flatnonzero(row)] for row in labels]
        splits = [str(s) for s in ds.table.column("split").to_pylist()]
        return EmbeddingPlan(ds, list(ds.patch_ids), splits, names, list(ds.classes))

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.bigearthnet import synth_bigearthnet

        synth_bigearthnet(root, version=2, patches=24, seed=seed)
        return [f"data.root={root}", "data.dataset=bigearthnet"]
