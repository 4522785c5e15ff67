"""Every shipped recipe in ``configs/`` runs as ``worldclass train CONFIG --smoke`` on the synthetic data
of its kind within the 2-minute budget (2 CPU cores), and the imbalance recipe as ``experiment --smoke``.
Also: how ``--smoke`` and config-relative paths change a config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from test_reliability.harness import run_cli
from worldclass.tasks import load_config
from worldclass.training.curves import read_curves

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))
BUDGET_S = 120


def _data(config: Path, request: pytest.FixtureRequest) -> list[str]:
    tree = yaml.safe_load(config.read_text())
    sets = []
    scene_task = tree.get("task") in ("segmentation", "alignment")
    dataset = tree.get("data", {}).get("dataset", "inria" if scene_task else "bigearthnet")
    if dataset not in ("inria", "bigearthnet"):  # its generator's archive
        sets.append(f"data.root={request.getfixturevalue('benchmark_roots')(dataset)}")
    elif dataset == "inria":
        sets.append(f"data.root={request.getfixturevalue('inria_root')}")
        if tree.get("model", {}).get("init_from"):
            sets.append(f"model.init_from={request.getfixturevalue('inria_smoke')}")
    else:
        sets.append(f"data.root={request.getfixturevalue('v2_store')}")
    return [x for s in sets for x in ("--set", s)]


@pytest.fixture(scope="module")
def benchmark_roots(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """dataset name -> root of its generated archive (made once per module)."""
    from worldclass.datasets import get_dataset

    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            root = tmp_path_factory.mktemp(name) / "archive"
            overrides = dict(o.split("=", 1) for o in get_dataset(name).make_fake(root, seed=0))
            made[name] = Path(overrides["data.root"])
        return made[name]

    return get


@pytest.fixture(scope="module")
def inria_smoke(inria_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stage-1 checkpoint the two-stage Inria recipes start from (inria-unet, smoke-sized)."""
    out = tmp_path_factory.mktemp("stage1") / "run"
    cfg = load_config(
        CONFIGS[0].parent / "inria-unet.yaml", [f"data.root={inria_root}", f"trainer.out={out}"], smoke=True
    )
    from worldclass.training import train

    return train(cfg).best_checkpoint


def test_every_recipe_is_covered() -> None:
    names = {c.stem for c in CONFIGS}
    assert {"reben-resnet50", "csmae-s1s2", "imbalance-ablation", "inria-unet", "inria-refine"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_smoke_run_of_every_recipe(
    config: Path, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(config, request)  # fixtures first: their set-up is not the recipe's time
    start = time.perf_counter()
    r = run_cli(["train", str(config), "--smoke", *data, "--set", f"trainer.out={tmp_path / 'run'}"], capsys)
    seconds = time.perf_counter() - start
    assert r.code == 0, r.err
    summary = json.loads(r.out.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and Path(summary["best_checkpoint"]).is_file()
    (row,) = read_curves(tmp_path / "run")
    assert row["step"] == 2  # the smoke limits were applied: 2 training batches
    assert seconds < BUDGET_S, f"{config.name}: {seconds:.0f} s"


def test_smoke_experiment(v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = CONFIGS[0].parent / "imbalance-ablation.yaml"
    args = ["experiment", "imbalance", str(cfg), "--smoke", "--json", "--set", f"data.root={v2_store}"]
    r = run_cli([*args, "--set", f"trainer.out={tmp_path / 'exp'}"], capsys)
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert set(result["variants"]) == {"Base", "CW", "MROS+DCW"}
    assert all(v["runs"]["42"]["epochs"] == 1 for v in result["variants"].values())
    assert json.loads((tmp_path / "exp" / "ablation.json").read_text())["variants"] == result["variants"]


def test_smoke_overrides_and_the_users_set_wins(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "task: segmentation\ndata: {root: /abs/inria, dataset: inria, patch_size: 512}\n"
        "optim: {max_epochs: 60}\ntrainer: {out: runs/seg}\n"
    )
    cfg = load_config(cfg_file, smoke=True)
    assert cfg.optim.max_epochs == 1 and cfg.optim.limit_train_batches == 2 and cfg.data.patch_size == 128
    assert cfg.model.encoder == "resnet18" and cfg.trainer.out == "runs/seg-smoke"
    cfg = load_config(cfg_file, ["optim.max_epochs=3", "trainer.out=elsewhere"], smoke=True)
    assert cfg.optim.max_epochs == 3 and cfg.trainer.out == "elsewhere"
    assert load_config(cfg_file).optim.max_epochs == 60  # no smoke: the recipe as written


def test_config_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proj" / "configs").mkdir(parents=True)
    (tmp_path / "proj" / "data" / "store").mkdir(parents=True)
    cfg_file = tmp_path / "proj" / "configs" / "c.yaml"
    cfg_file.write_text(
        "data: {root: ../data/store, splits: ~/splits.csv}\nmodel: {pretrained: w.pt}\n"
        "trainer: {out: runs/x}\n"
    )
    monkeypatch.chdir(tmp_path)  # anywhere but the project
    cfg = load_config(cfg_file)
    assert cfg.data.root == str(tmp_path / "proj" / "data" / "store")
    assert cfg.model.pretrained == str(tmp_path / "proj" / "configs" / "w.pt")
    assert cfg.data.splits == str(Path("~/splits.csv").expanduser())
    assert cfg.trainer.out == "runs/x"  # outputs: relative to the working folder
    cfg = load_config(cfg_file, ["data.root=rel/store"])  # typed at the shell: the working folder's
    assert cfg.data.root == "rel/store"


def test_smoke_noise_experiment(v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = CONFIGS[0].parent / "noise-robust.yaml"
    out = tmp_path / "noise"
    args = ["experiment", "noise", str(cfg), "--smoke", "--json", "--seeds", "0,1", "--rates", "0,0.3"]
    args += ["--methods", "BCE,GRID", "--set", f"data.root={v2_store}", "--set", f"trainer.out={out}"]
    r = run_cli(args, capsys)
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert set(result["variants"]) == {"BCE @ 0%", "BCE @ 30%", "GRID @ 30%"}  # rate 0: the clean BCE only
    for v in result["variants"].values():
        assert set(v["runs"]) == {"0", "1"}
        runs = [x["map_macro"] for x in v["runs"].values()]
        assert v["mean"]["map_macro"] == pytest.approx(sum(runs) / 2)
        assert v["std"]["map_macro"] == pytest.approx(abs(runs[0] - runs[1]) / 2**0.5)
    assert set(result["noise"]) == {"mixed-30-seed0", "mixed-30-seed1"}  # one view per seed, its rates kept
    assert result["noise"]["mixed-30-seed0"]["removed"] > 0
    subsets = json.loads((out / "subsets.json").read_text())
    assert subsets["train"] and subsets["test"] and not set(subsets["train"]) & set(subsets["test"])
    assert "± " in (out / "noise.md").read_text()
