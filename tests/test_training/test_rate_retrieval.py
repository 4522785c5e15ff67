"""The rate-retrieval experiment: Deflate is lossless and JPEG2000 at a stated size is lossy and that
small; the codec points carry their archive's real rate; the baselines hash features of decoded pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worldclass.errors import ConfigError
from worldclass.tasks import load_config
from worldclass.training.rate_retrieval import _gdal_round_trip, run_rate_retrieval

COMMON = [
    "data.sensors=[s2]",
    "data.bands=s2-10",
    "data.batch_size=16",
    "data.num_workers=0",
    "optim.warmup_steps=2",
    "trainer.progress=false",
]


def test_storage_round_trips() -> None:
    rng = np.random.default_rng(0)
    pixels = (1000 + 300 * rng.standard_normal((4, 64, 64))).clip(0, 65535).astype(np.uint16)
    back, size = _gdal_round_trip(pixels, "GTiff", {"compress": "deflate", "predictor": "2"})
    assert np.array_equal(back, pixels) and size < pixels.nbytes
    lossy, small = _gdal_round_trip(pixels, "JP2OpenJPEG", {"QUALITY": "5", "REVERSIBLE": "NO"})
    assert small < 0.08 * pixels.nbytes and not np.array_equal(lossy, pixels)
    assert np.abs(lossy.astype(float) - pixels).mean() < 300  # still the same image, roughly


def test_codec_points_and_baselines(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.training import train

    features = train(
        load_config(
            None,
            [
                "task=classification",
                f"data.root={v2_store}",
                *COMMON,
                "model.backbone=resnet10t",
                "model.drop_path_rate=0",
                "optim.max_epochs=1",
                f"trainer.out={tmp_path / 'cls'}",
            ],
        )
    ).best_checkpoint
    cfg = load_config(
        None,
        [
            "task=codec",
            f"data.root={v2_store}",
            *COMMON,
            "model.latent=8",
            "model.hidden=16",
            "model.hash_bits=16",
            "optim.max_epochs=1",
            f"trainer.out={tmp_path / 'rr'}",
        ],
    )
    lines: list[str] = []
    result = run_rate_retrieval(cfg, bpps=[1.0], seeds=[0], features=features, ratios=[5], log=lines.append)
    point = result["runs"]["1"]["0"]
    archive = json.loads((tmp_path / "rr" / "runs" / "bpp-1" / "seed0" / "point.json").read_text())
    assert point == archive and 0 < point["bpp"] < 8 and point["ratio"] > 10
    methods = {b["method"]: b for b in result["baselines"]}
    assert set(methods) == {"deflate", "jpeg2000 5%"}
    assert methods["deflate"]["bpp"] > 10 * methods["jpeg2000 5%"]["bpp"] > 0
    assert all(0 <= b["map"] <= 1 for b in methods.values())
    assert (tmp_path / "rr" / "table.md").read_text().count("|") > 10
    ids = json.loads((tmp_path / "rr" / "subsets.json").read_text())
    from worldclass.data.dataset import BigEarthNet

    assert sorted(ids["test"]) == sorted(BigEarthNet(v2_store, split="test").patch_ids)
    lines.clear()  # a rerun reads every point and the baselines back
    again = run_rate_retrieval(cfg, bpps=[1.0], seeds=[0], features=features, ratios=[5], log=lines.append)
    assert again["baselines"] == result["baselines"] and any("done before" in x for x in lines)
    with pytest.raises(ConfigError, match="codec configs"):
        run_rate_retrieval(load_config(None, ["task=csmae", f"data.root={v2_store}"]), bpps=[1.0])
