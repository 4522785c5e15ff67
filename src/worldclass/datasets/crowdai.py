"""CrowdAI Mapping Challenge 2018 (``crowdai``): building polygons on 300 x 300 px RGB tiles.

**Layout.** ``<root>/train/images/<12-digit id>.jpg`` (280,741 tiles) + ``train/annotation.json`` (COCO),
``val/`` the same (60,317 tiles; papers test on it, as the test labels are private); ``data.annotation``
picks another file (``annotation-small.json``). Category id **100** (building). Rings are closed and united
per annotation, as pycocotools rasterises them; coordinates are clipped to the tile; ``bbox`` is ignored.

**Bands.** ``red, green, blue`` (uint8 JPEG, no CRS: pixel coordinates). **Splits.** ``train``, ``val``.
**Classes.** 0 ``background``, 1 ``building``.

**Samples.** ``image`` float32 (3, patch_size, patch_size) (random crops; tiles smaller than the patch are
padded with ignore labels), ``mask`` int64 in {0, 1}, ``group`` = split, ``scene`` = image id (file stem).

**Evaluation** (``worldclass evaluate``): the predicted building mask of every tile is turned into polygons
(4-connected regions, score = mean building probability inside) and scored with COCO AP/AR on category 100
(AP over IoU 0.50:0.95, AP50, AP75, AR, AR50, AR75, and AP/AR per area range: small < 32², medium 32²-96²,
large > 96² px, by the annotations' polygon area; maxDets 100; the challenge's own score is AP50 and AR50) on **every** ground-truth tile (not only the tiles with a
detection, the trap of some published evaluators); masks are rasterised from the polygons, so IoUs are
mask IoUs as in pycocotools. Beware: ~93 % of the val tiles also occur in train (Adimoolam et al. 2023), so
val scores measure memorisation as much as generalisation; ``worldclass crowdai-leakage ROOT`` counts
the val tiles whose image (perceptual hash) is also in train. **Submission:** a COCO results file.

**Licence.** CrowdAI challenge terms (CC BY-NC-SA 4.0 per the challenge page); not shipped. **Citation.**
Mohanty et al., "Deep learning for understanding satellite imagery: an experimental survey", Frontiers in
AI 2020.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.scene_base import SceneCollection


@register_dataset
class CrowdAIDataset(SceneCollection):
    name = "crowdai"
    summary = "CrowdAI Mapping Challenge: 300 px RGB tiles with COCO building polygons, COCO AP/AR"
    splits = ("train", "val")
    submission = "coco"

    def classes(self, data: DataConfig) -> list[str]:
        from worldclass.data.crowdai import CROWDAI_CLASSES

        return list(CROWDAI_CLASSES)

    def bands(self, data: DataConfig) -> list[str]:
        return ["red", "green", "blue"]

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.crowdai import crowdai_scenes

        return crowdai_scenes(data.root, split, data.annotation)

    def evaluation_rule(self, data: DataConfig) -> dict[str, Any] | None:
        from worldclass.data.crowdai import CROWDAI_CATEGORY

        return {"rule": "coco", "category_id": CROWDAI_CATEGORY}

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.crowdai import synth_crowdai

        synth_crowdai(root, seed=seed)
        return [f"data.root={root}", "data.dataset=crowdai", "data.patch_size=96"]
