"""``model.frame_field`` through the segmentation task: train -> checkpoint (no Lightning to load) ->
``map`` writes MAP.field.tif -> ``polygonize --frame-field``; bad settings are refused up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from worldclass.data.synth.footprints import FOOTPRINT_CLASSES, synth_footprints
from worldclass.errors import ConfigError
from worldclass.mapping.frame_field import field_path_for
from worldclass.mapping.predictor import load_predictor
from worldclass.mapping.whole_scene import map_scenes
from worldclass.models import load_model
from worldclass.tasks import load_config
from worldclass.training import train


def _config(root: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        [
            "task=segmentation",
            f"data.root={root}",
            "data.dataset=scenes",
            f"data.classes={FOOTPRINT_CLASSES}",
            "data.vector=labels.gpkg",
            "data.patch_size=64",
            "data.samples_per_epoch=16",
            "data.batch_size=8",
            "data.num_workers=0",
            "model.encoder=resnet18",
            "model.frame_field=true",
            "optim.max_epochs=1",
            f"trainer.out={out}",
            "trainer.progress=false",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def footprints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_footprints(tmp_path_factory.mktemp("fp") / "footprints", size=256, scenes=2, seed=1)


def test_frame_field_run_maps_and_polygonizes(footprints: Path, tmp_path: Path) -> None:
    result = train(_config(footprints, tmp_path / "run"))
    curves = (tmp_path / "run" / "curves.csv").read_text().splitlines()
    assert "train/frame_field" in curves[0] and "val/frame_field" in curves[0]
    model, meta = load_model(result.best_checkpoint)
    assert getattr(model, "field_head", None) is not None
    assert meta.model["kwargs"]["frame_field_classes"] == [1]  # "building"

    predictor = load_predictor(result.best_checkpoint, device="cpu")
    assert predictor.has_field
    scene = footprints / "images" / "scene2.tif"
    [mapped] = map_scenes(predictor, [scene], tmp_path / "map.tif", tile=128, overlap=32, batch_size=2)
    field = Path(field_path_for(str(mapped.out)))
    with rasterio.open(field) as f, rasterio.open(mapped.out) as m:
        assert f.count == 3 and f.dtypes[0] == "uint8" and f.transform == m.transform
        assert f.descriptions == ("edge", "direction u", "direction v")
        bands = f.read()
    assert bands[1:].max() < 250  # angles quantised to [0, 250)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "worldclass",
            "polygonize",
            str(mapped.out),
            "--out",
            str(tmp_path / "b.gpkg"),
            "--frame-field",
            str(field),
            "--min-area",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["out"].endswith("b.gpkg")


def test_frame_field_blend_equals_one_pass_without_overlap(footprints: Path, tmp_path: Path) -> None:
    """With one tile covering the scene, the written field is exactly the encoded network output."""
    from worldclass.mapping.frame_field import encode_field

    result = train(_config(footprints, tmp_path / "run", "optim.limit_train_batches=1"))
    predictor = load_predictor(result.best_checkpoint, device="cpu")
    scene = footprints / "images" / "scene1.tif"
    [mapped] = map_scenes(predictor, [scene], tmp_path / "one.tif", tile=256, overlap=0, batch_size=1)
    with rasterio.open(scene) as src:
        out = predictor.with_field(src.read()[None])[0]
    k = len(FOOTPRINT_CLASSES)
    expected = encode_field(out[k], out[k + 1 :])
    with rasterio.open(field_path_for(str(mapped.out))) as f:
        np.testing.assert_array_equal(f.read(), expected)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("model.arch=fcn",), "model.arch unet"),
        (("data.classes=['background', 'roads']",), "building/house/roof"),
    ],
)
def test_frame_field_settings_are_checked(
    footprints: Path, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(_config(footprints, tmp_path / "run", *extra))
    assert not (tmp_path / "run" / "checkpoints").exists()
