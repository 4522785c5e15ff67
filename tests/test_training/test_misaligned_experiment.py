"""`worldclass experiment misaligned`: every variant trains on the labels it names (misaligned map, small
clean subset, true labels) from the model it names, refiners keep their base frozen, fine-tunes keep their
start's input normalisation, every score is against the true labels, and the auto-aligned map is the
misaligned one moved back by the alignment model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from helpers import constant_field_checkpoint
from test_reliability.harness import run_cli
from worldclass.data.misalign import LayerSpec, misalign_layer
from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes
from worldclass.data.vector import read_polygons
from worldclass.models.checkpoint import load_model, read_checkpoint
from worldclass.tasks import load_config
from worldclass.training.misaligned_experiment import Setting, auto_align, score

CONFIG = Path(__file__).parents[2] / "configs" / "misaligned-scenes.yaml"


def test_experiment_wires_labels_starts_and_scores(
    scenes_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exp"
    sets = [f"data.root={scenes_root}", f"trainer.out={out}", "data.patch_size=64"]
    args = ["experiment", "misaligned", str(CONFIG), "--smoke", "--json", "--seeds", "0,1"]
    r = run_cli([*args, *(x for s in sets for x in ("--set", s))], capsys)
    assert r.code == 0, r.err
    result = json.loads(r.out)
    names = [
        "misaligned",
        "misaligned + refiner",
        "misaligned → clean",
        "misaligned → clean + refiner",
        "aligned",
        "aligned + refiner",
    ]
    assert list(result["variants"]) == names
    for v in result["variants"].values():
        runs = [x["iou_per_class"]["building"] for x in v["runs"].values()]
        assert v["mean"]["iou_building"] == pytest.approx(np.mean(runs))
        assert v["std"]["iou_building"] == pytest.approx(np.std(runs, ddof=1))
    building = result["map_agreement"]["misaligned"]["iou_per_class"]["building"]
    assert 0.2 < building < 0.9  # the supervision really is misaligned
    assert "± " in (out / "misaligned.md").read_text()

    def run(name: str) -> Path:
        return out / name / "seed0"

    cfg = json.loads((run("misaligned-to-clean") / "config.json").read_text())
    start = run("misaligned") / "checkpoints" / "best.ckpt"
    assert cfg["model"]["init_from"] == str(start)
    assert [p.name for p in (Path(cfg["data"]["root"]) / "images").iterdir()] == ["scene1.tif"]
    assert cfg["data"]["vector"] == str((scenes_root / "labels.gpkg").resolve())
    assert json.loads((out / "subsets.json").read_text())["clean_finetune"]["scenes"] == ["scene1.tif"]
    # the fine-tune keeps its start's normalisation (the clean scene's own statistics differ)
    from worldclass.datasets import get_dataset

    tuned = read_checkpoint(run("misaligned-to-clean") / "checkpoints" / "best.ckpt")
    first = read_checkpoint(start)["hyper_parameters"]["meta"]["preprocessing"]
    assert tuned["hyper_parameters"]["meta"]["preprocessing"] == first
    clean = load_config(CONFIG, [f"data.root={cfg['data']['root']}"])
    own = get_dataset("scenes").preprocessing(clean.data)  # type: ignore[attr-defined]
    assert own["mean"] != first["mean"]
    # a refiner sits on its start's frozen weights
    base, _ = load_model(run("misaligned-to-clean") / "checkpoints" / "best.ckpt")
    refined, _ = load_model(run("misaligned-to-clean-refiner") / "checkpoints" / "best.ckpt")
    assert refined.refiner is not None
    for a, b in zip(base.base.state_dict().values(), refined.base.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    # recorded scores are against the true labels, not the map the run learnt from
    exp_cfg = load_config(CONFIG, sets)
    truth = Setting(
        out, scenes_root / "labels.gpkg", out / "labels" / "misaligned.gpkg", None, out, None, 1, 1, 1
    )
    drawn = Setting(
        out, out / "labels" / "misaligned.gpkg", out / "labels" / "misaligned.gpkg", None, out, None, 1, 1, 1
    )
    ckpt = run("misaligned") / "checkpoints" / "best.ckpt"
    recorded = result["variants"]["misaligned"]["runs"]["0"]
    assert score(ckpt, exp_cfg, truth)["overall"]["iou_per_class"] == pytest.approx(
        recorded["iou_per_class"], nan_ok=True
    )
    assert score(ckpt, exp_cfg, drawn)["overall"]["iou_per_class"]["building"] != pytest.approx(
        recorded["iou_per_class"]["building"]
    )
    # re-running reads the finished runs back
    r = run_cli([*args, *(x for s in sets for x in ("--set", s))], capsys)
    assert r.code == 0 and "done before" in r.err and "training ->" not in r.err


def test_auto_align_moves_the_misaligned_buildings_back(tmp_path: Path) -> None:
    root = synth_scenes(tmp_path / "s", size=384, scenes=1, seed=4)
    images = [root / "images" / "scene1.tif"]
    spec = LayerSpec(amplitude=0.0, max_offset=4.0, object_shift=0.0, p_omit=0.0, p_spurious=0.0, seed=3)
    stats = misalign_layer(images, root / "labels.gpkg", tmp_path / "m.gpkg", AERIAL_CLASSES, spec)
    dx, dy = stats["scenes"][0]["offset_px"]
    ckpt = constant_field_checkpoint(tmp_path / "c.ckpt", (dx, dy))
    cfg = load_config(CONFIG, [f"data.root={root}", f"trainer.out={tmp_path / 'x'}"])
    auto_align(ckpt, images, tmp_path / "m.gpkg", tmp_path / "a.gpkg", spec, cfg)
    g0, c0, _ = read_polygons(root / "labels.gpkg")
    g1, c1, _ = read_polygons(tmp_path / "a.gpkg")
    g2, c2, _ = read_polygons(tmp_path / "m.gpkg")
    b0, b1 = g0[c0["class"] == 1], g1[c1["class"] == 1]
    assert len(b0) == len(b1) > 2
    key = lambda g: tuple(np.round(shapely.get_coordinates(g).mean(0), 1))  # noqa: E731
    moved = shapely.get_coordinates(np.array(sorted(b1, key=key)))
    true = shapely.get_coordinates(np.array(sorted(b0, key=key)))
    assert np.abs(moved - true).max() < 0.01  # 0.3 m pixels: within 1/30 px
    drawn = shapely.get_coordinates(np.array(sorted(g2[c2["class"] == 1], key=key)))
    assert np.abs(drawn - true).max() > 0.3  # it was misaligned before
    assert sorted(shapely.to_wkb(g0[c0["class"] != 1])) == sorted(shapely.to_wkb(g1[c1["class"] != 1]))
