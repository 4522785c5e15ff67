"""SEN12MS and DFC2020 (contest layout) read untouched: file pairing, splits, bands by name, labels.

**SEN12MS** ``<root>/ROIs{1158_spring,1868_summer,1970_fall,2017_winter}/{s1,s2,lc}_<scene>/
ROIs1158_spring_s2_1_p30.tif`` (swap the modality token to pair), ``train_list.txt`` / ``test_list.txt``
(one S2 file name per line, the official hold-out scenes as ``test``). **DFC2020**
``<root>/ROIs0000_validation/{s1,s2,dfc}_validation/ROIs0000_validation_s2_0_p<N>.tif`` and
``<root>/ROIs0000_test/{s1,s2,dfc}_0/ROIs0000_test_s2_0_p<N>.tif``.

A triplet is read through a VRT stack (:func:`worldclass.io.vrt.write_stack_vrt`, Float32) of the chosen
bands, written once to ``$WORLDCLASS_CACHE/sen12ms-stacks/``; every file of the stack is checked when it
is written (band count, 256 x 256 grid), so a bad file stops with its name before training starts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.data.isprs import cache_dir, cache_folder
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.rasters import open_raster
from worldclass.data.scenes import INVALID_LABEL, Scene
from worldclass.errors import ConfigError, DataError, MissingFileError

#: SEN12MS / DFC2020 S2 (L1C) bands, in file order.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
#: S1 bands (sigma0 in dB, float), in file order.
S1_BANDS = ("VV", "VH")
BAND_SETS: dict[str, tuple[str, ...]] = {
    "s2+s1": S2_BANDS + S1_BANDS,
    "s2": S2_BANDS,
    "s1": S1_BANDS,
    "s2-10+s1": ("B02", "B03", "B04", "B08", "VV", "VH"),
    "s2-rgb": ("B04", "B03", "B02"),
}
#: The 10 DFC2020 classes (simplified IGBP), class index = DFC value - 1.
DFC_CLASSES = (
    "Forest",
    "Shrubland",
    "Savanna",
    "Grassland",
    "Wetlands",
    "Croplands",
    "Urban/Built-up",
    "Snow/Ice",
    "Barren",
    "Water",
)
#: IGBP value (index 0..17) -> DFC value (0 = no data), as the DFC2020 baseline and torchgeo.
IGBP_TO_DFC = np.array([0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 6, 8, 9, 10], np.int64)
SEASONS = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")
#: A triplet of the official release whose S1 file is broken (removed from ``train_list.txt``).
BROKEN = re.compile(r"ROIs1868_summer_(s1|s2|lc)_146_p202\.tif$")
SCHEMES = ("dfc", "dfc-no-savanna")
#: DFC2020 release -> (folder, file token).
DFC_FOLDERS = {"validation": ("ROIs0000_validation", "validation"), "test": ("ROIs0000_test", "0")}
SIZE = 256
_NAME = re.compile(r"^(ROIs\d{4})_(\w+?)_(s1|s2|lc|dfc)_(\w+?)_p(\d+)\.tif$")


def classes(scheme: str) -> list[str]:
    """Class names of a label scheme: ``dfc`` (10) or ``dfc-no-savanna`` (9, Savanna pixels ignored)."""
    if scheme not in SCHEMES:
        raise ConfigError(f"config key 'data.label_scheme': {scheme!r}; choose from {list(SCHEMES)}")
    return [c for c in DFC_CLASSES if scheme == "dfc" or c != "Savanna"]


def dfc_lut(scheme: str, source: str) -> np.ndarray:
    """Raw label value -> class index: ``source`` ``dfc`` (values 0..10, 0 = no data) or ``igbp`` (SEN12MS
    ``lc`` band 1, values 0..17). Values outside the scheme are :data:`INVALID_LABEL` (refused)."""
    names = classes(scheme)
    dfc_to_index = np.full(11, IGNORE_INDEX, np.int64)
    for v, name in enumerate(DFC_CLASSES, 1):
        if name in names:
            dfc_to_index[v] = names.index(name)
    table = dfc_to_index if source == "dfc" else dfc_to_index[IGBP_TO_DFC]
    lut = np.full(256, INVALID_LABEL, np.uint8)
    lut[: len(table)] = table
    return lut


def resolve_bands(bands: str | Sequence[str] | None) -> list[str]:
    """Band names of a named set (:data:`BAND_SETS`, default ``s2+s1``) or a list of names."""
    if bands is None:
        return list(BAND_SETS["s2+s1"])
    if isinstance(bands, str):
        if bands not in BAND_SETS:
            raise ConfigError(
                f"config key 'data.bands': {bands!r}; choose a set {list(BAND_SETS)} or list names"
            )
        return list(BAND_SETS[bands])
    unknown = [b for b in bands if b not in S2_BANDS + S1_BANDS]
    if unknown or not bands:
        raise ConfigError(
            f"config key 'data.bands': {unknown or bands} not bands of SEN12MS; use {S2_BANDS + S1_BANDS}"
        )
    return list(bands)


@dataclass(frozen=True)
class Triplet:
    """One patch: its S2, S1 and label file; ``group`` = the scene (``<season>_<scene>``)."""

    id: str
    s2: Path
    s1: Path
    label: Path
    group: str
    #: SEN12MS: the official list naming it (``train`` / ``test`` / ``""``); DFC2020: its release
    #: (``validation`` / ``test``).
    release: str = ""


def _parse(path: Path) -> re.Match[str]:
    m = _NAME.match(path.name)
    if m is None:
        raise DataError(
            f"{path}: not a SEN12MS/DFC2020 file name (ROIsNNNN_<season>_<s1|s2|lc|dfc>_<scene>_p<N>.tif)"
        )
    return m


def _partner(s2: Path, modality: str, folder_token: str) -> Path:
    """The ``modality`` file of an S2 file: token swapped in the folder and the name."""
    m = _parse(s2)
    name = f"{m[1]}_{m[2]}_{modality}_{m[4]}_p{m[5]}.tif"
    return s2.parent.parent / s2.parent.name.replace("s2", folder_token, 1) / name


def _need(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} missing; {fix}")
    return path


def sen12ms_triplets(root: str | Path) -> tuple[list[Triplet], list[str]]:
    """Every SEN12MS triplet under ``root`` (sorted) and notes on what was skipped."""
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(
            f"{root}: no such folder; give the SEN12MS root (holding ROIs1158_spring/ ...)"
        )
    out, notes = [], []
    for season in SEASONS:
        for s2 in sorted((root / season).glob("s2_*/*.tif")):
            if BROKEN.search(s2.name):
                notes.append(
                    f"{s2.name}: skipped, the official release's broken triplet (not in train_list.txt)"
                )
                continue
            m = _parse(s2)
            fix = f"unpack {season}_{{s1,lc}}.tar.gz under {root}"
            s1 = _need(_partner(s2, "s1", "s1"), "S1 partner", fix)
            lc = _need(_partner(s2, "lc", "lc"), "land-cover partner", fix)
            out.append(Triplet(s2.name, s2, s1, lc, f"{m[2]}_{m[4]}"))
    if not out:
        raise MissingFileError(f"{root}: no SEN12MS patch (expected ROIs1158_spring/s2_<scene>/*.tif)")
    return out, notes


def archive_kind(root: Path) -> str | None:
    """``sen12ms`` (season folders), ``dfc2020`` (contest release folders) or None."""
    if any((root / season).is_dir() for season in SEASONS):
        return "sen12ms"
    if any((root / folder).is_dir() for folder, _ in DFC_FOLDERS.values()):
        return "dfc2020"
    return None


def _list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise MissingFileError(
            f"{path}: split list missing; put the official {name} (schmitt-muc/SEN12MS, splits/) in the root"
        )
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _hash(key: str) -> float:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def held_out(keys: Sequence[str], fraction: float) -> set[str]:
    """Keys (scenes, patches) held out for validation: those whose hash falls below ``fraction`` (stable
    as the archive grows); with two keys or more, at least one is held out and at least one is kept."""
    distinct = sorted(set(keys), key=_hash)
    val = {k for k in distinct if _hash(k) < fraction}
    if len(distinct) >= 2 and not val:
        val = {distinct[0]}
    if len(distinct) >= 2 and len(val) == len(distinct):
        val.discard(distinct[-1])
    return val


def sen12ms_listed(root: Path, triplets: Sequence[Triplet]) -> list[Triplet]:
    """``triplets`` with ``release`` set from the official ``train_list.txt`` / ``test_list.txt``."""
    train, test = _list(root, "train_list.txt"), _list(root, "test_list.txt")
    return [
        replace(t, release="test" if t.id in test else "train" if t.id in train else "") for t in triplets
    ]


def select_sen12ms(
    triplets: Sequence[Triplet], split: str, val_fraction: float, where: Path
) -> list[Triplet]:
    """``train`` / ``val`` (the official training list, split by scene: whole scenes in ``val``) or
    ``test`` (the official hold-out list) of listed triplets (files or a store: the same rule)."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"SEN12MS split {split!r}; use train, val or test")
    out = [t for t in triplets if t.release == ("test" if split == "test" else "train")]
    if split != "test":
        val = held_out([t.group for t in out], val_fraction)
        out = [t for t in out if (t.group in val) == (split == "val")]
    if not out:
        raise MissingFileError(f"{where}: no patch of split {split!r} (check train_list.txt / test_list.txt)")
    return out


def sen12ms_split(root: str | Path, split: str, val_fraction: float = 0.2) -> list[Triplet]:
    """Triplets of ``split`` (see :func:`select_sen12ms`) from an archive root or a triplet store."""
    root = Path(root)
    if split not in ("train", "val", "test"):
        raise ConfigError(f"SEN12MS split {split!r}; use train, val or test")
    from worldclass.data.triplet_store import is_triplet_store, stored_triplets

    if is_triplet_store(root):
        triplets = stored_triplets(root, "sen12ms")
    else:
        triplets = sen12ms_listed(root, sen12ms_triplets(root)[0])
    return select_sen12ms(triplets, split, val_fraction, root)


def dfc2020_triplets(root: Path, releases: Sequence[str] = ("validation", "test")) -> list[Triplet]:
    """Every triplet of the contest ``releases`` under ``root`` (``release`` = validation / test)."""
    out = []
    for release in releases:
        folder, token = DFC_FOLDERS[release]
        s2_dir = root / folder / f"s2_{token}"
        if not s2_dir.is_dir():
            raise MissingFileError(f"{s2_dir}: missing; unpack the DFC2020 {folder} archive under {root}")
        for s2 in sorted(s2_dir.glob("*.tif")):
            _parse(s2)
            fix = f"unpack the whole DFC2020 {folder} archive (s1_{token}, s2_{token}, dfc_{token})"
            s1 = _need(_partner(s2, "s1", "s1"), "S1 partner", fix)
            dfc = _need(_partner(s2, "dfc", "dfc"), "DFC label partner", fix)
            out.append(Triplet(s2.name, s2, s1, dfc, folder, release))
    return out


def select_dfc2020(
    triplets: Sequence[Triplet], split: str, val_fraction: float, where: Path
) -> list[Triplet]:
    """``validation`` / ``test``: the contest releases (986 / 5,128 patches with high-resolution labels);
    ``train`` / ``val``: the validation release divided by patch (``val_fraction`` held out)."""
    if split not in ("validation", "test", "train", "val"):
        raise ConfigError(f"DFC2020 split {split!r}; use validation, test, train or val")
    out = [t for t in triplets if t.release == ("test" if split == "test" else "validation")]
    if split in ("train", "val"):
        val = held_out([t.id for t in out], val_fraction)
        out = [t for t in out if (t.id in val) == (split == "val")]
    if not out:
        raise MissingFileError(f"{where}: no patch of split {split!r}")
    return out


def dfc2020_split(root: str | Path, split: str, val_fraction: float = 0.2) -> list[Triplet]:
    """Triplets of ``split`` (see :func:`select_dfc2020`) from an archive root or a triplet store."""
    root = Path(root)
    if split not in ("validation", "test", "train", "val"):
        raise ConfigError(f"DFC2020 split {split!r}; use validation, test, train or val")
    from worldclass.data.triplet_store import is_triplet_store, stored_triplets

    if is_triplet_store(root):
        return select_dfc2020(stored_triplets(root, "dfc2020"), split, val_fraction, root)
    release = "test" if split == "test" else "validation"
    folder, token = DFC_FOLDERS[release]
    triplets = dfc2020_triplets(root, [release])
    return select_dfc2020(triplets, split, val_fraction, root / folder / f"s2_{token}")


def check_patch_file(src: Any, path: Path, count: int | None, what: str) -> None:
    """Refuse an open triplet file ``src`` without ``count`` bands (None: any) or off the 256 x 256 grid."""
    if count is not None and src.count != count:
        raise DataError(
            f"{path}: {src.count} band(s), {what} files hold {count}; re-extract it from the official archive"
        )
    if (src.height, src.width) != (SIZE, SIZE):
        raise DataError(f"{path}: {src.height} x {src.width} px, the archive's patches are {SIZE} x {SIZE}")


def _check(path: Path, count: int, what: str) -> None:
    with open_raster(path) as src:
        check_patch_file(src, path, count, what)


def stack_scenes(
    root: str | Path, triplets: Sequence[Triplet], bands: Sequence[str], lut: np.ndarray, dataset: str
) -> list[Scene]:
    """One :class:`Scene` per triplet (named by its S2 file): a VRT of ``bands`` (by name) + its label
    file through ``lut``; from a triplet store, the stored patch."""
    from worldclass.data.triplet_store import StoredPatch, is_triplet_store
    from worldclass.io.vrt import write_stack_vrt

    if is_triplet_store(root):
        return [
            Scene(t.s2, group=t.group, label_lut=lut, source=StoredPatch(Path(root), t.id, bands))
            for t in triplets
        ]
    key = hashlib.sha1(f"{Path(root).resolve()}|{','.join(bands)}".encode()).hexdigest()[:10]
    folder = cache_folder(cache_dir() / "sen12ms-stacks" / f"{dataset}-{key}")
    out = []
    for t in triplets:
        vrt = folder / f"{t.s2.stem}.vrt"
        fresh = vrt.is_file() and all(vrt.stat().st_mtime >= p.stat().st_mtime for p in (t.s2, t.s1, t.label))
        if not fresh:
            _check(t.s2, len(S2_BANDS), "S2")
            _check(t.s1, len(S1_BANDS), "S1")
            _check(t.label, 4 if dataset == "sen12ms" else 1, "label")
            sources = [
                (t.s2, S2_BANDS.index(b) + 1, b) if b in S2_BANDS else (t.s1, S1_BANDS.index(b) + 1, b)
                for b in bands
            ]
            write_stack_vrt(vrt, sources)
        out.append(Scene(vrt, labels=t.label, group=t.group, label_lut=lut))
    return out


class _PatchDataset:
    """Whole patches of a split as samples: ``image`` float32 (C, 256, 256) normalised with ``mean``/``std``
    (default: per-band statistics of the split itself), ``mask`` int64 (256, 256) (ignore 255), ``bands``
    (the channel names), ``id`` (the S2 file name)."""

    def __init__(
        self,
        root: str | Path,
        triplets: Sequence[Triplet],
        bands: str | Sequence[str] | None,
        label_scheme: str,
        source: str,
        dataset: str,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
    ) -> None:
        from worldclass.data.scene_access import band_statistics
        from worldclass.data.scenes import SceneDataset

        self.bands = resolve_bands(bands)
        self.classes = classes(label_scheme)
        self.triplets = list(triplets)
        scenes = stack_scenes(root, self.triplets, self.bands, dfc_lut(label_scheme, source), dataset)
        if mean is None or std is None:
            mean, std = band_statistics(scenes[:: max(1, len(scenes) // 256)], scale=1.0)
        self.mean, self.std = list(mean), list(std)
        self._windows = SceneDataset(
            scenes, self.classes, size=SIZE, mode="grid", scale=1.0, mean=mean, std=std
        )

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index: int) -> dict[str, object]:
        sample = self._windows[index]
        return {
            "image": sample["image"],
            "mask": sample["mask"],
            "bands": list(self.bands),
            "id": self.triplets[index].id,
            "index": index,
        }


class SEN12MS(_PatchDataset):
    """SEN12MS split ``train`` / ``val`` / ``test`` (see :func:`sen12ms_split`), labels mapped IGBP -> DFC."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        bands: str | Sequence[str] | None = None,
        *,
        label_scheme: str = "dfc",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        triplets = sen12ms_split(root, split)
        super().__init__(root, triplets, bands, label_scheme, "igbp", "sen12ms", mean, std)


class DFC2020(_PatchDataset):
    """DFC2020 split ``validation`` / ``test`` (the contest releases) or ``train`` / ``val`` (see
    :func:`dfc2020_split`)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "validation",
        bands: str | Sequence[str] | None = None,
        *,
        label_scheme: str = "dfc",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        triplets = dfc2020_split(root, split)
        super().__init__(root, triplets, bands, label_scheme, "dfc", "dfc2020", mean, std)
