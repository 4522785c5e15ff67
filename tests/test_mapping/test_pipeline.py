"""Segmentation end to end through the CLI: train (config) -> evaluate -> map -> polygonize -> submission."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from worldclass.data.synth.aerial import AERIAL_CLASSES
from worldclass.data.vector import read_polygons
from worldclass.mapping.predictor import load_predictor
from worldclass.models import load_model
from worldclass.tasks.segmentation.evaluate import evaluate_segmentation


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worldclass", *args], capture_output=True, text=True)


def test_checkpoint_carries_preprocessing(seg_checkpoint: Path, scenes_root: Path) -> None:
    _, meta = load_model(seg_checkpoint)
    assert meta.task == "segmentation" and meta.bands == ["red", "green", "blue"]
    assert meta.classes[:2] == ["background", "building"] and meta.preprocessing["dtype"] == "uint8"
    p = load_predictor(seg_checkpoint, device="cpu")
    assert p.scale == 1 / 255 and len(p.mean) == 3


def test_evaluate_segmentation_counts_every_validation_pixel(seg_checkpoint: Path, tmp_path: Path) -> None:
    res = evaluate_segmentation(seg_checkpoint, split="val", out=tmp_path, tile=128, overlap=32)
    # validation = bottom 20 % of the rows of both 384 x 384 scenes
    held = 384 - round(0.8 * 384)
    assert res["overall"]["pixels"] == 2 * held * 384
    assert set(res["groups"]) == {"scene1", "scene2"}
    # overall = the groups' confusion counts added: accuracy is their pixel-weighted mean
    groups = res["groups"].values()
    assert sum(g["pixels"] for g in groups) == res["overall"]["pixels"]
    weighted = sum(g["accuracy"] * g["pixels"] for g in groups) / res["overall"]["pixels"]
    assert res["overall"]["accuracy"] == pytest.approx(weighted, rel=1e-9)
    assert (tmp_path / "report.html").is_file() and (tmp_path / "per_group.csv").read_text().count("\n") == 4


def test_cli_map_polygonize_submission(seg_checkpoint: Path, scenes_root: Path, tmp_path: Path) -> None:
    scene = scenes_root / "images" / "scene2.tif"
    r = cli(
        "map",
        str(seg_checkpoint),
        str(scene),
        "--out",
        str(tmp_path / "map.tif"),
        "--tile",
        "128",
        "--overlap",
        "32",
        "--batch-size",
        "2",
        "--probabilities",
    )
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["mpx"] == round(384 * 384 / 1e6, 3)
    with rasterio.open(tmp_path / "map.tif") as m:
        assert m.height == 384 and set(np.unique(m.read(1))) <= set(range(5))
    r = cli(
        "polygonize",
        str(tmp_path / "map.tif"),
        "--out",
        str(tmp_path / "poly.gpkg"),
        "--min-area",
        "0",
        "--simplify",
        "0.3",
    )
    assert r.returncode == 0, r.stderr
    reported = json.loads(r.stdout.strip().splitlines()[-1])["polygons"]
    written, cols, _ = read_polygons(tmp_path / "poly.gpkg")
    assert reported == len(written) > 0 and set(cols["class_name"]) <= set(AERIAL_CLASSES)
    r = cli(
        "polygon-metrics",
        str(tmp_path / "poly.gpkg"),
        str(scenes_root / "labels.gpkg"),
        "--classes",
        "road",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    # the polygons' road IoU is the raster map's road IoU (up to the 0.3 m = 1 px simplification; no
    # minimum area); the reference layer holds both scenes, the map covers scene2 (the one-epoch fixture
    # model predicts roads, vegetation and water but hardly any building)
    with rasterio.open(tmp_path / "map.tif") as m:
        got = m.read(1) == 2
    ref = {}
    for name in ("scene1", "scene2"):
        with rasterio.open(scenes_root / "labels" / f"{name}.tif") as lab:
            ref[name] = lab.read(1) == 2
    inter = (got & ref["scene2"]).sum()
    pixel_iou = inter / (got.sum() + ref["scene1"].sum() + ref["scene2"].sum() - inter)
    assert json.loads(r.stdout)["iou"] == pytest.approx(pixel_iou, abs=0.01)
    # wrong band count -> one line, non-zero exit, no output
    with rasterio.open(scene) as src:
        prof = src.profile | {"count": 2}
        with rasterio.open(tmp_path / "two.tif", "w", **prof) as dst:
            dst.write(src.read([1, 2]))
    r = cli("map", str(seg_checkpoint), str(tmp_path / "two.tif"), "--out", str(tmp_path / "bad.tif"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "--bands" in r.stderr
    assert not (tmp_path / "bad.tif").exists()
    # the same scene with bands chosen explicitly works
    r = cli(
        "map",
        str(seg_checkpoint),
        str(scene),
        "--out",
        str(tmp_path / "b.tif"),
        "--bands",
        "1,2,3",
        "--tile",
        "128",
    )
    assert r.returncode == 0, r.stderr
    # leaderboard writer: official names only, 0/255
    (tmp_path / "maps").mkdir()
    (tmp_path / "map.tif").rename(tmp_path / "maps" / "bellingham1.tif")
    r = cli("inria-submission", str(tmp_path / "maps"), "--out", str(tmp_path / "sub"))
    assert r.returncode == 0, r.stderr
    with rasterio.open(tmp_path / "sub" / "bellingham1.tif") as s:
        assert s.count == 1 and s.dtypes[0] == "uint8" and set(np.unique(s.read(1))) <= {0, 255}
    assert zipfile.ZipFile(tmp_path / "sub" / "submission.zip").namelist() == ["bellingham1.tif"]
    r = cli("inria-submission", str(tmp_path / "b.tif"), "--out", str(tmp_path / "sub2"))
    assert r.returncode == 2 and "not an Inria tile name" in r.stderr


def test_refinement_and_finetune_from_checkpoint(
    seg_checkpoint: Path, scenes_root: Path, tmp_path: Path
) -> None:
    from helpers import scenes_config
    from worldclass.training import train

    base, _ = load_model(seg_checkpoint)
    cfg = scenes_config(
        scenes_root,
        tmp_path,
        "data.samples_per_epoch=16",
        "model.refine_steps=2",
        f"model.init_from={seg_checkpoint}",
        "model.freeze_base=true",
    )
    refined, _ = load_model(train(cfg).best_checkpoint)
    assert refined.refiner is not None
    for (name, a), b in zip(base.base.state_dict().items(), refined.base.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name  # the frozen segmenter did not move


def test_evaluate_defaults_reproduce_the_logged_validation_iou(seg_checkpoint: Path) -> None:
    """Same checkpoint, same split: ``evaluate`` with its defaults (tile = the checkpoint's patch size,
    overlap 0) gives the val/iou that training logged for the best epoch."""
    import csv

    from worldclass.models.checkpoint import read_checkpoint

    run = seg_checkpoint.parent.parent
    rows = list(csv.DictReader((run / "logs" / "version_0" / "metrics.csv").open()))
    logged = [float(r["val/iou"]) for r in rows if r.get("val/iou")]
    best_epoch = read_checkpoint(seg_checkpoint)["epoch"]
    epochs = [int(r["epoch"]) for r in rows if r.get("val/iou")]
    res = evaluate_segmentation(seg_checkpoint, split="val")
    assert res["overall"]["iou"] == pytest.approx(logged[epochs.index(best_epoch)], abs=1e-6)
