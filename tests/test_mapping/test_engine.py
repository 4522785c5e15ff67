"""Streaming inference: seamless, exact blending, nodata, small scenes, COG output, bad inputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from rasterio.windows import Window
from torch import nn

from worldclass.errors import ConfigError, CorruptFileError, DataError
from worldclass.mapping.engine import run_grid
from worldclass.mapping.predictor import Predictor
from worldclass.mapping.tiling import Grid, axis_crop_weights, axis_weights, starts
from worldclass.mapping.whole_scene import map_scenes


def pointwise_predictor(bands: int = 3, classes: int = 3) -> Predictor:
    """A 1x1-conv model: its prediction of a pixel does not depend on the tile, so any seam is a bug."""
    net = nn.Conv2d(bands, classes, 1)
    torch.manual_seed(0)
    nn.init.normal_(net.weight, std=2.0)
    return Predictor(
        net=net,
        bands=["red", "green", "blue"][:bands],
        classes=[f"c{i}" for i in range(classes)],
        scale=1 / 255,
        mean=np.full(bands, 0.5, np.float32),
        std=np.full(bands, 0.25, np.float32),
        dtype="uint8",
    )


def reference_probs(pred: Predictor, image: np.ndarray) -> np.ndarray:
    return pred(image[None])[0]


def write_scene(
    path: Path, image: np.ndarray, *, crs: str | None = "EPSG:32633", nodata: int | None = None
) -> Path:
    profile = dict(
        driver="GTiff",
        height=image.shape[1],
        width=image.shape[2],
        count=image.shape[0],
        dtype=image.dtype,
        transform=from_origin(500000, 5000000, 0.5, 0.5),
        nodata=nodata,
    )
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image)
    return path


class ArraySink:
    def __init__(self, k: int, h: int, w: int) -> None:
        self.probs = np.full((k, h, w), np.nan, np.float32)
        self.valid = np.zeros((h, w), bool)
        self.writes = np.zeros((h, w), np.int32)

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        sl = window.toslices()
        self.probs[(slice(None), *sl)] = probs
        self.valid[sl] = valid
        self.writes[sl] += 1


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(20, 300),
    w=st.integers(20, 300),
    tile=st.sampled_from([64, 96, 128]),
    frac=st.sampled_from([0, 4, 8, 2]),
    batch=st.integers(1, 5),
    blend=st.sampled_from(["hann", "crop"]),
)
def test_streamed_blend_equals_whole_image(tmp_path_factory, h, w, tile, frac, batch, blend) -> None:
    overlap = tile // frac if frac else 0
    rng = np.random.default_rng(h * 1000 + w)
    image = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    path = write_scene(tmp_path_factory.mktemp("s") / "s.tif", image)
    pred = pointwise_predictor()
    sink = ArraySink(3, h, w)
    tiles = run_grid(
        pred,
        str(path),
        sink,
        height=h,
        width=w,
        indexes=[1, 2, 3],
        tile=tile,
        overlap=overlap,
        blend=blend,
        batch_size=batch,
    )
    assert tiles == len(Grid(h, w, tile, overlap, blend))
    assert (sink.writes == 1).all()  # every pixel handed on exactly once
    np.testing.assert_allclose(sink.probs, reference_probs(pred, image), atol=2e-5)
    assert sink.valid.all()


@pytest.mark.parametrize("n", [1000, 128 + 9 * 96])  # last tile shifted back by 24 px; nominal grid
def test_hann_weights_partition_of_unity(n: int) -> None:
    g = Grid(n, n, 128, 32, "hann")
    total = np.zeros((n, n), np.float32)
    for r, y in enumerate(g.ys):
        for c, x in enumerate(g.xs):
            total[y : y + 128, x : x + 128] += g.weight(r, c)
    # exactly one everywhere, also where the last tile is shifted back beyond the nominal overlap
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


@pytest.mark.parametrize("blend", ["hann", "crop"])
def test_overlap_zero_gives_each_pixel_to_one_tile(blend: str) -> None:
    """At overlap 0 the shifted last tile's shared pixels belong to the earlier tile alone (as the
    validation grid counts them), not to an average of two predictions."""
    w = axis_weights(150, 64, 0) if blend == "hann" else axis_crop_weights(150, 64, 0)
    assert starts(150, 64, 0) == [0, 64, 86]
    cover = np.zeros(150)
    for x, wt in zip(starts(150, 64, 0), w, strict=True):
        cover[x : x + 64] += wt > 0
    np.testing.assert_array_equal(cover, 1)
    np.testing.assert_array_equal(w[2][:42], 0)


def test_rows_limit_reads_and_output_to_a_hold_out(tmp_path: Path) -> None:
    """``rows`` predicts those rows as a scene of their own: same as mapping the cropped image (a 3x3
    model sees no pixel of the other rows), sink windows in scene coordinates, each pixel once."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (3, 200, 130), dtype=np.uint8)
    path = write_scene(tmp_path / "s.tif", image)
    pred = pointwise_predictor()
    torch.manual_seed(1)
    pred.net = nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect").eval()
    sink = ArraySink(3, 200, 130)
    run_grid(
        pred, str(path), sink, height=200, width=130, indexes=[1, 2, 3], tile=64, overlap=16, rows=(150, 200)
    )
    assert (sink.writes[150:] == 1).all() and (sink.writes[:150] == 0).all()
    crop = write_scene(tmp_path / "crop.tif", np.ascontiguousarray(image[:, 150:]))
    ref = ArraySink(3, 50, 130)
    run_grid(pred, str(crop), ref, height=50, width=130, indexes=[1, 2, 3], tile=64, overlap=16)
    np.testing.assert_allclose(sink.probs[:, 150:], ref.probs, atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        run_grid(pred, str(path), sink, height=200, width=130, indexes=[1, 2, 3], rows=(150, 201))


def test_starts_cover_axis() -> None:
    for n in (1, 31, 64, 65, 500, 1001):
        s = starts(n, 64, 16)
        assert s[0] == 0 and s[-1] + min(64, n) == n
        assert all(b - a <= 48 for a, b in itertools.pairwise(s))


def test_map_scene_writes_cog_with_geo_and_nodata(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, (3, 300, 410), dtype=np.uint8)
    image[:, 10:40, 20:90] = 0  # nodata block
    scene = write_scene(tmp_path / "scene.tif", image, nodata=0)
    pred = pointwise_predictor()
    out = tmp_path / "out" / "map.tif"
    [res] = map_scenes(pred, [scene], out, tile=128, overlap=32, probabilities=True, batch_size=3)
    assert res.pixels == 300 * 410 and out.is_file()
    assert not list(out.parent.glob(".*"))  # no partial files left
    with rasterio.open(out) as m, rasterio.open(scene) as s:
        assert m.crs == s.crs and m.transform == s.transform and (m.height, m.width) == (300, 410)
        assert m.dtypes[0] == "uint8" and m.nodata == 255
        assert m.tags()["classes"] == '["c0", "c1", "c2"]'
        assert m.overviews(1) or max(m.height, m.width) <= 512
        layout = m.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
        assert layout == "COG"
        classes = m.read(1)
    invalid = (image == 0).any(0)
    expected = reference_probs(pred, image).argmax(0)
    assert (classes[invalid] == 255).all()
    np.testing.assert_array_equal(classes[~invalid], expected[~invalid])
    with rasterio.open(out.with_name("map.probs.tif")) as p:
        probs = p.read().astype(np.float32) * p.scales[0]
        assert p.count == 3 and p.descriptions[0] == "p(c0)"
    np.testing.assert_allclose(probs[:, ~invalid].sum(0), 1.0, atol=0.015)
    # rio-cogeo's validator accepts both COGs
    from rio_cogeo.cogeo import cog_validate

    for path in (out, out.with_name("map.probs.tif")):
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, errors
    # a QGIS style next to the class map: one palette entry per class, the COG's own colour table
    import xml.etree.ElementTree as ET

    entries = ET.parse(out.with_suffix(".qml")).getroot().findall(".//paletteEntry")
    with rasterio.open(out) as m:
        cmap = m.colormap(1)
    assert [e.get("label") for e in entries] == ["c0", "c1", "c2"]
    for e in entries:
        rgb = tuple(int(e.get("color", "")[k : k + 2], 16) for k in (1, 3, 5))
        assert rgb == cmap[int(e.get("value", ""))][:3]


def _vrt_mosaic(path: Path, left: Path, right: Path, h: int, w: int) -> Path:
    """Two equally sized GeoTIFFs side by side as a GDAL VRT (the usual way large mosaics are served)."""
    bands = []
    for b in (1, 2, 3):
        sources = "".join(
            f"<SimpleSource><SourceFilename relativeToVRT='0'>{src}</SourceFilename><SourceBand>{b}</SourceBand>"
            f"<SrcRect xOff='0' yOff='0' xSize='{w}' ySize='{h}'/><DstRect xOff='{off}' yOff='0' xSize='{w}' ySize='{h}'/>"
            "</SimpleSource>"
            for src, off in ((left, 0), (right, w))
        )
        bands.append(f"<VRTRasterBand dataType='Byte' band='{b}'>{sources}</VRTRasterBand>")
    path.write_text(
        f"<VRTDataset rasterXSize='{2 * w}' rasterYSize='{h}'><SRS>EPSG:32633</SRS>"
        f"<GeoTransform>500000, 0.5, 0, 5000000, 0, -0.5</GeoTransform>{''.join(bands)}</VRTDataset>"
    )
    return path


def test_scene_smaller_than_tile_folder_and_vrt(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    (tmp_path / "in").mkdir()
    write_scene(tmp_path / "in" / "small.tif", rng.integers(0, 256, (3, 37, 50), dtype=np.uint8))
    write_scene(tmp_path / "in" / "other.tif", rng.integers(0, 256, (3, 140, 90), dtype=np.uint8))
    pred = pointwise_predictor()
    results = map_scenes(pred, [tmp_path / "in"], tmp_path / "maps", tile=64, overlap=16)
    assert [r.out.name for r in results] == ["other.tif", "small.tif"]
    with rasterio.open(tmp_path / "maps" / "small.tif") as m:
        assert (m.height, m.width) == (37, 50)
    a = rng.integers(0, 256, (3, 70, 60), dtype=np.uint8)
    b = rng.integers(0, 256, (3, 70, 60), dtype=np.uint8)
    vrt = _vrt_mosaic(
        tmp_path / "mosaic.vrt",
        write_scene(tmp_path / "a.tif", a),
        write_scene(tmp_path / "b.tif", b),
        70,
        60,
    )
    [res] = map_scenes(pred, [vrt], tmp_path / "mosaic.tif", tile=64, overlap=16)
    with rasterio.open(res.out) as m:
        assert (m.height, m.width) == (70, 120)
        got = m.read(1)
    np.testing.assert_array_equal(got, reference_probs(pred, np.concatenate([a, b], axis=2)).argmax(0))


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    pred = pointwise_predictor()
    img = np.zeros((3, 64, 64), np.uint8)
    with pytest.raises(DataError, match="no CRS"):
        map_scenes(pred, [write_scene(tmp_path / "nocrs.tif", img, crs=None)], tmp_path / "a.tif")
    with pytest.raises(DataError, match="expects 3"):
        map_scenes(pred, [write_scene(tmp_path / "two.tif", img[:2])], tmp_path / "b.tif")
    with pytest.raises(DataError, match="pixel type"):
        map_scenes(pred, [write_scene(tmp_path / "u16.tif", img.astype(np.uint16))], tmp_path / "c.tif")
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(CorruptFileError, match=r"corrupt\.tif"):
        map_scenes(pred, [bad], tmp_path / "d.tif")
    with pytest.raises(ConfigError, match="multiple of 32"):
        map_scenes(pred, [write_scene(tmp_path / "ok.tif", img)], tmp_path / "e.tif", tile=100)
    assert not list(tmp_path.glob("?.tif"))


def test_failure_midway_leaves_no_output(tmp_path: Path) -> None:
    pred = pointwise_predictor()
    calls = {"n": 0}
    real = pred.net.forward

    def flaky(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("device lost")
        return real(x)

    pred.net.forward = flaky  # type: ignore[method-assign]
    scene = write_scene(tmp_path / "s.tif", np.zeros((3, 300, 300), np.uint8))
    out = tmp_path / "out" / "map.tif"
    out.parent.mkdir()
    out.write_bytes(b"previous complete map")
    with pytest.raises(RuntimeError, match="device lost"):
        map_scenes(pred, [scene], out, tile=64, overlap=0, batch_size=2, probabilities=True)
    assert out.read_bytes() == b"previous complete map"  # the old result is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["map.tif"]  # no partial files left


@pytest.mark.parametrize("n", [15811, 7071, 1000, 600])
def test_a_tile_row_hands_down_at_most_overlap_rows(n: int) -> None:
    """The width-long carry between tile rows is ``overlap`` rows, also before the shifted last row
    (it was up to ``tile - 1`` rows: 445 x 15811 px x 3 float32 planes on a 0.25 Gpx scene)."""
    g = Grid(n, 100, 512, 64, "hann")
    handed = [g.ys[r] + g.th - g.final_row(r) for r in range(len(g.ys))]
    assert max(handed) <= 64 and handed[-1] == 0
    assert g.final_row(len(g.ys) - 2) >= g.ys[-1]  # the shifted row's leading excess is final early


def test_heap_bound_applies_on_linux() -> None:
    import sys

    from worldclass.mapping.heap import bound_heap

    assert bound_heap() is sys.platform.startswith("linux")
