"""Render one synthetic BigEarthNet patch: a CLC reference map, S2 bands and S1 backscatter.

Maps are warped Voronoi partitions of the patch's classes, with occasional roads or blobs of classes
dropped from the 19-class nomenclature and small nodata corners, as in reBEN (< 25 % unlabeled).
Pixels are class signatures (:mod:`.signatures`) with per-cover spatial texture, sub-class cover mixing,
patch-level illumination and sensor noise; 20/60 m bands are block means of the 10 m field.

S1 sees the same land cover (the CLC map) but nothing of S2's pixels: its own sub-cover mixing field,
its own texture (:data:`.signatures.SAR_TEXTURE`: structure, not spectra, e.g. urban double bounce),
a patch-level calibration/moisture offset, multiplicative gamma speckle (ENL 4.4, GRD-like), and it is
blind to clouds and dry snow. So a cross-sensor model must learn land cover, not copy texture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from worldclass.data.nomenclature import CLASSES19, CLC43, DROPPED_CODES, MAP_43_TO_19
from worldclass.data.synth.signatures import (
    _COVERS,
    CLC_COVERS,
    SAR_TEXTURE,
    TEXTURE,
    s1_signature,
    s2_signature,
)

SIZE = 120
#: reBEN train positives per 19-class label (original order) -> class sampling weights.
REBEN_TRAIN_COUNTS = (
    33626,
    6398,
    88236,
    15190,
    42968,
    51034,
    60127,
    15082,
    64164,
    76344,
    78791,
    6984,
    6329,
    64198,
    738,
    11344,
    670,
    30466,
    35914,
)
_CHILDREN: dict[str, list[int]] = {}
for _code, _name in CLC43:
    _parent = MAP_43_TO_19[_name]
    if _parent is not None:
        _CHILDREN.setdefault(_parent, []).append(_code)
_COVER_NAMES = list(_COVERS)
_S2_TABLE = np.stack([s2_signature(c) for c in _COVER_NAMES]).astype(np.float32)  # (covers, 12)
_S1_TABLE = np.stack([10 ** (s1_signature(c) / 10) for c in _COVER_NAMES]).astype(np.float32)  # linear


def smooth_noise(
    rng: np.random.Generator, scale: int, size: int = SIZE, n: int = 1
) -> npt.NDArray[np.float32]:
    """(n, size, size) zero-mean, unit-std noise with correlation length ~``scale`` px."""
    cells = max(2, size // max(scale, 1) + 2)
    low = torch.from_numpy(rng.standard_normal((1, n, cells, cells)).astype(np.float32))
    up = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=True)[0]
    up = up - up.mean(dim=(1, 2), keepdim=True)
    return (up / up.std(dim=(1, 2), keepdim=True).clamp(min=1e-6)).numpy()


def sample_codes(rng: np.random.Generator, weights: npt.NDArray[np.float64] | None = None) -> list[int]:
    """CLC codes of one patch: 1-6 distinct 19-class labels drawn by reBEN-like frequency, one child each."""
    w = np.asarray(REBEN_TRAIN_COUNTS, float) if weights is None else weights
    k = int(np.clip(1 + rng.poisson(1.9), 1, 6))
    chosen = rng.choice(len(CLASSES19), size=k, replace=False, p=w / w.sum())
    return [int(rng.choice(_CHILDREN[CLASSES19[c]])) for c in chosen]


def reference_map(rng: np.random.Generator, codes: list[int]) -> npt.NDArray[np.uint16]:
    """(120, 120) uint16 map of raw CLC codes; may add dropped-class features and a nodata corner."""
    n_seeds = len(codes) + int(rng.integers(0, 4))
    seed_codes = np.array(codes + [int(rng.choice(codes)) for _ in range(n_seeds - len(codes))])
    pts = rng.uniform(0, SIZE, size=(n_seeds, 2))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    warp = smooth_noise(rng, 30, n=2) * 12.0
    wy, wx = yy + warp[0], xx + warp[1]
    d = (wy[None] - pts[:, 0, None, None]) ** 2 + (wx[None] - pts[:, 1, None, None]) ** 2
    d *= rng.uniform(0.5, 1.5, size=(n_seeds, 1, 1))  # uneven region sizes
    m = seed_codes[np.argmin(d, axis=0)].astype(np.uint16)
    if rng.random() < 0.12:  # a road (122) across the patch
        a, b = rng.uniform(-1, 1, 2)
        line = np.abs(a * (xx - 60) + b * (yy - 60)) / np.hypot(a, b)
        m[line < rng.uniform(1.0, 2.5)] = 122
    if rng.random() < 0.08:  # a blob of another dropped class, < 25 % of the patch
        blob = smooth_noise(rng, 25)[0] > 1.3
        m[blob] = int(rng.choice([c for c in DROPPED_CODES if c != 122]))
    if rng.random() < 0.04:  # nodata corner
        c = int(rng.integers(5, 25))
        m[:c, :c] = 0
    return np.asarray(m, dtype=np.uint16)


_VEGETATION = [_COVER_NAMES.index(c) for c in ("conifer", "broadleaf", "crop", "pasture", "wetland", "moor")]
_DECIDUOUS = [_COVER_NAMES.index(c) for c in ("broadleaf", "crop", "pasture")]


@dataclass(frozen=True)
class Domain:
    """Where and when a patch was seen: ``gains`` (12,) per-band factors of the S2 signatures (atmosphere,
    sun angle, calibration of a country's scenes); ``phenology`` scales the red-edge/NIR bands (B05-B8A)
    of vegetation, deciduous covers twice as much (1 = summer; winter < 1); ``weights``: the country's
    19-class sampling weights (its label priors)."""

    gains: tuple[float, ...]
    phenology: float
    weights: tuple[float, ...]

    def table(self) -> npt.NDArray[np.float32]:
        """(covers, 12) S2 signatures of this domain."""
        t = _S2_TABLE * np.asarray(self.gains, np.float32)[None]
        t[np.ix_(_VEGETATION, range(4, 9))] *= self.phenology
        t[np.ix_(_DECIDUOUS, range(4, 9))] *= self.phenology
        return t.astype(np.float32)


@dataclass
class RenderedPatch:
    """Native arrays of one patch: ``s2`` band -> uint16 (120/60/20 px), ``s1`` band -> float32 dB,
    ``reference_map`` uint16 CLC codes, and the covers used."""

    s2: dict[str, npt.NDArray[Any]]
    s1: dict[str, npt.NDArray[np.float32]]
    reference_map: npt.NDArray[np.uint16]


def render(
    rng: np.random.Generator,
    m: npt.NDArray[np.uint16],
    *,
    snow: float = 0.0,
    cloud: float = 0.0,
    domain: Domain | None = None,
) -> RenderedPatch:
    """Pixels for map ``m``; ``snow``/``cloud`` = fraction of the patch covered (0 for clear patches);
    ``domain``: the country/season look (None: the common signatures)."""
    cover = _sub_covers(rng, m)
    if snow > 0:
        cover[smooth_noise(rng, 20)[0] > np.quantile(smooth_noise(rng, 20)[0], 1 - snow)] = (
            _COVER_NAMES.index("snow")
        )
    img = (_S2_TABLE if domain is None else domain.table())[cover]  # (120, 120, 12)
    tex = np.ones(m.shape, dtype=np.float32)
    for ci in np.unique(cover):
        amp, scale = TEXTURE[_COVER_NAMES[ci]]
        sel = cover == ci
        tex[sel] = 1 + amp * smooth_noise(rng, scale)[0][sel]
    illum = float(rng.normal(1.0, 0.08)) * rng.normal(1.0, 0.03, size=12)
    img = img * tex[..., None] * illum[None, None, :].astype(np.float32)
    img = img * (1 + rng.normal(0, 0.02, size=img.shape).astype(np.float32))
    if cloud > 0:
        field = smooth_noise(rng, 35)[0]
        alpha = np.clip((field - np.quantile(field, 1 - cloud)) * 2.0, 0, 1)[..., None]
        img = img * (1 - alpha) + 7000.0 * alpha
    img = np.clip(img, 1, 20000).transpose(2, 0, 1)  # (12, 120, 120)
    s2: dict[str, npt.NDArray[Any]] = {}
    from worldclass.data.sensors import S2_BANDS

    for i, band in enumerate(S2_BANDS):
        f = SIZE // band.size
        arr = img[i].reshape(band.size, f, band.size, f).mean(axis=(1, 3)) if f > 1 else img[i]
        s2[band.name] = np.round(arr).astype(np.uint16)
    return RenderedPatch(s2=s2, s1=render_s1(rng, m), reference_map=m)


def _sub_covers(rng: np.random.Generator, m: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
    """(120, 120) cover indices: each CLC region split into its covers by a smooth random field."""
    cover = np.zeros(m.shape, dtype=np.int64)
    mix = smooth_noise(rng, int(rng.integers(6, 20)))[0]
    mix_q = 0.5 * (1 + np.tanh(mix))  # in (0, 1), smooth fields of sub-covers
    for code in np.unique(m):
        sel = m == code
        covers = CLC_COVERS.get(int(code), [("soil", 1.0)])
        edges = np.cumsum([w for _, w in covers])
        idx = np.searchsorted(edges / edges[-1], mix_q[sel], side="right").clip(0, len(covers) - 1)
        cover[sel] = np.array([_COVER_NAMES.index(c) for c, _ in covers])[idx]
    return cover


def render_s1(rng: np.random.Generator, m: npt.NDArray[np.uint16]) -> dict[str, npt.NDArray[np.float32]]:
    """``{"VV", "VH"}`` (120, 120) float32 dB of map ``m``, drawn independently of the S2 rendering."""
    cover = _sub_covers(rng, m)
    tex = np.ones(m.shape, dtype=np.float32)
    for ci in np.unique(cover):
        amp, scale = SAR_TEXTURE[_COVER_NAMES[ci]]
        sel = cover == ci
        tex[sel] = np.exp(amp * smooth_noise(rng, scale)[0][sel])  # log-normal: backscatter is positive
    offset = 10 ** (rng.normal(0.0, 0.6, size=2) / 10)  # per-patch calibration / soil moisture, dB
    lin = _S1_TABLE[cover] * tex[..., None] * offset.astype(np.float32)  # (120, 120, 2)
    speckle = np.asarray(rng.gamma(4.4, 1 / 4.4, size=lin.shape), dtype=np.float32)
    db = 10 * np.log10(np.clip(lin * speckle, 1e-5, None))
    return {"VV": db[..., 0].astype(np.float32), "VH": db[..., 1].astype(np.float32)}
