"""Inria Aerial Image Labeling (Maggiori et al., IGARSS 2017): building footprints in 0.3 m aerial RGB.

**Layout** (``NEW2-AerialImageDataset.zip`` unpacked): ``AerialImageDataset/train/images/<city><n>.tif``
(RGB uint8, 5000 x 5000), ``train/gt/<city><n>.tif`` (255 building, 0 not), ``test/images/...`` (no
public ground truth). Training cities austin, chicago, kitsap, tyrol-w, vienna; test cities bellingham,
bloomington, innsbruck, sfo, tyrol-e; 36 tiles each.

**Splits.** ``val`` = the first five tiles of every training city, ``train`` = the rest, ``test`` = the test
cities (images only).

**Classes.** 0 ``not building``, 1 ``building``. Metrics are accumulated over all pixels of a city, and
overall.

**Samples.** ``image`` float32 (3, patch_size, patch_size), ``mask`` int64, ``group`` = city, ``scene`` =
tile name.

**Licence.** Free for research (see the benchmark's site); not shipped: tests and the demo use the
synthetic generator in its layout. **Citation.** Maggiori, Tarabalka, Charpiat, Alliez, "Can semantic
labeling methods generalize to any city? The Inria aerial image labeling benchmark", IGARSS 2017.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.scene_base import SceneCollection


@register_dataset
class InriaDataset(SceneCollection):
    name = "inria"
    summary = "Inria Aerial Image Labeling (official layout): buildings in 0.3 m RGB, per-city metrics"
    splits = ("train", "val", "test")
    submission = "inria"

    def classes(self, data: DataConfig) -> list[str]:
        from worldclass.data.inria import INRIA_CLASSES

        return list(INRIA_CLASSES)

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.inria import inria_scenes

        return inria_scenes(data.root, split)

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.aerial import synth_inria

        synth_inria(root, size=128, tiles=6, seed=seed)
        return [f"data.root={root}", "data.dataset=inria", "data.patch_size=64"]
