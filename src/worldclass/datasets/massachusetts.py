"""Massachusetts roads (``massachusetts-roads``) and buildings (``massachusetts-buildings``), Mnih 2013.

**Layout.** Original (Toronto site): ``mass_{roads,buildings}/{train,valid,test}/sat/<id>.tiff`` (RGB uint8,
1500 x 1500 px at 1 m, 2.25 km²) + ``.../map/<id>.tif`` (0 background, non-zero foreground, rasterised
OpenStreetMap: road centre lines drawn a few px wide, building footprints); ``data.root`` = the
``mass_*`` folder or its parent. The Kaggle mirror (``tiff/{train,val,test}`` + ``tiff/<split>_labels``)
is read too. Roads: 1,108 / 14 / 49 tiles; buildings: 137 / 4 / 10.

**Bands.** ``red, green, blue``. **Splits.** ``train``, ``val`` (= ``valid``), ``test``, as distributed.
**Classes.** 0 ``background``, 1 ``road`` or ``building``. White (255, 255, 255) no-data regions are
ignored in training and scoring.

**Samples.** ``image`` float32 (3, patch_size, patch_size), ``mask`` int64 in {0, 1, 255 = no-data},
``group`` = split, ``scene`` = tile id.

**Evaluation** (``worldclass evaluate``): relaxed precision and recall (Mnih & Hinton 2010): a predicted
positive pixel is correct when a reference positive lies within ρ = ``data.relaxed_radius`` = 3 px (square
(2ρ+1)² window, as ssai-cnn's reference code; the tile border is not cropped), a reference pixel is found when
a prediction lies within ρ; counts pooled over all tiles at thresholds k/256; the breakeven point (P ≈ R)
is the headline, beside IoU and F1 at 0.5. Roads are also scored on their centre lines (both maps thinned
to 1 px at 0.5: completeness, correctness and quality within ρ). No official submission format.

**Licence.** Research use (see the author's page); not shipped. **Citation.** V. Mnih, "Machine Learning for
Aerial Image Labeling", PhD thesis, University of Toronto, 2013.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.scene_base import SceneCollection


class _Massachusetts(SceneCollection):
    splits = ("train", "val", "test")
    archive: ClassVar[str]
    positive: ClassVar[str]

    def classes(self, data: DataConfig) -> list[str]:
        return ["background", self.positive]

    def bands(self, data: DataConfig) -> list[str]:
        return ["red", "green", "blue"]

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.massachusetts import massachusetts_scenes

        return massachusetts_scenes(data.root, split, self.archive)

    def evaluation_rule(self, data: DataConfig) -> dict[str, Any] | None:
        return {"rule": "relaxed", "radius": int(data.relaxed_radius), "centerline": self.positive == "road"}

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.massachusetts import synth_massachusetts

        synth_massachusetts(root, self.positive + "s", seed=seed)
        return [f"data.root={root}", f"data.dataset={self.name}", "data.patch_size=64"]


@register_dataset
class MassachusettsRoads(_Massachusetts):
    name = "massachusetts-roads"
    summary = "Massachusetts roads (Mnih 2013): 1 m RGB, relaxed precision/recall (ρ = 3 px) and centre lines"
    archive = "mass_roads"
    positive = "road"


@register_dataset
class MassachusettsBuildings(_Massachusetts):
    name = "massachusetts-buildings"
    summary = "Massachusetts buildings (Mnih 2013): 1 m RGB, relaxed precision/recall (ρ = 3 px)"
    archive = "mass_buildings"
    positive = "building"
