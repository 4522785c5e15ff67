"""ISPRS 2-D semantic labelling benchmarks: Vaihingen (``vaihingen``) and Potsdam (``potsdam``).

**Layout.** Unpack the official zips untouched under ``data.root``; files are found by name at any depth.
Vaihingen: ``top/top_mosaic_09cm_area{N}.tif`` (IRRG uint8, 9 cm, no CRS), ``dsm/dsm_09cm_matching_area{N}.tif``,
labels ``gts_for_participants/top_mosaic_09cm_area{N}.tif`` or the flat files of
``ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip``, eroded references
``top_mosaic_09cm_area{N}_noBoundary.tif`` (``..._eroded_COMPLETE.zip``; its orphan area 9 is skipped).
Potsdam: ``2_Ortho_RGB/top_potsdam_{r}_{c}_RGB.tif`` (6000 x 6000, 5 cm), ``3_Ortho_IRRG/..._IRRG.tif``,
``4_Ortho_RGBIR/..._RGBIR.tif`` (``data.product``), labels ``top_potsdam_{r}_{c}_label.tif`` (the copy in
``5_Labels_for_participants`` first: the ``4_12`` of ``5_Labels_all`` is blended with the photo and is refused),
eroded ``..._label_noBoundary.tif``.

**Bands.** Vaihingen ``nir, red, green``; Potsdam RGB ``red, green, blue``, IRRG ``nir, red, green``, RGBIR
``red, green, blue, nir``. ``data.heights`` ``dsm`` / ``ndsm`` appends the tile's DSM (Vaihingen
``dsm/dsm_09cm_matching_area{N}.tif``; Potsdam ``1_DSM/dsm_potsdam_{rr}_{cc}.tif``) or normalised DSM (Potsdam
``1_DSM_normalisation/..._normalized_lastools.jpg``, else ``_ownapproach``; Vaihingen: the third-party nDSM, a
file naming ``area{N}`` in a folder named like ``*ndsm*``) as a last band named ``dsm``/``ndsm``: each tile is
read through a VRT stack (Float32) written to ``$WORLDCLASS_CACHE/isprs-stacks/`` (default
``~/.cache/worldclass``); map those ``.vrt`` files to predict with such a model.

**Splits.** Vaihingen: train = areas 1 3 5 7 11 13 15 17 21 23 26 28 32 34 37, val = 30, test = 2 4 6 8 10 12
14 16 20 22 24 27 29 31 33 35 38 (UNetFormer/GeoSeg protocol). Potsdam: train = the 24 labelled tiles minus
2_10 (val) and 7_10 (erroneous labels), test = 2_13 2_14 3_13 3_14 4_13 4_14 4_15 5_13 5_14 5_15 6_13 6_14
6_15 7_13. ``group`` = the tile (``area30``, ``2_10``).

**Classes** (label colour): 0 impervious surfaces (255,255,255), 1 building (0,0,255), 2 low vegetation
(0,255,255), 3 tree (0,255,0), 4 car (255,255,0), 5 clutter (255,0,0); black = eroded boundary (ignored). Any
other colour stops with the file, the colour and the pixel. Maps carry this colour table.

**Samples.** ``image`` float32 (C, patch_size, patch_size) normalised with the training tiles' band
statistics, ``mask`` int64 (ignore 255 on the eroded band of ``*_noBoundary`` labels), ``group`` = tile,
``scene`` = file stem.

**Evaluation** (``worldclass evaluate``): per-class F1, mean F1 and mIoU over the five classes without
clutter, overall accuracy over all six, on the eroded reference (the archive's ``*_noBoundary`` files, or
the full labels eroded by a disc of ``data.boundary_radius`` = 3 px: a pixel is ignored when another class
lies within that Euclidean distance) and on the full reference, both reported. Tiles are predicted whole
(stitched), never cropped. **Submission:** colour-coded label images (``worldclass benchmark-submission``).

**Licence.** ISPRS benchmark terms (research use; ask ISPRS/DGPF); not shipped. **Citation.** Rottensteiner et
al., "The ISPRS benchmark on urban object classification and 3D building reconstruction", ISPRS Annals 2012;
Cramer, "The DGPF test on digital airborne camera evaluation", PFG 2010 (Vaihingen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.scene_base import SceneCollection


class _Isprs(SceneCollection):
    splits = ("train", "val", "test")
    submission = "isprs"

    def classes(self, data: DataConfig) -> list[str]:
        from worldclass.data.isprs import ISPRS_CLASSES

        return list(ISPRS_CLASSES)

    def class_colours(self, data: DataConfig) -> list[tuple[int, int, int]] | None:
        from worldclass.data.isprs import ISPRS_COLOURS

        return list(ISPRS_COLOURS)

    def evaluation_rule(self, data: DataConfig) -> dict[str, Any] | None:
        from worldclass.data.isprs import MEAN_EXCLUDES

        return {"rule": "isprs", "radius": int(data.boundary_radius), "mean_excludes": list(MEAN_EXCLUDES)}


@register_dataset
class VaihingenDataset(_Isprs):
    name = "vaihingen"
    summary = "ISPRS Vaihingen (official archives): 6 classes in 9 cm IRRG, F1/OA on eroded references"

    def bands(self, data: DataConfig) -> list[str]:
        from worldclass.data.isprs import VAIHINGEN_BANDS

        return [*VAIHINGEN_BANDS, *([data.heights] if data.heights != "none" else [])]

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.isprs import vaihingen_scenes

        return vaihingen_scenes(data.root, split, data.heights)

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.urban import synth_vaihingen

        synth_vaihingen(root, seed=seed)
        return [f"data.root={root}", "data.dataset=vaihingen", "data.patch_size=64"]


@register_dataset
class PotsdamDataset(_Isprs):
    name = "potsdam"
    summary = (
        "ISPRS Potsdam (official archives): 6 classes in 5 cm RGB/IRRG/RGBIR, F1/OA on eroded references"
    )

    def validate(self, data: DataConfig) -> None:
        from worldclass.data.isprs import POTSDAM_PRODUCTS
        from worldclass.errors import ConfigError

        super().validate(data)
        if data.product not in POTSDAM_PRODUCTS:
            raise ConfigError(
                f"config key 'data.product': {data.product!r}; choose from {list(POTSDAM_PRODUCTS)}"
            )

    def bands(self, data: DataConfig) -> list[str]:
        from worldclass.data.isprs import POTSDAM_PRODUCTS

        return [*POTSDAM_PRODUCTS[data.product], *([data.heights] if data.heights != "none" else [])]

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.isprs import potsdam_scenes

        return potsdam_scenes(data.root, split, data.product, data.heights)

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.urban import synth_potsdam

        synth_potsdam(root, seed=seed)
        return [f"data.root={root}", "data.dataset=potsdam", "data.patch_size=64"]
