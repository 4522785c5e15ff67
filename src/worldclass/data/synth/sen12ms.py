"""Synthetic SEN12MS and DFC2020 archives in the official layouts (names, folders, dtypes, UTM grids).

A patch is 256 x 256 px at 10 m: 2-5 DFC classes in blobby regions; each class has its S2 spectrum
(13 L1C bands, uint16 reflectance x 1e4, B10 cirrus near zero) and S1 backscatter (VV, VH, float32 dB)
from :mod:`worldclass.data.synth.signatures`, a **texture field shared by S1 and S2** (the same ground
structure), and **independent SAR speckle** (multiplicative gamma, 4.4 looks), so S1 does not copy S2's
pixels. Seasons differ (vegetation red-edge/NIR, crops turning to bare soil in winter, snow, soil
moisture in S1), scenes differ (per-band gain and offset: atmosphere, illumination), so a rule learnt on
one scene does not transfer exactly. SEN12MS labels are MODIS-like (IGBP on 64-px blocks, 10 % of blocks
off by a neighbouring class, three LCCS bands), DFC2020 labels are high resolution (DFC 1-10, 0 = no
data along some patch borders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from worldclass.data.sen12ms import IGBP_TO_DFC, SEASONS, SIZE
from worldclass.data.synth.guard import claim
from worldclass.data.synth.render import smooth_noise
from worldclass.data.synth.signatures import SAR_TEXTURE, TEXTURE, s1_signature, s2_signature

#: DFC class index -> ground covers drawn for its regions.
CLASS_COVERS: tuple[tuple[str, ...], ...] = (
    ("conifer", "broadleaf"),  # Forest
    ("moor",),  # Shrubland
    ("pasture", "moor"),  # Savanna (a mixture)
    ("pasture",),  # Grassland
    ("wetland",),  # Wetlands
    ("crop", "soil"),  # Croplands
    ("urban", "industry"),  # Urban/Built-up
    ("snow",),  # Snow/Ice
    ("soil", "sand"),  # Barren
    ("water",),  # Water
)
#: How often each class appears (DFC2020-like: forest, grass, crops, water common; savanna, snow rare).
CLASS_WEIGHTS = np.array([0.18, 0.1, 0.04, 0.15, 0.06, 0.17, 0.11, 0.02, 0.07, 0.1])
VEGETATION = {"conifer", "broadleaf", "crop", "pasture", "moor", "wetland"}
#: season -> (vegetation red-edge/NIR factor, S1 moisture shift in dB)
SEASON_EFFECT = {"spring": (0.85, 1.0), "summer": (1.0, 0.0), "fall": (0.75, 1.5), "winter": (0.5, -1.5)}
_RED_EDGE_NIR = [4, 5, 6, 7, 8, 9]  # B05 B06 B07 B08 B8A B09 in the 13-band order


def _s2_13(cover: str) -> npt.NDArray[np.float64]:
    s = s2_signature(cover)  # 12 bands, no B10
    return np.concatenate([s[:10], [15.0], s[10:]])


def class_map(rng: np.random.Generator, size: int = SIZE) -> npt.NDArray[np.int64]:
    """(size, size) DFC class indices: 2-5 classes in smooth regions."""
    k = int(rng.integers(2, 6))
    present = rng.choice(len(CLASS_WEIGHTS), size=k, replace=False, p=CLASS_WEIGHTS / CLASS_WEIGHTS.sum())
    fields = smooth_noise(rng, int(rng.integers(24, 64)), size, k) + rng.normal(0, 0.5, (k, 1, 1))
    return present[np.argmax(fields, 0)].astype(np.int64)  # type: ignore[no-any-return]


def render(
    rng: np.random.Generator, classes: npt.NDArray[np.int64], season: str, gain: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.float32]]:
    """S2 (13, H, W) uint16 and S1 (2, H, W) float32 dB of a class map in ``season``; ``gain`` (13,)
    per-band scene gain."""
    h, w = classes.shape
    veg, moist = SEASON_EFFECT[season]
    s2 = np.zeros((13, h, w), np.float64)
    s1 = np.zeros((2, h, w), np.float64)  # linear backscatter
    for c in np.unique(classes):
        covers = CLASS_COVERS[int(c)]
        region = classes == c
        cover = covers[int(rng.integers(len(covers)))]
        spec = _s2_13(cover)
        sar = 10 ** (s1_signature(cover) / 10)
        if int(c) == 2:  # savanna: grass and shrub mixed
            spec = 0.6 * _s2_13("pasture") + 0.4 * _s2_13("moor")
        if cover in VEGETATION:
            spec = spec.copy()
            spec[_RED_EDGE_NIR] *= veg
            if cover == "crop":  # harvested / ploughed fields out of season
                spec = veg * spec + (1 - veg) * _s2_13("soil")
        amp, scale = TEXTURE[cover]
        sar_amp = SAR_TEXTURE[cover][0]
        texture = smooth_noise(rng, scale, h, 1)[0]  # one ground structure seen by both sensors
        s2[:, region] = spec[:, None] * (1 + amp * texture[region])[None]
        s1[:, region] = sar[:, None] * np.exp(sar_amp * texture[region])[None]
    s2 = s2 * gain[:, None, None] + rng.normal(0, 20, s2.shape) + 0.015 * s2 * rng.standard_normal(s2.shape)
    speckle = rng.gamma(4.4, 1 / 4.4, s1.shape)  # independent of S2: what S1 adds on its own
    db = 10 * np.log10(np.maximum(s1 * speckle, 1e-6)) + moist * np.array([1.0, 0.6])[:, None, None]
    return np.clip(s2, 1, 28000).astype(np.uint16), db.astype(np.float32)


def _write(path: Path, arr: np.ndarray, epsg: int, x: float, y: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": from_origin(x, y, 10.0, 10.0),
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


def _igbp_of(rng: np.random.Generator, dfc: int) -> int:
    codes = np.flatnonzero(dfc + 1 == IGBP_TO_DFC)
    return int(rng.choice(codes))


def modis_labels(
    rng: np.random.Generator, classes: npt.NDArray[np.int64], block: int = 64
) -> npt.NDArray[np.uint16]:
    """SEN12MS-like ``lc`` (4, H, W) uint16: IGBP (majority class per ``block`` px, 10 % of blocks off by
    a neighbouring class), then LCCS land cover / land use / surface hydrology codes."""
    h, w = classes.shape
    igbp = np.zeros((h, w), np.uint16)
    for y in range(0, h, block):
        for x in range(0, w, block):
            cell = classes[y : y + block, x : x + block]
            major = int(np.bincount(cell.ravel(), minlength=10).argmax())
            if rng.random() < 0.1:
                major = int(np.clip(major + rng.choice([-1, 1]), 0, 9))
            igbp[y : y + block, x : x + block] = _igbp_of(rng, major)
    lccs = (igbp.astype(np.int64) * 3 + 10).astype(np.uint16)
    return np.stack([igbp, lccs, lccs + 1, np.where(igbp == 17, 3, 1).astype(np.uint16)])


def synth_sen12ms(
    root: str | Path, *, scenes: int = 2, patches: int = 3, test_scenes: int = 1, seed: int = 0
) -> Path:
    """SEN12MS layout: per season ``scenes`` scenes of ``patches`` patches (a 2-patch-wide grid); the
    first ``test_scenes`` scenes of every season form ``test_list.txt``, the rest ``train_list.txt``.
    Also writes the official broken triplet name (summer scene 146, p202, S1 file truncated)."""
    root = Path(root)
    claim(
        root,
        {"generator": "sen12ms", "scenes": scenes, "patches": patches, "test": test_scenes, "seed": seed},
    )
    rng = np.random.default_rng(seed)
    train: list[str] = []
    test: list[str] = []
    for k, season_dir in enumerate(SEASONS):
        season = season_dir.split("_")[1]
        ids = rng.choice(np.arange(1, 146), size=scenes, replace=False)
        for j, scene in enumerate(sorted(int(i) for i in ids)):
            epsg = 32600 + int(rng.integers(29, 36))
            x0, y0 = float(rng.integers(3, 7)) * 1e5, float(rng.integers(45, 60)) * 1e5
            gain = rng.normal(1.0, 0.08, 13).clip(0.8, 1.2)
            for p in range(patches):
                n = int(rng.integers(1, 900))
                classes = class_map(rng)
                s2, s1 = render(rng, classes, season, gain)
                x, y = x0 + (p % 2) * SIZE * 10, y0 - (p // 2) * SIZE * 10
                stem = f"{season_dir}_{{}}_{scene}_p{n}.tif"
                _write(root / season_dir / f"s2_{scene}" / stem.format("s2"), s2, epsg, x, y)
                _write(root / season_dir / f"s1_{scene}" / stem.format("s1"), s1, epsg, x, y)
                _write(
                    root / season_dir / f"lc_{scene}" / stem.format("lc"),
                    modis_labels(rng, classes),
                    epsg,
                    x,
                    y,
                )
                (test if j < test_scenes else train).append(stem.format("s2"))
        if k == 1:  # the official release's broken triplet
            for mod in ("s2", "s1", "lc"):
                path = root / season_dir / f"{mod}_146" / f"{season_dir}_{mod}_146_p202.tif"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"II*\x00" if mod == "s1" else b"")
    (root / "train_list.txt").write_text("".join(f"{n}\n" for n in sorted(set(train))))
    (root / "test_list.txt").write_text("".join(f"{n}\n" for n in sorted(set(test))))
    return root


def synth_dfc2020(root: str | Path, *, validation: int = 24, test: int = 12, seed: int = 0) -> Path:
    """DFC2020 contest layout: ``validation`` + ``test`` patches with high-resolution DFC labels
    (uint16 1-10; a no-data strip (0) along one border of every fifth patch), seasons and scenes mixed."""
    root = Path(root)
    claim(root, {"generator": "dfc2020", "validation": validation, "test": test, "seed": seed})
    rng = np.random.default_rng(seed)
    for folder, token, count in (
        ("ROIs0000_validation", "validation", validation),
        ("ROIs0000_test", "0", test),
    ):
        for n in range(count):
            season = ("spring", "summer", "fall", "winter")[int(rng.integers(4))]
            gain = rng.normal(1.0, 0.08, 13).clip(0.8, 1.2)
            classes = class_map(rng)
            s2, s1 = render(rng, classes, season, gain)
            labels = (classes + 1).astype(np.uint16)[None]
            if n % 5 == 4:
                labels[:, :, : int(rng.integers(8, 40))] = 0
            epsg = 32600 + int(rng.integers(29, 36))
            x, y = float(rng.integers(3, 7)) * 1e5, float(rng.integers(45, 60)) * 1e5
            name = f"{folder}_{{}}_0_p{n + 1}.tif"
            _write(root / folder / f"s2_{token}" / name.format("s2"), s2, epsg, x, y)
            _write(root / folder / f"s1_{token}" / name.format("s1"), s1, epsg, x, y)
            _write(root / folder / f"dfc_{token}" / name.format("dfc"), labels, epsg, x, y)
    return root
