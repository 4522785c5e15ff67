"""Typical class signatures for synthetic archives (see shared reference 'spectral-signatures').

S2 L2A reflectance x 1e4 per band (ESA order B01..B12, no B10) and S1 backscatter (VV, VH) in dB for a few
ground covers; CLC level-3 codes map to mixtures of covers. Values are textbook-level class means; the
renderer adds texture, mixing and noise.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: cover -> (B02, B03, B04, B05, B06, B07, B08, B11, B12, VV dB, VH dB); B8A ~ B08, B01/B09 derived.
_COVERS: dict[str, tuple[float, ...]] = {
    "water": (650, 550, 300, 220, 180, 150, 140, 75, 55, -21.5, -27.5),
    "sea": (700, 520, 250, 180, 150, 120, 100, 60, 40, -23.0, -29.0),
    "conifer": (250, 400, 215, 625, 1550, 1950, 2100, 1000, 450, -8.0, -13.0),
    "broadleaf": (260, 525, 260, 825, 2400, 3050, 3300, 1650, 725, -7.0, -12.0),
    "crop": (375, 700, 450, 1150, 2700, 3400, 3850, 2100, 1100, -10.5, -17.0),
    "pasture": (340, 650, 400, 1100, 2500, 3100, 3500, 2000, 1000, -11.5, -18.0),
    "soil": (750, 1050, 1300, 1600, 1800, 2000, 2250, 2900, 2300, -12.5, -21.0),
    "urban": (1000, 1100, 1200, 1350, 1550, 1650, 1800, 2050, 1850, -1.0, -10.0),
    "industry": (1250, 1350, 1450, 1550, 1700, 1800, 1900, 2300, 2100, 1.0, -9.0),
    "sand": (1850, 2400, 2750, 3000, 3200, 3300, 3400, 4000, 3500, -15.0, -23.0),
    "wetland": (325, 550, 400, 850, 1650, 2000, 2150, 1100, 575, -11.0, -18.5),
    "moor": (450, 675, 650, 1050, 1750, 2100, 2250, 2100, 1350, -11.5, -18.5),
    "snow": (8700, 8700, 8500, 8200, 8000, 7800, 7400, 850, 600, -14.0, -21.5),
}

#: CLC code -> list of (cover, weight); also defines texture class via the first cover.
CLC_COVERS: dict[int, list[tuple[str, float]]] = {
    111: [("urban", 1.0)],
    112: [("urban", 0.6), ("pasture", 0.4)],
    121: [("industry", 1.0)],
    122: [("urban", 0.7), ("soil", 0.3)],
    123: [("industry", 0.7), ("water", 0.3)],
    124: [("industry", 0.5), ("pasture", 0.5)],
    131: [("soil", 0.8), ("sand", 0.2)],
    132: [("soil", 0.7), ("industry", 0.3)],
    133: [("soil", 0.6), ("urban", 0.4)],
    141: [("pasture", 0.6), ("broadleaf", 0.4)],
    142: [("pasture", 0.7), ("urban", 0.3)],
    211: [("soil", 0.5), ("crop", 0.5)],
    212: [("crop", 0.8), ("soil", 0.2)],
    213: [("crop", 0.6), ("water", 0.4)],
    221: [("crop", 0.4), ("soil", 0.6)],
    222: [("broadleaf", 0.5), ("pasture", 0.5)],
    223: [("moor", 0.6), ("soil", 0.4)],
    231: [("pasture", 1.0)],
    241: [("crop", 0.5), ("broadleaf", 0.3), ("soil", 0.2)],
    242: [("crop", 0.4), ("pasture", 0.3), ("soil", 0.3)],
    243: [("crop", 0.4), ("broadleaf", 0.4), ("moor", 0.2)],
    244: [("pasture", 0.5), ("broadleaf", 0.5)],
    311: [("broadleaf", 1.0)],
    312: [("conifer", 1.0)],
    313: [("conifer", 0.5), ("broadleaf", 0.5)],
    321: [("pasture", 0.6), ("moor", 0.4)],
    322: [("moor", 1.0)],
    323: [("moor", 0.7), ("soil", 0.3)],
    324: [("moor", 0.5), ("broadleaf", 0.3), ("conifer", 0.2)],
    331: [("sand", 1.0)],
    332: [("soil", 0.5), ("sand", 0.5)],
    333: [("moor", 0.5), ("soil", 0.5)],
    334: [("soil", 0.8), ("moor", 0.2)],
    411: [("wetland", 1.0)],
    412: [("wetland", 0.7), ("moor", 0.3)],
    421: [("wetland", 0.6), ("sea", 0.4)],
    422: [("sand", 0.5), ("sea", 0.5)],
    423: [("sand", 0.4), ("sea", 0.6)],
    511: [("water", 1.0)],
    512: [("water", 1.0)],
    521: [("sea", 0.8), ("wetland", 0.2)],
    522: [("sea", 0.7), ("water", 0.3)],
    523: [("sea", 1.0)],
}

#: texture amplitude (relative) and correlation length (px at 10 m) by dominant cover.
TEXTURE: dict[str, tuple[float, int]] = {
    "water": (0.04, 30),
    "sea": (0.03, 40),
    "conifer": (0.12, 4),
    "broadleaf": (0.10, 5),
    "crop": (0.18, 12),
    "pasture": (0.10, 10),
    "soil": (0.15, 14),
    "urban": (0.30, 2),
    "industry": (0.25, 3),
    "sand": (0.08, 12),
    "wetland": (0.15, 6),
    "moor": (0.14, 6),
    "snow": (0.05, 20),
}


#: S1 texture by cover: amplitude (std of log backscatter) and correlation length (px at 10 m). Radar
#: texture follows structure and moisture, not spectra: strong, fine for built-up areas (double bounce,
#: street orientation), coarse for fields (tillage, crop rows, moisture), weak for closed canopy (volume
#: scattering), wind-roughened patches on water.
SAR_TEXTURE: dict[str, tuple[float, int]] = {
    "water": (0.45, 18),
    "sea": (0.35, 25),
    "conifer": (0.10, 8),
    "broadleaf": (0.12, 9),
    "crop": (0.35, 20),
    "pasture": (0.20, 16),
    "soil": (0.30, 22),
    "urban": (0.60, 3),
    "industry": (0.50, 4),
    "sand": (0.25, 15),
    "wetland": (0.30, 10),
    "moor": (0.18, 12),
    "snow": (0.15, 25),
}


def s2_signature(cover: str) -> npt.NDArray[np.float64]:
    """12-band S2 mean (ESA order B01..B12 without B10) for a cover."""
    b02, b03, b04, b05, b06, b07, b08, b11, b12 = _COVERS[cover][:9]
    b01 = b02 * 1.07
    b8a = b08 * 1.02
    b09 = b8a * 0.4 if b08 > 1000 else b8a * 0.8
    return np.array([b01, b02, b03, b04, b05, b06, b07, b08, b8a, b09, b11, b12])


def s1_signature(cover: str) -> npt.NDArray[np.float64]:
    """(VV, VH) mean backscatter in dB for a cover."""
    return np.array(_COVERS[cover][9:11])


def clc_signature(code: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]:
    """(S2 mean (12,), S1 mean dB (2,), dominant cover) of a CLC code: weighted mixture of its covers."""
    covers = CLC_COVERS[code]
    s2 = sum(w * s2_signature(c) for c, w in covers)
    s1_lin = sum(w * 10 ** (s1_signature(c) / 10) for c, w in covers)
    return np.asarray(s2), 10 * np.log10(np.asarray(s1_lin)), covers[0][0]
