from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldclass.data import splits as sp
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


def test_spatial_leak_counts_neighbours_within_distance() -> None:
    x = np.array([0.0, 1200.0, 5000.0, 10000.0, 0.0])
    y = np.zeros(5)
    split = ["train", "test", "test", "train", "test"]
    crs = ["A", "A", "A", "A", "B"]  # last one in another CRS: never a neighbour
    rep = sp.spatial_leak(x, y, crs, split, 1200.0)
    assert rep["n"] == 3 and rep["leaked"] == 1 and rep["share"] == pytest.approx(1 / 3)


def test_read_split_file_accepts_val_alias(tmp_path: Path) -> None:
    p = tmp_path / "s.parquet"
    pq.write_table(pa.table({"patch_id": ["a", "b"], "split": ["val", "train"]}), p)
    assert sp.read_split_file(p).column("split").to_pylist() == ["validation", "train"]
    pq.write_table(pa.table({"patch_id": ["a"]}), p)
    with pytest.raises(DataError, match="split"):
        sp.read_split_file(p)
