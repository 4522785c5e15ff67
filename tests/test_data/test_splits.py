from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldclass.data import splits as sp
from worldclass.data.bigearthnet.table import SPLITS
from worldclass.data.leakage import buffer_split, leak_report
from worldclass.errors import ConfigError, DataError


def test_geographic_zones_have_reben_area_shares() -> None:
    cells = 91
    h, v = np.meshgrid(np.arange(cells), np.arange(cells))
    x, y = (h.ravel() + 0.5) * 1200, (v.ravel() + 0.5) * 1200
    out = sp.geographic_split(["T"] * len(x), x, y, tile_extent=sp.TILE_EXTENT_M)
    shares = {s: float(np.mean(out == s)) for s in ("train", "validation", "test")}
    assert shares["train"] == pytest.approx(0.5, abs=0.02)
    assert shares["validation"] == pytest.approx(0.25, abs=0.02)
    assert shares["test"] == pytest.approx(0.25, abs=0.02)
    centre = out.reshape(cells, cells)
    assert centre[45, 45] == "test" and centre[0, 0] == "train"


def test_random_and_country() -> None:
    r = sp.random_split(100, (0.6, 0.2, 0.2), seed=1)
    assert (r == "train").sum() == 60 and np.array_equal(r, sp.random_split(100, (0.6, 0.2, 0.2), seed=1))
    c = sp.country_split(["PT", "AT", "FI", None], validation=["AT"], test=["FI"])
    assert c.tolist() == ["train", "validation", "test", "train"]
    with pytest.raises(ConfigError):
        sp.country_split(["PT"], validation=["PT"], test=["PT"])
    with pytest.raises(ConfigError):
        sp.random_split(10, (0.5, 0.5, 0.5))


def _full_tile() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cells = 91
    h, v = np.meshgrid(np.arange(cells), np.arange(cells))
    x, y = (h.ravel() + 0.5) * 1200, (v.ravel() + 0.5) * 1200
    return x, y, sp.geographic_split(["T"] * len(x), x, y, tile_extent=sp.TILE_EXTENT_M)


def _brute_force(x: np.ndarray, y: np.ndarray, split: np.ndarray, a: str, b: str, d: float) -> int:
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    touch = (dist <= d) & (split[None, :] == b)
    return int(touch[split == a].any(1).sum())


def test_leak_report_covers_every_pair_and_diagonal_neighbours() -> None:
    """The issue's figures on a full tile: validation->train 12.1 %, test->validation 8.5 %."""
    x, y, split = _full_tile()
    rep = leak_report(x, y, ["T"] * len(x), split)
    assert rep["distance_m"] == pytest.approx(1200 * 2**0.5 + 1)
    pairs = rep["pairs"]
    assert set(pairs) == {f"{a}->{b}" for a in SPLITS for b in SPLITS if a != b}
    assert pairs["validation->train"]["share"] == pytest.approx(0.121, abs=0.001)
    assert pairs["test->validation"]["share"] == pytest.approx(0.085, abs=0.001)
    assert pairs["test->train"]["leaked"] == 0  # the zones are nested: test never meets train
    sub = np.flatnonzero(
        (np.abs(x - 30_000) < 12_000) & (np.abs(y - 30_000) < 12_000)
    )  # brute force on a corner
    local = leak_report(x[sub], y[sub], ["T"] * len(sub), split[sub])["pairs"]
    for key, v in local.items():
        a, b = key.split("->")
        assert v["leaked"] == _brute_force(x[sub], y[sub], split[sub], a, b, rep["distance_m"]), key
    # only diagonal contact: counted at the default distance, not at the edge distance
    diag = leak_report([0.0, 1200.0], [0.0, 1200.0], ["T", "T"], ["train", "test"])["pairs"]
    edge = leak_report([0.0, 1200.0], [0.0, 1200.0], ["T", "T"], ["train", "test"], 1200.0)["pairs"]
    assert (diag["test->train"]["leaked"], edge["test->train"]["leaked"]) == (1, 0)


def test_leak_is_measured_across_tiles_and_utm_zones() -> None:
    """Two patches 1 km apart across the 12 deg E zone boundary (EPSG:32632 / 32633) touch; tile-grid
    positions without a CRS never meet another tile."""
    from rasterio.warp import transform

    (x0,), (y0,) = transform("EPSG:4326", "EPSG:32632", [11.9935], [48.0])
    (x1,), (y1,) = transform("EPSG:4326", "EPSG:32633", [12.0069], [48.0])
    rep = leak_report([x0, x1], [y0, y1], ["EPSG:32632", "EPSG:32633"], ["train", "test"])
    assert rep["frame"].startswith("EPSG:4978") and rep["pairs"]["test->train"]["leaked"] == 1
    far = leak_report([x0, x1 + 2000], [y0, y1], ["EPSG:32632", "EPSG:32633"], ["train", "test"])
    assert far["pairs"]["test->train"]["leaked"] == 0
    grid = leak_report([600.0, 600.0], [600.0, 600.0], ["33UUP", "29UPU"], ["train", "test"])
    assert grid["pairs"]["test->train"]["leaked"] == 0 and "within tiles" in grid["frame"]


def test_buffer_at_assignment_removes_every_contact_and_keeps_the_rest() -> None:
    x, y, split = _full_tile()
    kept = buffer_split(x, y, ["T"] * len(x), split)
    rep = leak_report(x, y, ["T"] * len(x), kept)
    assert all(v["leaked"] == 0 for v in rep["pairs"].values())
    dropped = (kept == "") & (split != "")
    assert np.array_equal(kept[~dropped], split[~dropped])  # nothing is reassigned
    # only the lower side of a contact goes: no test patch is dropped; dropped train patches touch validation
    assert not dropped[split == "test"].any()
    assert 0 < dropped.sum() < 0.1 * len(split)


def test_read_split_file_accepts_val_alias(tmp_path: Path) -> None:
    p = tmp_path / "s.parquet"
    pq.write_table(pa.table({"patch_id": ["a", "b"], "split": ["val", "train"]}), p)
    assert sp.read_split_file(p).column("split").to_pylist() == ["validation", "train"]
    pq.write_table(pa.table({"patch_id": ["a"]}), p)
    with pytest.raises(DataError, match="split"):
        sp.read_split_file(p)
