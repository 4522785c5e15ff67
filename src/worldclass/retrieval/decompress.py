"""``worldclass decompress ARCHIVE --out DIR``: restore patches of a compressed archive as GeoTIFFs and
measure what the codec lost.

Each patch becomes ``DIR/<patch_id>.tif``: the bands the codec was trained on, in that order and named,
all at the 10 m grid the codec saw (120 x 120 px for BigEarthNet; 20/60 m bands as resampled for
training), S2 as uint16 reflectance (rounded, clipped), S1 as float32 dB; placed on the patch's own
grid (CRS and centre from the source store's table) when the store is reachable. Written atomically;
a rerun skips the patches already written. With the source store reachable, the same patches are read
from it exactly as the codec was fed, and per band the PSNR (peak = the band's range over the compared
patches) and the mean SSIM (torchmetrics; data range = the original patch's band range) are reported,
plus their means over the bands, and the PSNR of the trivial codec that stores only each band's mean
(``psnr_mean_predictor``: what the learned one must beat).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic
from worldclass.retrieval.archive import Archive, _codec, _plan

Progress = Callable[[int, int], None]


def _georef(store: str, ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """patch id -> (CRS, transform) of its 120 px, 10 m grid from the store's table (centre x, y)."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from worldclass.data.open import open_source

    try:
        table = open_source(store).table()
    except Exception:
        return {}
    cols = set(table.column_names)
    if not {"x", "y", "crs"} <= cols:
        return {}
    wanted = set(ids)
    out = {}
    for pid, x, y, crs in zip(
        *(table.column(c).to_pylist() for c in ("patch_id", "x", "y", "crs")), strict=True
    ):
        if pid in wanted and x is not None and crs:
            out[pid] = (CRS.from_user_input(crs), from_origin(x - 600, y + 600, 10, 10))
    return out


def _write(path: Path, pixels: np.ndarray, bands: Sequence[str], georef: tuple[Any, Any] | None) -> None:
    import rasterio

    s1 = [b in ("VV", "VH") for b in bands]
    dtype = "float32" if all(s1) else "uint16" if not any(s1) else "float32"
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": pixels.shape[1],
        "width": pixels.shape[2],
        "count": len(bands),
        "dtype": dtype,
        "compress": "deflate",
    }
    if georef is not None:
        profile.update(crs=georef[0], transform=georef[1])
    tmp = path.with_name(path.name + ".tmp")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(pixels.astype(dtype))
        dst.descriptions = tuple(bands)
    os.replace(tmp, path)


def _ssim_per_band(decoded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """SSIM of each band (C,) of one patch, data range = the original band's range (both images divided
    by it, which leaves SSIM unchanged and lets one float32 call do all bands)."""
    from worldclass.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # torchmetrics imports torchvision
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    c = original.shape[0]
    flat = original.reshape(c, -1)
    span = np.maximum(flat.max(1) - flat.min(1), 1e-6)[:, None, None]
    a = torch.from_numpy((decoded / span).astype(np.float32))[:, None]
    b = torch.from_numpy((original / span).astype(np.float32))[:, None]
    score: Any = ssim(a, b, data_range=1.0, reduction="none")
    return np.asarray(score.numpy(), np.float64)


def _to_native(x: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """Denormalised (C, H, W) float -> S2 reflectance rounded and clipped to uint16 range, S1 unchanged."""
    out = x.copy()
    for i, b in enumerate(bands):
        if b not in ("VV", "VH"):
            out[i] = np.clip(np.round(out[i]), 0, 65535)
    return out


@torch.no_grad()
def decompress(
    archive_path: Path | str,
    out: Path | str,
    *,
    ids: Sequence[str] | None = None,
    compare: bool = True,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Decode ``ids`` (default: every patch) to ``out``; returns {"patches", "written", "skipped",
    "quality": per band PSNR/SSIM (with the source store), "bpp"}; also ``out/quality.json``."""
    from worldclass.models.codec import decode_latents

    archive = Archive(archive_path)
    info = archive.info
    ckpt = info["checkpoint"]["path"]
    if not Path(ckpt).is_file():
        raise ConfigError(f"{archive.path}: its codec checkpoint {ckpt} is not there; decoding needs it")
    from worldclass.io import file_sha256

    if file_sha256(ckpt) != info["checkpoint"]["sha256"]:
        raise ConfigError(f"{ckpt}: not the checkpoint this archive was written with (SHA-256 differs)")
    model, _ = _codec(ckpt)
    wanted = list(ids) if ids is not None else list(archive.ids)
    rows = [archive.row(i) for i in wanted]
    bands = list(info["bands"])
    mean = np.asarray(info["preprocessing"]["mean"], np.float32)[:, None, None]
    std = np.asarray(info["preprocessing"]["std"], np.float32)[:, None, None]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store_ok = compare and Path(info["source"]).exists()
    plan = _plan(ckpt, info["source"]) if store_ok else None
    plan_row = {p: n for n, p in enumerate(plan.patch_ids)} if plan is not None else {}
    grid = _georef(info["source"], wanted) if Path(info["source"]).exists() else {}
    shape = tuple(info["latent_shape"])
    sq, count, ssim_sum = np.zeros(len(bands)), 0, np.zeros(len(bands))
    total, total_sq = np.zeros(len(bands)), np.zeros(len(bands))  # of the originals: the mean predictor
    lo, hi = np.full(len(bands), np.inf), np.full(len(bands), -np.inf)
    written = skipped = 0
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start : start + batch_size]
        y_hat = decode_latents(archive.streams(chunk), model, shape)
        x_hat = model.decode(y_hat).numpy() * std + mean
        for n, pid in enumerate(chunk):
            native = _to_native(x_hat[n], bands)
            path = out / f"{pid}.tif"
            if path.is_file():
                skipped += 1
            else:
                _write(path, native, bands, grid.get(pid))
                written += 1
            if plan is not None and pid in plan_row:
                original = plan.dataset[plan_row[pid]]["image"].numpy() * std + mean
                err = (native - original) ** 2
                sq += err.reshape(len(bands), -1).mean(1)
                total += original.reshape(len(bands), -1).mean(1)
                total_sq += (original.astype(np.float64) ** 2).reshape(len(bands), -1).mean(1)
                count += 1
                lo = np.minimum(lo, original.reshape(len(bands), -1).min(1))
                hi = np.maximum(hi, original.reshape(len(bands), -1).max(1))
                ssim_sum += _ssim_per_band(native, original)
        if progress is not None:
            progress(min(start + batch_size, len(wanted)), len(wanted))
    result: dict[str, Any] = {
        "archive": str(archive.path),
        "out": str(out),
        "patches": len(rows),
        "written": written,
        "skipped_existing": skipped,
        "bpp": info["bpp"],
    }
    if count:
        peak = np.maximum(hi - lo, 1e-6)
        mse = sq / count
        psnr = 10 * np.log10(peak**2 / np.maximum(mse, 1e-12))
        variance = np.maximum(total_sq / count - (total / count) ** 2, 1e-12)  # MSE of each band's mean
        baseline = 10 * np.log10(peak**2 / variance)
        result["quality"] = {
            "compared": count,
            "per_band": {
                b: {"psnr": float(p), "ssim": float(s / count), "rmse": float(np.sqrt(m))}
                for b, p, s, m in zip(bands, psnr, ssim_sum, mse, strict=True)
            },
            "psnr_mean": float(psnr.mean()),
            "psnr_mean_predictor": float(baseline.mean()),
            "ssim_mean": float((ssim_sum / count).mean()),
        }
        write_json_atomic(out / "quality.json", result)
    return result
