import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worldclass.data.sensors import BANDS, S2_10BANDS, band_statistics, resolve_bands
from worldclass.data.transforms import PatchTransform
from worldclass.errors import ConfigError


def test_band_specs() -> None:
    assert [b for b in BANDS if BANDS[b].sensor == "s2"] == [
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B08",
        "B8A",
        "B09",
        "B11",
        "B12",
    ]
    assert "B10" not in BANDS
    assert {BANDS[b].size for b in ("B02", "B05", "B01", "VV")} == {120, 60, 20}
    assert len(S2_10BANDS) == 10 and "B01" not in S2_10BANDS


def test_resolve_bands_orders_and_validates() -> None:
    assert resolve_bands(["VV", "B02", "B8A", "B08"], ("s2", "s1")) == ("B02", "B08", "B8A", "VV")
    assert resolve_bands(None, ("s1",)) == ("VV", "VH")
    assert len(resolve_bands("s2-10+s1", ("s2", "s1"))) == 12
    with pytest.raises(ConfigError, match="unknown band"):
        resolve_bands(["B10"], ("s2",))
    with pytest.raises(ConfigError, match="need sensor"):
        resolve_bands(["VV"], ("s2",))
    with pytest.raises(ConfigError, match="band set"):
        resolve_bands("rgbn", ("s2",))


def _random_patch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    d: dict[str, np.ndarray] = {}
    for name, b in BANDS.items():
        if b.sensor == "s2":
            d[name] = rng.integers(0, 10000, (b.size, b.size)).astype(np.uint16)
        else:
            d[name] = rng.normal(-15, 5, (b.size, b.size)).astype(np.float32)
    return d


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_transform_equals_resample_then_normalise(mode: str) -> None:
    rng = np.random.default_rng(0)
    batch = [_random_patch(rng) for _ in range(3)]
    bands = tuple(BANDS)
    tr = PatchTransform(bands, resampling=mode)  # type: ignore[arg-type]
    got = tr(batch)
    mean, std = band_statistics(bands)
    for k, sample in enumerate(batch):
        for c, b in enumerate(bands):
            t = torch.from_numpy(sample[b].astype(np.float32))[None, None]
            if t.shape[-1] != 120:
                t = F.interpolate(
                    t, size=(120, 120), mode=mode, align_corners=False if mode == "bilinear" else None
                )
            ref = (t[0, 0] - mean[c]) / std[c]
            assert torch.allclose(got[k, c], ref, atol=1e-5), (b, mode)
    # a single sample is a batch of one: same tensor
    assert torch.equal(tr(batch[1:2])[0], got[1])


def test_transform_without_normalisation_keeps_units() -> None:
    rng = np.random.default_rng(1)
    p = _random_patch(rng)
    out = PatchTransform(("B02", "VV"), normalize="none")([p])
    assert torch.equal(out[0, 0], torch.from_numpy(p["B02"].astype(np.float32)))
    assert torch.equal(out[0, 1], torch.from_numpy(p["VV"]))
    with pytest.raises(ConfigError):
        PatchTransform(("B02",), resampling="cubic")  # type: ignore[arg-type]


def test_another_geometry_needs_no_generic_change() -> None:
    """A 256 px, 13-band dataset (all S2 L1C bands incl. B10, resampled to 10 m, as SEN12MS ships them)
    goes through the same transform by naming its native sizes and statistics; nothing of BigEarthNet's
    band table is used (B10 is not even in it)."""
    bands = (*[f"B0{i}" for i in range(1, 10)], "B10", "B11", "B12", "B8A")
    assert "B10" not in BANDS
    mean, std = [1000.0 + i for i in range(13)], [10.0 + i for i in range(13)]
    t = PatchTransform(bands, size=256, native_sizes=[256] * 13, mean=mean, std=std)
    rng = np.random.default_rng(0)
    raw = {b: rng.integers(0, 10000, (256, 256)).astype(np.uint16) for b in bands}
    out = t([raw])
    assert out.shape == (1, 13, 256, 256)
    ref = torch.stack(
        [
            (torch.from_numpy(raw[b].astype(np.float32)) - m) / s
            for b, m, s in zip(bands, mean, std, strict=True)
        ]
    )
    assert torch.allclose(out[0], ref, atol=1e-4)
    assert t.describe()["native_sizes"] == [256] * 13
