"""SEN12MS (Schmitt et al. 2019) and the IEEE GRSS Data Fusion Contest 2020 (DFC2020), as land-cover
segmentation with Sentinel-1 + Sentinel-2.

**Layout, SEN12MS** (the 12 tarballs ``ROIs<season>_{lc,s1,s2}.tar.gz`` unpacked untouched):
``ROIs{1158_spring,1868_summer,1970_fall,2017_winter}/{s1,s2,lc}_<scene>/ROIs1158_spring_s2_1_p30.tif``
(180,662 triplets; the modality token swapped pairs the files) plus the official ``train_list.txt`` and
``test_list.txt`` (one S2 file name per line) in the root. **DFC2020** (contest release):
``ROIs0000_validation/{s1,s2,dfc}_validation/ROIs0000_validation_s2_0_p<N>.tif`` (986 patches) and
``ROIs0000_test/{s1,s2,dfc}_0/ROIs0000_test_s2_0_p<N>.tif`` (5,128); ``lc_*`` folders are not used.

**Bands** (by name, ``data.bands``: a list or a set ``s2+s1`` (default), ``s2``, ``s1``, ``s2-10+s1``,
``s2-rgb``): S2 L1C, 13 bands uint16 in file order B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12;
S1 VV, VH (sigma0, dB, float). 256 x 256 px at 10 m, UTM. A triplet is read through a Float32 VRT stack
of the chosen bands (``$WORLDCLASS_CACHE/sen12ms-stacks/``), or from a triplet store (``worldclass encode
ROOT STORE``, then ``data.root: STORE``; :mod:`worldclass.data.triplet_store`, same samples bit for bit);
normalised with the training split's per-band mean/std (sampled from up to 256 training patches, or
``data.statistics``: the ``worldclass stats ROOT --json`` file; stored in the checkpoint).

**Classes** (``data.label_scheme``): ``dfc``: the 10 DFC classes Forest, Shrubland, Savanna, Grassland,
Wetlands, Croplands, Urban/Built-up, Snow/Ice, Barren, Water (index = DFC value - 1; 0 = no data ->
ignore 255); ``dfc-no-savanna``: 9 classes, Savanna pixels ignored. SEN12MS ``lc`` band 1 (MODIS IGBP
1-17, 500 m labels on the 10 m grid) maps to DFC by the contest table (IGBP 1-5 Forest, 6-7 Shrubland,
8-9 Savanna, 10 Grassland, 11 Wetlands, 12 and 14 Croplands, 13 Urban, 15 Snow/Ice, 16 Barren, 17
Water). Any other label value stops with the file and pixel.

**Splits.** SEN12MS: ``test`` = ``test_list.txt`` (the hold-out scenes); ``train``/``val`` =
``train_list.txt`` with whole scenes (season + scene id) held out for ``val`` (``data.val_fraction``, by
a hash of the scene: stable, scene-grouped). The broken triplet ``ROIs1868_summer_*_146_p202`` is
skipped. DFC2020: ``train``/``val`` = the contest's validation release (the 986 high-resolution labelled
patches, ``val_fraction`` held out by patch), ``test`` = the contest test release.

**Samples.** ``image`` float32 (C, 256, 256), ``mask`` int64 (256, 256), ``group`` (scene), ``scene``
(the S2 file stem), ``index``. Metrics: per-class accuracy, AA (mean recall over classes present in the
ground truth), OA, mIoU (``worldclass evaluate``).

**Licence.** SEN12MS: CC-BY 4.0; DFC2020: CC-BY 4.0 (IEEE GRSS IADF); contain modified Copernicus
Sentinel data. Not shipped: tests and the demo use the generators of :mod:`worldclass.data.synth.sen12ms`.
**Citation.** Schmitt, Hughes, Qiu, Zhu, "SEN12MS - a curated dataset of georeferenced multi-spectral
Sentinel-1/2 imagery for deep learning and data fusion", ISPRS Annals 2019; Robinson et al., "Global
land-cover mapping with weak supervision: outcome of the 2020 IEEE GRSS Data Fusion Contest", JSTARS 2021.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.base import EmbeddingPlan
from worldclass.datasets.scene_base import SceneCollection
from worldclass.errors import ConfigError


class _S1S2LandCover(SceneCollection):
    splits = ("train", "val", "test")
    embedding_splits = ("train", "val", "test")
    label_source = "dfc"

    def embedding_plan(
        self, data: DataConfig, preprocessing: dict[str, Any], bands: Sequence[str], window: int | None
    ) -> EmbeddingPlan:
        """Grid windows of ``bands`` (a subset of the trained ones, e.g. the S1 bands of a cross-modal
        model) of every split, normalised with the trained statistics of those bands."""
        from worldclass.data.sen12ms import resolve_bands

        trained = resolve_bands(data.bands)
        missing = [b for b in bands if b not in trained]
        if missing:
            raise ConfigError(f"bands {missing} were not trained on (data.bands gives {trained})")
        idx = [trained.index(b) for b in bands]
        pre = {**preprocessing, **{k: [preprocessing[k][i] for i in idx] for k in ("mean", "std")}}
        return super().embedding_plan(replace(data, bands=list(bands)), pre, bands, window)

    def classes(self, data: DataConfig) -> list[str]:
        from worldclass.data.sen12ms import classes

        return classes(data.label_scheme)

    def bands(self, data: DataConfig) -> list[str]:
        from worldclass.data.sen12ms import resolve_bands

        return resolve_bands(data.bands)

    def validate(self, data: DataConfig) -> None:
        from worldclass.data.sen12ms import classes, resolve_bands

        super().validate(data)
        resolve_bands(data.bands)
        classes(data.label_scheme)

    @abstractmethod
    def triplets(self, data: DataConfig, split: str) -> list[Any]:
        """:class:`worldclass.data.sen12ms.Triplet` s of ``split``."""

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.sen12ms import dfc_lut, resolve_bands, stack_scenes

        lut = dfc_lut(data.label_scheme, self.label_source)
        return stack_scenes(data.root, self.triplets(data, split), resolve_bands(data.bands), lut, self.name)


@register_dataset
class Sen12msDataset(_S1S2LandCover):
    name = "sen12ms"
    summary = (
        "SEN12MS (official layout): S1+S2 256 px triplets, MODIS IGBP labels mapped to the 10 DFC classes"
    )
    label_source = "igbp"

    def triplets(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.sen12ms import sen12ms_split

        return sen12ms_split(data.root, split, data.val_fraction)

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.sen12ms import synth_sen12ms

        synth_sen12ms(root, scenes=2, patches=2, seed=seed)
        return [f"data.root={root}", "data.dataset=sen12ms", "data.patch_size=64", "data.bands=s2-10+s1"]


@register_dataset
class Dfc2020Dataset(_S1S2LandCover):
    name = "dfc2020"
    summary = "DFC2020 (contest layout): S1+S2 256 px patches, high-resolution labels of 10 DFC classes"

    def triplets(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.sen12ms import dfc2020_split

        return dfc2020_split(data.root, split, data.val_fraction)

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.sen12ms import synth_dfc2020

        synth_dfc2020(root, validation=10, test=4, seed=seed)
        return [f"data.root={root}", "data.dataset=dfc2020", "data.patch_size=64", "data.bands=s2-10+s1"]
