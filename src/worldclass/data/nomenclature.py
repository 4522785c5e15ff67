"""CORINE Land Cover nomenclatures used by BigEarthNet v1 and reBEN (v2).

* ``CLC43``: the 43 CLC level-3 classes of BigEarthNet v1, in CLC-code order, as (code, name).
* ``CLASSES19``: the 19 classes of Sumbul et al. (2020) in the **original (paper) order** -- the canonical
  order of worldclass. ``CLASSES19_LEXICOGRAPHIC`` is the sorted order used by ConfigILM /
  bigearthnet_common / the BIFOLD Hugging Face models; convert at the edges with :func:`reorder_19`.
* ``MAP_43_TO_19``: the official mapping; 11 level-3 classes have no 19-class parent ("dropped").
* Reference maps (v2) hold raw CLC codes (uint16, nodata 0). :func:`clc_lut` builds a lookup table
  code -> class index where nodata and dropped codes map to :data:`IGNORE_INDEX` (255).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from worldclass.errors import LabelError

#: Index given to pixels whose CLC code is nodata (0), dropped from the 19 classes, or unknown.
IGNORE_INDEX = 255
#: Value of missing pixels in reBEN reference maps.
CLC_NODATA = 0

CLC43: tuple[tuple[int, str], ...] = (
    (111, "Continuous urban fabric"),
    (112, "Discontinuous urban fabric"),
    (121, "Industrial or commercial units"),
    (122, "Road and rail networks and associated land"),
    (123, "Port areas"),
    (124, "Airports"),
    (131, "Mineral extraction sites"),
    (132, "Dump sites"),
    (133, "Construction sites"),
    (141, "Green urban areas"),
    (142, "Sport and leisure facilities"),
    (211, "Non-irrigated arable land"),
    (212, "Permanently irrigated land"),
    (213, "Rice fields"),
    (221, "Vineyards"),
    (222, "Fruit trees and berry plantations"),
    (223, "Olive groves"),
    (231, "Pastures"),
    (241, "Annual crops associated with permanent crops"),
    (242, "Complex cultivation patterns"),
    (243, "Land principally occupied by agriculture, with significant areas of natural vegetation"),
    (244, "Agro-forestry areas"),
    (311, "Broad-leaved forest"),
    (312, "Coniferous forest"),
    (313, "Mixed forest"),
    (321, "Natural grassland"),
    (322, "Moors and heathland"),
    (323, "Sclerophyllous vegetation"),
    (324, "Transitional woodland/shrub"),
    (331, "Beaches, dunes, sands"),
    (332, "Bare rock"),
    (333, "Sparsely vegetated areas"),
    (334, "Burnt areas"),
    (411, "Inland marshes"),
    (412, "Peatbogs"),
    (421, "Salt marshes"),
    (422, "Salines"),
    (423, "Intertidal flats"),
    (511, "Water courses"),
    (512, "Water bodies"),
    (521, "Coastal lagoons"),
    (522, "Estuaries"),
    (523, "Sea and ocean"),
)
CLASSES43: tuple[str, ...] = tuple(name for _, name in CLC43)
CLC_CODES43: tuple[int, ...] = tuple(code for code, _ in CLC43)

CLASSES19: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)
CLASSES19_LEXICOGRAPHIC: tuple[str, ...] = tuple(sorted(CLASSES19))

#: CLC code -> 19-class name (codes absent here are dropped).
_CODE_TO_19: dict[int, str] = {
    111: "Urban fabric",
    112: "Urban fabric",
    121: "Industrial or commercial units",
    211: "Arable land",
    212: "Arable land",
    213: "Arable land",
    221: "Permanent crops",
    222: "Permanent crops",
    223: "Permanent crops",
    241: "Permanent crops",
    231: "Pastures",
    242: "Complex cultivation patterns",
    243: "Land principally occupied by agriculture, with significant areas of natural vegetation",
    244: "Agro-forestry areas",
    311: "Broad-leaved forest",
    312: "Coniferous forest",
    313: "Mixed forest",
    321: "Natural grassland and sparsely vegetated areas",
    333: "Natural grassland and sparsely vegetated areas",
    322: "Moors, heathland and sclerophyllous vegetation",
    323: "Moors, heathland and sclerophyllous vegetation",
    324: "Transitional woodland, shrub",
    331: "Beaches, dunes, sands",
    411: "Inland wetlands",
    412: "Inland wetlands",
    421: "Coastal wetlands",
    422: "Coastal wetlands",
    511: "Inland waters",
    512: "Inland waters",
    521: "Marine waters",
    522: "Marine waters",
    523: "Marine waters",
}

#: 43-class name -> 19-class name, or None for the 11 dropped classes.
MAP_43_TO_19: dict[str, str | None] = {name: _CODE_TO_19.get(code) for code, name in CLC43}
#: The 11 level-3 classes without a 19-class parent.
DROPPED43: tuple[str, ...] = tuple(n for n, p in MAP_43_TO_19.items() if p is None)
#: CLC codes of the dropped classes.
DROPPED_CODES: tuple[int, ...] = tuple(c for c, _ in CLC43 if c not in _CODE_TO_19)

NumClasses = Literal[19, 43]
ClassOrder = Literal["original", "lexicographic"]


def class_names(num_classes: int) -> tuple[str, ...]:
    """Class names in index order for 19 (original order) or 43 (CLC-code order) classes."""
    if num_classes == 19:
        return CLASSES19
    if num_classes == 43:
        return CLASSES43
    raise LabelError(
        f"--num-classes / data.num_classes {num_classes}: BigEarthNet has 19 or 43 classes; use one of them"
    )


def _index_of(names: Sequence[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(names)}


_IDX19 = _index_of(CLASSES19)
_IDX43 = _index_of(CLASSES43)
_CODE_IDX43 = {c: i for i, c in enumerate(CLC_CODES43)}
# v1 label JSONs occasionally differ in punctuation from the CLC legend; accept these spellings.
_ALIASES43 = {"Transitional woodland, shrub": "Transitional woodland/shrub"}


def names43_to_19(names: Iterable[str], *, source: str = "labels") -> list[str]:
    """Map 43-class names to the sorted (canonical order) set of their 19-class parents (dropped -> none)."""
    parents = set()
    for n in names:
        n43 = _ALIASES43.get(n, n)
        if n43 not in MAP_43_TO_19:
            raise LabelError(
                f"{source}: unknown CORINE level-3 class {n!r}; expected one of the 43 BigEarthNet names "
                "(see worldclass.data.nomenclature.CLASSES43)"
            )
        p = MAP_43_TO_19[n43]
        if p is not None:
            parents.add(p)
    return sorted(parents, key=_IDX19.__getitem__)


def multi_hot(names: Iterable[str], num_classes: int, *, source: str = "labels") -> npt.NDArray[np.float32]:
    """Multi-hot float32 vector (num_classes,) in canonical order from class names of that nomenclature."""
    index = _IDX19 if num_classes == 19 else _IDX43
    if num_classes not in (19, 43):
        class_names(num_classes)
    out = np.zeros(num_classes, dtype=np.float32)
    for n in names:
        key = _ALIASES43.get(n, n) if num_classes == 43 else n
        if key not in index:
            raise LabelError(
                f"{source}: unknown {num_classes}-class label {n!r}; valid names are in "
                f"worldclass.data.nomenclature.class_names({num_classes})"
            )
        out[index[key]] = 1.0
    return out


def codes_to_names43(codes: Iterable[int]) -> list[str]:
    """43-class names (CLC order) of the CLC codes present; nodata and non-BigEarthNet codes are skipped."""
    present = sorted({int(c) for c in codes if int(c) in _CODE_IDX43})
    return [CLASSES43[_CODE_IDX43[c]] for c in present]


def clc_lut(num_classes: int) -> npt.NDArray[np.uint8]:
    """Lookup table (1000,) uint8: CLC code -> class index; nodata, dropped and unknown -> IGNORE_INDEX.

    Use as ``lut[reference_map]`` on a uint16 map of raw CLC codes (codes >= 1000 must be clipped first).
    """
    lut = np.full(1000, IGNORE_INDEX, dtype=np.uint8)
    for code, name in CLC43:
        if num_classes == 43:
            lut[code] = _IDX43[name]
        elif num_classes == 19:
            parent = _CODE_TO_19.get(code)
            if parent is not None:
                lut[code] = _IDX19[parent]
        else:
            class_names(num_classes)
    return lut


def reorder_19(
    values: npt.NDArray[np.generic], *, src: ClassOrder = "original", dst: ClassOrder = "lexicographic"
) -> npt.NDArray[np.generic]:
    """Reorder the last axis (19 classes) of ``values`` between the original and lexicographic orders."""
    orders = {"original": CLASSES19, "lexicographic": CLASSES19_LEXICOGRAPHIC}
    if values.shape[-1] != 19:
        raise LabelError(f"reorder_19 expects 19 classes on the last axis, got shape {values.shape}")
    src_idx = _index_of(orders[src])
    perm = [src_idx[n] for n in orders[dst]]
    return values[..., perm]


def matrix_43_to_19() -> npt.NDArray[np.float32]:
    """(43, 19) 0/1 matrix M with ``labels19 = clip(labels43 @ M, 0, 1)`` (attribute encoding)."""
    m = np.zeros((43, 19), dtype=np.float32)
    for i, name in enumerate(CLASSES43):
        parent = MAP_43_TO_19[name]
        if parent is not None:
            m[i, _IDX19[parent]] = 1.0
    return m
