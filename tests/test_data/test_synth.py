import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import rasterio

from worldclass.data import BigEarthNet
from worldclass.data.bigearthnet import naming
from worldclass.data.nomenclature import CLASSES19


def test_v2_layout_dtypes_crs_and_metadata(v2_root: Path) -> None:
    t = pq.read_table(v2_root / naming.V2_METADATA)
    assert t.column_names == [
        "patch_id",
        "labels",
        "split",
        "country",
        "s1_name",
        "s2v1_name",
        "contains_seasonal_snow",
        "contains_cloud_or_shadow",
    ]
    assert set(t.column("split").to_pylist()) <= {"train", "validation", "test"}
    pid, s1 = t.column("patch_id")[0].as_py(), t.column("s1_name")[0].as_py()
    for band, size, dtype in (("B02", 120, "uint16"), ("B05", 60, "uint16"), ("B09", 20, "uint16")):
        with rasterio.open(naming.v2_band_path(v2_root, pid, band)) as ds:
            assert ds.shape == (size, size) and ds.dtypes[0] == dtype
            assert ds.crs.to_epsg() in {32629, 32633, 32634, 32635} and ds.res[0] == 1200 / size
    with rasterio.open(naming.v2_s1_band_path(v2_root, s1, "VV")) as ds:
        assert ds.dtypes[0] == "float32"
    with rasterio.open(naming.v2_map_path(v2_root, pid)) as ds:
        assert ds.dtypes[0] == "uint16" and ds.nodata == 0 and ds.compression.name.lower() == "deflate"
    assert not (v2_root / naming.V2_S2_DIR / naming.v2_tile_product(pid) / pid / f"{pid}_B10.tif").exists()


def test_v1_layout(v1_root: Path) -> None:
    name = sorted(p.name for p in (v1_root / naming.V1_S2_DIR).iterdir())[0]
    data = json.loads(naming.v1_json_path(v1_root, name).read_text())
    assert set(data) == {"labels", "coordinates", "projection", "tile_source", "acquisition_date"}
    first = (v1_root / "bigearthnet-train.csv").read_text().splitlines()[0].split(",")
    s1 = json.loads(naming.v1_json_path(v1_root, first[1], s1=True).read_text())
    assert s1["corresponding_s2_patch"] == first[0]


def test_reference_maps_carry_raw_codes_including_dropped_and_nodata(tmp_path: Path) -> None:
    from worldclass.data.synth.bigearthnet import synth_bigearthnet

    root = synth_bigearthnet(tmp_path / "a", version=2, patches=60, seed=11)
    codes: set[int] = set()
    for p in (root / naming.V2_MAPS_DIR).rglob("*_reference_map.tif"):
        with rasterio.open(p) as ds:
            codes |= set(np.unique(ds.read(1)).tolist())
    assert 0 in codes and 122 in codes and any(c > 300 for c in codes)


def test_pixels_carry_class_signatures(v2_store: Path) -> None:
    """Water patches are dark in NIR, forests bright: a model can learn the classes."""
    ds = BigEarthNet(v2_store, split="all", normalize="none", include_snow_cloud=False)
    b = {n: i for i, n in enumerate(ds.bands)}
    water, forest = CLASSES19.index("Marine waters"), CLASSES19.index("Coniferous forest")
    nir_w, nir_f = [], []
    lut = ds._lut
    for i in range(len(ds)):
        s = ds[i]
        mask = lut[np.minimum(ds.source.read(ds.patch_ids[i], None, (), True)["reference_map"], 999)]
        img = s["image"].numpy()
        nir_w += img[b["B08"]][mask == water].tolist()
        nir_f += img[b["B08"]][mask == forest].tolist()
    assert nir_w and nir_f and np.median(nir_w) < 0.3 * np.median(nir_f)


def test_imbalance_is_reben_like(tmp_path: Path) -> None:
    from worldclass.data.synth.render import sample_codes

    rng = np.random.default_rng(0)
    from worldclass.data.nomenclature import codes_to_names43, names43_to_19

    counts = dict.fromkeys(CLASSES19, 0)
    for _ in range(3000):
        for n in names43_to_19(codes_to_names43(sample_codes(rng))):
            counts[n] += 1
    assert counts["Arable land"] > 20 * max(counts["Coastal wetlands"], 1)


def _block_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of 10 x 10 px block means (speckle averaged out) of two 120 x 120 fields."""
    blocks = [x.reshape(12, 10, 12, 10).mean((1, 3)).ravel() for x in (a, b)]
    return float(np.corrcoef(*blocks)[0, 1])


def test_s1_has_its_own_texture_but_the_same_land_cover() -> None:
    """Within one CLC class, S1's spatial pattern is unrelated to S2's (the former renderer reused S2's
    sub-cover and texture fields: r = 0.9 for 242/313, -0.95 for 112); across classes S1 still tells
    water from built-up by its level."""
    from worldclass.data.synth.render import render

    for code in (242, 313, 112):
        rs = []
        for seed in range(6):
            p = render(np.random.default_rng(seed), np.full((120, 120), code, np.uint16))
            rs.append(_block_corr(p.s2["B08"].astype(float), 10 ** (p.s1["VV"] / 10)))
        assert abs(float(np.mean(rs))) < 0.12 and max(abs(r) for r in rs) < 0.35, (code, rs)
    m = np.full((120, 120), 512, np.uint16)  # water bodies | continuous urban fabric
    m[:, 60:] = 111
    p = render(np.random.default_rng(0), m)
    vv = 10 ** (p.s1["VV"] / 10)
    assert 10 * np.log10(vv[:, 60:].mean() / vv[:, :60].mean()) > 8


def test_domains_make_countries_and_seasons_differ(tmp_path: Path) -> None:
    """--domains: each tile seen in two seasons (names carry the dates), vegetation darker in the NIR in
    winter, band gains and label priors differ by country; without it the archive is as before."""
    from worldclass.data.bigearthnet.naming import acquisition_season
    from worldclass.data.synth.bigearthnet import domain_of, synth_bigearthnet
    from worldclass.data.synth.render import render

    root = synth_bigearthnet(tmp_path / "d", patches=80, seed=1, domains=True)
    t = BigEarthNet(root, split="all").table
    pairs = {
        (c, acquisition_season(p))
        for c, p in zip(t.column("country").to_pylist(), t.column("patch_id").to_pylist(), strict=True)
    }
    assert len({c for c, _ in pairs}) >= 5 and len(pairs) >= 9  # countries x two seasons
    summer, winter = domain_of("AT", "20170613T101031"), domain_of("AT", "20180108T101401")
    assert (
        summer.gains == winter.gains
        and summer.weights == winter.weights
        and winter.phenology < summer.phenology
    )
    m = np.full((120, 120), 311, np.uint16)  # broad-leaved forest
    b08 = [float(render(np.random.default_rng(0), m, domain=d).s2["B08"].mean()) for d in (summer, winter)]
    assert b08[1] < 0.5 * b08[0]
    other = domain_of("PT", "20170718T112119")
    assert np.abs(np.log(np.asarray(other.gains) / np.asarray(summer.gains))).mean() > 0.05
    p = np.asarray(other.weights) / sum(other.weights)
    q = np.asarray(summer.weights) / sum(summer.weights)
    assert np.abs(p - q).sum() > 0.3  # label priors differ
    plain = synth_bigearthnet(tmp_path / "p", patches=20, seed=1)
    seasons = {
        acquisition_season(p) for p in BigEarthNet(plain, split="all").table.column("patch_id").to_pylist()
    }
    assert len(seasons) <= 3  # one date per tile
