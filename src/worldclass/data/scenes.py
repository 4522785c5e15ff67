"""Windows over georeferenced scenes with raster or vector labels, for segmentation training.

A :class:`Scene` is one image raster plus either a label raster on the same grid (class values through
a lookup table, or RGB colour codes through a :class:`~worldclass.data.colour_labels.ColourTable`), a
vector file (GPKG/GeoJSON/Shapefile/FlatGeobuf) rasterized on the fly onto each window's grid
(reprojected to the scene CRS if needed), or polygons in pixel coordinates (COCO annotations). :class:`SceneDataset` yields dicts ``image`` float32 (C, s, s) normalised as
``(raw * scale - mean) / std``, ``mask`` int64 (s, s) class indices with :data:`IGNORE_INDEX` for
unlabelled/unknown pixels, ``group`` (e.g. the city) and ``scene`` (file stem).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
import torch
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform
from torch.utils.data import Dataset

from worldclass.data.colour_labels import ColourTable
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.rasters import open_raster, window_starts
from worldclass.errors import DataError, LabelError

#: In a scene's ``label_lut``: a raw value that the label scheme does not define (refused, not ignored).
INVALID_LABEL = 254


class PatchSource(Protocol):
    """Pixels of a scene kept outside a raster file (e.g. a patch of a triplet store): ``count`` bands of
    type ``dtype`` named ``descriptions``, ``height`` x ``width`` px."""

    count: int
    dtype: str
    descriptions: tuple[str, ...]
    height: int
    width: int

    def read(self, bands: Sequence[int] | None, window: Window) -> np.ndarray:
        """Bands (1-based, default all) of ``window``: (C, h, w) of ``dtype``."""
        ...

    def read_label(self, window: Window) -> np.ndarray:
        """Raw label values (h, w) of ``window`` (through the scene's ``label_lut``)."""
        ...


@dataclass
class Scene:
    """One scene. ``label_lut`` maps raw label values to class indices (default: identity, values >=
    number of classes -> ignore; :data:`INVALID_LABEL` entries and values past its end are refused); ``label_colours`` decodes 3-band colour-coded labels instead.
    ``eroded_labels``: the benchmark's reference with object borders removed (same encoding), scored
    beside the full one. ``shapes``: (polygon in pixel coordinates, class index) pairs burnt in order.
    ``image_nodata``: pixels whose bands all equal it are unlabelled (e.g. white no-data in
    Massachusetts tiles). ``rows``: the fraction of rows used (spatial hold-out). ``source``: pixels and
    raw labels read from it instead of ``image`` / ``labels`` (``image`` then only names the scene)."""

    image: Path
    labels: Path | None = None
    vector: Path | None = None
    class_column: str = "class"
    group: str = ""
    label_lut: np.ndarray | None = None
    rows: tuple[float, float] = (0.0, 1.0)
    label_colours: ColourTable | None = None
    eroded_labels: Path | None = None
    shapes: tuple[tuple[Any, int], ...] | None = None
    image_nodata: int | None = None
    source: PatchSource | None = None
    _shape: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.image.stem

    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        if self._shape is None and self.source is not None:
            self._shape = (self.source.height, self.source.width)
        if self._shape is None:
            with open_raster(self.image) as src:
                self._shape = (src.height, src.width)
        return self._shape

    def row_range(self) -> tuple[int, int]:
        h = self.shape()[0]
        return round(self.rows[0] * h), round(self.rows[1] * h)


class _Handles:
    """Per-process cache of open rasters (the :data:`MAX_OPEN` most recently used: an archive of 280k
    CrowdAI tiles must not exhaust the file descriptors) and loaded vector layers (safe across DataLoader
    workers)."""

    MAX_OPEN = 128

    def __init__(self) -> None:
        self.pid = -1
        self.rasters: OrderedDict[Path, Any] = OrderedDict()
        self.vectors: dict[tuple[Path, str], tuple[shapely.STRtree, np.ndarray, np.ndarray]] = {}

    def check(self) -> None:
        if self.pid != os.getpid():
            self.pid, self.rasters, self.vectors = os.getpid(), OrderedDict(), {}

    def raster(self, path: Path) -> Any:
        self.check()
        if path in self.rasters:
            self.rasters.move_to_end(path)
        else:
            self.rasters[path] = open_raster(path)
            while len(self.rasters) > self.MAX_OPEN:
                self.rasters.popitem(last=False)[1].close()
        return self.rasters[path]


_HANDLES = _Handles()


def class_values(values: np.ndarray, classes: Sequence[str], path: Path, column: str) -> np.ndarray:
    """Vector attribute -> class index: integers as given, strings by class name."""
    if values.dtype.kind in "iu":
        bad = values[(values < 0) | (values >= len(classes))]
        if bad.size:
            raise LabelError(
                f"{path}: column {column!r} has class {int(bad[0])} outside 0..{len(classes) - 1}"
            )
        return values.astype(np.int64)
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    out = np.empty(len(values), np.int64)
    for i, v in enumerate(values):
        if str(v).lower() not in lookup:
            raise LabelError(f"{path}: column {column!r} has unknown class {v!r}; known: {list(classes)}")
        out[i] = lookup[str(v).lower()]
    return out


def vector_layer(
    scene: Scene, classes: Sequence[str], crs: Any
) -> tuple[shapely.STRtree, np.ndarray, np.ndarray]:
    """(spatial index, geometries in the scene CRS, class indices) of a scene's vector labels (cached)."""
    from worldclass.data.vector import read_polygons, reproject

    assert scene.vector is not None
    _HANDLES.check()
    key = (scene.vector, str(crs))
    if key not in _HANDLES.vectors:
        geoms, cols, vcrs = read_polygons(scene.vector)
        if scene.class_column not in cols:
            raise LabelError(
                f"{scene.vector}: no column {scene.class_column!r} (has {sorted(cols)}); set class_column"
            )
        if vcrs is None:
            raise DataError(f"{scene.vector}: the vector file has no CRS; assign one before training")
        values = class_values(np.asarray(cols[scene.class_column]), classes, scene.vector, scene.class_column)
        geoms = reproject(geoms, vcrs, crs)
        _HANDLES.vectors[key] = (shapely.STRtree(geoms), geoms, values)
    return _HANDLES.vectors[key]


def read_window(
    scene: Scene, window: Window, classes: Sequence[str], bands: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw pixels (C, h, w) and class mask (h, w) uint8 (ignore = 255) of ``window``."""
    if scene.source is not None:
        return scene.source.read(bands, window), read_labels(scene, window, classes)
    image = _HANDLES.raster(scene.image).read(list(bands) if bands else None, window=window)
    return image, read_labels(scene, window, classes)


def _raster_labels(scene: Scene, path: Path, window: Window, classes: Sequence[str]) -> np.ndarray:
    src = _HANDLES.raster(scene.image)
    lab = _HANDLES.raster(path)
    if (lab.height, lab.width) != (src.height, src.width):
        raise DataError(
            f"{path}: label is {lab.height}x{lab.width} px but its image {scene.image.name} is "
            f"{src.height}x{src.width}; the two must be the same tile (check the file pairing)"
        )
    if scene.label_colours is not None:
        if lab.count < 3:
            raise DataError(f"{path}: {lab.count} band(s); a colour-coded (RGB) label image is expected")
        rgb = lab.read([1, 2, 3], window=window)
        return scene.label_colours.decode(rgb, path, (int(window.row_off), int(window.col_off)))
    return _apply_lut(scene, lab.read(1, window=window), path, window, classes)


def _apply_lut(
    scene: Scene, raw: np.ndarray, path: Path, window: Window, classes: Sequence[str]
) -> np.ndarray:
    """Raw label values -> class indices through the scene's ``label_lut`` (refusing undefined values)."""
    lut = scene.label_lut
    if lut is None:
        lut = np.full(256, IGNORE_INDEX, np.uint8)
        lut[: len(classes)] = np.arange(len(classes))
        return lut[raw]  # type: ignore[no-any-return]
    out = lut[np.minimum(raw, len(lut) - 1)]
    bad = (out == INVALID_LABEL) | (raw >= len(lut))
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise LabelError(
            f"{path}: label value {int(raw[r, c])} at row {r + int(window.row_off)}, col {c + int(window.col_off)} "
            "is outside the dataset's label scheme; replace the file with the official one (re-encode a store)"
        )
    return out  # type: ignore[no-any-return]


def read_labels(
    scene: Scene, window: Window, classes: Sequence[str], *, eroded: bool = False
) -> np.ndarray | None:
    """Class mask (h, w) uint8 (ignore = 255) of ``window`` (inside the scene), or None without labels;
    ``eroded``: the scene's eroded-boundary reference (None if it has none). Pixels that are image
    no-data (``scene.image_nodata``) are ignore."""
    mask = _labels(scene, window, classes, eroded)
    if mask is not None and scene.image_nodata is not None:
        image = _HANDLES.raster(scene.image).read(window=window)
        mask[(image == scene.image_nodata).all(0)] = IGNORE_INDEX
    return mask


def _labels(scene: Scene, window: Window, classes: Sequence[str], eroded: bool) -> np.ndarray | None:
    h, w = int(window.height), int(window.width)
    if eroded:
        return (
            None
            if scene.eroded_labels is None
            else _raster_labels(scene, scene.eroded_labels, window, classes)
        )
    if scene.source is not None:
        return _apply_lut(scene, scene.source.read_label(window), scene.image, window, classes)
    if scene.labels is not None:
        return _raster_labels(scene, scene.labels, window, classes)
    if scene.shapes is not None:
        mask = np.zeros((h, w), np.uint8)
        if scene.shapes:
            t = Affine.translation(int(window.col_off), int(window.row_off))
            mask = rasterize(scene.shapes, out_shape=(h, w), transform=t, fill=0, dtype="uint8")
        return mask
    if scene.vector is not None:
        src = _HANDLES.raster(scene.image)
        tree, geoms, values = vector_layer(scene, classes, src.crs)
        t = window_transform(window, src.transform)
        hits = tree.query(shapely.box(*window_bounds(window, src.transform)))
        hits.sort()  # file order: later features are burnt over earlier ones
        mask = np.zeros((h, w), np.uint8)
        if len(hits):
            mask = rasterize(
                zip(geoms[hits], values[hits], strict=True),
                out_shape=(h, w),
                transform=t,
                fill=0,
                dtype="uint8",
            )
        return mask
    return None


class SceneDataset(Dataset[dict[str, Any]]):
    """Training/validation windows over scenes.

    ``mode="random"``: ``samples_per_epoch`` windows of ``size`` px, scene chosen by area, random
    position and D4 flip/rotation (torch RNG, so reproducible under a seed and new every epoch).
    ``mode="grid"``: every scene cut into windows of stride ``size``, in order; the last window of an
    axis is shifted inside the scene, and the pixels it shares with its neighbour are labelled ignore in
    it, so that each pixel is counted once (by the earlier window, as ``evaluate`` blends at overlap 0).
    Scenes smaller than ``size`` are padded with ignore labels.
    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        classes: Sequence[str],
        *,
        size: int = 256,
        mode: str = "random",
        samples_per_epoch: int = 1000,
        scale: float = 1 / 255,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        augment: bool = True,
    ) -> None:
        if not scenes:
            raise DataError("no scenes to read: check the data root")
        self.scenes, self.classes, self.size, self.mode = list(scenes), list(classes), size, mode
        self.bands = list(bands) if bands else None
        self.scale, self.augment = scale, augment
        n = self.num_bands()
        self.mean = np.asarray(mean if mean is not None else [0.0] * n, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std if std is not None else [1.0] * n, np.float32).reshape(-1, 1, 1)
        self.samples_per_epoch = samples_per_epoch
        self.windows: list[tuple[int, Window]] = []
        self._shared: list[tuple[int, int]] = []  # (rows, cols) at the window's start seen before
        if mode == "grid":
            self._grid()
        areas = np.array([(s.row_range()[1] - s.row_range()[0]) * s.shape()[1] for s in self.scenes], float)
        self._p = torch.from_numpy(areas / areas.sum())

    def num_bands(self) -> int:
        if self.bands:
            return len(self.bands)
        if self.scenes[0].source is not None:
            return self.scenes[0].source.count
        with open_raster(self.scenes[0].image) as src:
            return int(src.count)

    def _grid(self) -> None:
        for i, s in enumerate(self.scenes):
            r0, r1 = s.row_range()
            w = s.shape()[1]
            ys, xs = window_starts(r1 - r0, self.size, 0), window_starts(w, self.size, 0)
            for a, y in enumerate(ys):
                for b, x in enumerate(xs):
                    self.windows.append((i, Window(x, r0 + y, min(self.size, w), min(self.size, r1 - r0))))
                    shared_y = ys[a - 1] + self.size - y if a else 0
                    shared_x = xs[b - 1] + self.size - x if b else 0
                    self._shared.append((shared_y, shared_x))

    def __len__(self) -> int:
        return len(self.windows) if self.mode == "grid" else self.samples_per_epoch

    def _random_window(self) -> tuple[int, Window]:
        i = int(torch.multinomial(self._p, 1).item())
        r0, r1 = self.scenes[i].row_range()
        w = self.scenes[i].shape()[1]
        y = r0 + int(torch.randint(0, max(r1 - r0 - self.size, 0) + 1, ()).item())
        x = int(torch.randint(0, max(w - self.size, 0) + 1, ()).item())
        return i, Window(x, y, min(self.size, w), min(self.size, r1 - r0))

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, win = self.windows[index] if self.mode == "grid" else self._random_window()
        scene = self.scenes[i]
        raw, mask = read_window(scene, win, self.classes, self.bands)
        image = (raw.astype(np.float32) * self.scale - self.mean) / self.std
        if mask is None:
            mask = np.full(raw.shape[1:], IGNORE_INDEX, np.uint8)
        if self.mode == "grid":
            sy, sx = self._shared[index]
            mask[:sy] = IGNORE_INDEX
            mask[:, :sx] = IGNORE_INDEX
        ph, pw = self.size - image.shape[1], self.size - image.shape[2]
        if ph > 0 or pw > 0:
            image = np.pad(image, ((0, 0), (0, ph), (0, pw)))
            mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
        x, m = torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(mask.astype(np.int64))
        if self.mode == "random" and self.augment:
            k = int(torch.randint(0, 4, ()).item())
            x, m = torch.rot90(x, k, (1, 2)), torch.rot90(m, k, (0, 1))
            if torch.rand(()) < 0.5:
                x, m = x.flip(2), m.flip(1)
            x, m = x.contiguous(), m.contiguous()
        return {"image": x, "mask": m, "group": scene.group, "scene": scene.name, "index": index}
