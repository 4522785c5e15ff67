"""Builders of bad inputs for the fault tables: damaged archives, stores, checkpoints, maps and indexes
made from the session's small synthetic fixtures (official layouts) in a private folder."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
import yaml
from harness import Ctx
from rasterio.transform import from_origin

from worldclass.data.bigearthnet import naming


def first_patch(root: Path) -> tuple[str, str]:
    t = pq.read_table(root / naming.V2_METADATA).to_pydict()
    return t["patch_id"][0], t["s1_name"][0]


def with_labels(root: Path, make: Callable[[int], pa.Array]) -> None:
    """Replace the ``labels`` column of the v2 metadata with ``make(rows)``."""
    t = pq.read_table(root / naming.V2_METADATA)
    labels = make(len(t))
    pq.write_table(t.set_column(t.column_names.index("labels"), "labels", labels), root / naming.V2_METADATA)


def rewrite_band(path: Path, *, crs: str | None = None, fill: float | None = None) -> None:
    """Write ``path`` again with another CRS and/or every pixel set to ``fill`` (same size and dtype)."""
    with rasterio.open(path) as src:
        profile, arr = src.profile, src.read(1)
    if crs is not None:
        profile["crs"] = crs
    if fill is not None:
        arr = np.full_like(arr, fill)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def flip_byte(path: Path, at: float = 0.5) -> Path:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def class_map(
    path: Path, *, bands: int = 1, classes: list[str] | None = None, size: int = 64, noise: bool = False
) -> Path:
    """A uint8 class map as `worldclass map` writes it (UTM 31N, 1 m pixels, ``classes`` tag); ``noise``:
    random 0/1 pixels (incompressible, for full-disk cases)."""
    rng = np.random.default_rng(0)
    arr = (
        rng.integers(0, 2, (bands, size, size), dtype=np.uint8)
        if noise
        else np.zeros((bands, size, size), np.uint8)
    )
    for _ in range(6):
        y, x = rng.integers(0, size - 12, 2)
        arr[:, y : y + 10, x : x + 10] = 1
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=bands,
        dtype="uint8",
        crs="EPSG:32631",
        transform=from_origin(500000, 5000000, 1.0, 1.0),
    ) as dst:
        dst.write(arr)
        if classes is not None:
            dst.update_tags(classes=json.dumps(classes))
    return path


def polygons(ctx: Ctx, name: str) -> Path:
    from worldclass.mapping.polygonize import polygonize

    out = ctx.tmp / f"{name}.gpkg"
    polygonize(class_map(ctx.tmp / f"{name}.tif", classes=["background", "building"]), out, workers=0)
    return out


def train_config(ctx: Ctx, store: Path | str, out: Path | str, **sections: dict[str, object]) -> Path:
    """A CPU-sized classification config file (resnet10t, 2 batches of 8) with ``sections`` merged in."""
    cfg: dict[str, dict[str, object]] = {
        "data": {"root": str(store), "bands": "s2-10+s1", "batch_size": 8, "num_workers": 0},
        "model": {"backbone": "resnet10t", "drop_path_rate": 0.0},
        "optim": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "warmup_steps": 1},
        "trainer": {"out": str(out), "progress": False},
    }
    for key, values in sections.items():
        cfg.setdefault(key, {}).update(values)
    path = ctx.tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def index_of(ctx: Ctx, name: str = "idx") -> Path:
    from worldclass.retrieval.index import build_index

    out = ctx.tmp / name
    build_index(ctx.fx("ssl_embeddings"), out, "flat")
    return out


def busy_port() -> tuple[socket.socket, int]:
    """A listening socket on a free local port (kept open by the caller while the case runs)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, int(sock.getsockname()[1])


def good_file(ctx: Ctx, name: str, text: str = "patch_id,split\nprevious,good\n") -> Path:
    """A previous good output that a failed run must leave byte-identical."""
    path = ctx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
