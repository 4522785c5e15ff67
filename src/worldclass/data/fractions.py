"""Regression targets from reBEN reference maps: the share of a patch's labelled pixels in a class or a
group of classes of the 19-class nomenclature (e.g. the forest fraction).

A target is a 19-class name (``"Coniferous forest"``) or a group: ``forest`` (broad-leaved, coniferous,
mixed forest), ``urban`` (urban fabric, industrial or commercial units), ``agriculture`` (arable land,
permanent crops, pastures, complex cultivation, agriculture with natural vegetation, agro-forestry),
``water`` (inland and marine waters), ``wetlands`` (inland and coastal wetlands). Pixels whose CLC code
is no data or not among the 19 classes do not count; a patch without a labelled pixel has NaN targets
(left out of losses and metrics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from worldclass.data.nomenclature import CLASSES19, IGNORE_INDEX
from worldclass.errors import ConfigError

GROUPS: dict[str, tuple[str, ...]] = {
    "forest": ("Broad-leaved forest", "Coniferous forest", "Mixed forest"),
    "urban": ("Urban fabric", "Industrial or commercial units"),
    "agriculture": (
        "Arable land",
        "Permanent crops",
        "Pastures",
        "Complex cultivation patterns",
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
        "Agro-forestry areas",
    ),
    "water": ("Inland waters", "Marine waters"),
    "wetlands": ("Inland wetlands", "Coastal wetlands"),
}


def target_classes(targets: Sequence[str]) -> list[list[int]]:
    """19-class indices of each target (a group name or a class name, case-insensitive)."""
    lookup = {c.lower(): i for i, c in enumerate(CLASSES19)}
    out = []
    for t in targets:
        if t.lower() in GROUPS:
            out.append([lookup[c.lower()] for c in GROUPS[t.lower()]])
        elif t.lower() in lookup:
            out.append([lookup[t.lower()]])
        else:
            raise ConfigError(
                f"regression target {t!r}: use a group {sorted(GROUPS)} or a class of the 19-class nomenclature"
            )
    if not out:
        raise ConfigError("config key 'regression.targets': give at least one target")
    return out


def class_fractions(mask: torch.Tensor, classes: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, H, W) int 19-class index maps (ignore 255) -> (B, T) float32 shares of labelled pixels per
    target (NaN where a map has no labelled pixel)."""
    flat = mask.reshape(len(mask), -1)
    valid = (flat != IGNORE_INDEX).sum(1).float()
    counts = torch.stack(
        [torch.isin(flat, torch.tensor(c, device=flat.device)).sum(1).float() for c in classes], 1
    )
    return torch.where(valid[:, None] > 0, counts / valid.clamp(min=1)[:, None], torch.nan)


def class_fractions_np(mask: np.ndarray, classes: Sequence[Sequence[int]]) -> np.ndarray:
    """NumPy twin of :func:`class_fractions` for one (H, W) map: (T,)."""
    return class_fractions(torch.from_numpy(np.asarray(mask, np.int64))[None], classes)[0].numpy()
