from pathlib import Path

import pytest

from worldclass.errors import ConfigError
from worldclass.tasks import load_config

ROOT = Path(__file__).parents[2]


def test_shipped_configs_load() -> None:
    from worldclass.tasks import get_task

    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(paths) >= 6
    for p in paths:
        cfg = load_config(p)
        assert cfg.data.root and set(cfg.sections) == set(get_task(cfg.task).sections), p


def test_overrides_and_types(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "configs/reben-resnet50.yaml", ["optim.lr=3e-4", "data.root=/x", "loss.name=dcw"]
    )
    assert cfg.optim.lr == 3e-4 and cfg.data.root == "/x" and cfg.loss.name == "dcw"
    assert cfg.data.bands == "s2-10+s1" and cfg.model.drop_path_rate == 0.15


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["optim.weight_decai=1"], "did you mean 'optim.weight_decay'"),
        (["loss.name=dice"], "'dice' is not valid"),
        (["sampler.name=smote"], "mros"),
        (["optim.max_epochs=ten"], "optim.max_epochs"),
        (["data.num_classes=20"], "[19, 43]"),
        (["trainer=3"], "must be a mapping"),
        (["lr"], "key=value"),
        (["data.batch_size=0"], "'data.batch_size': 0; use at least 1"),
        (["data.num_workers=-1"], "'data.num_workers'"),
        (["optim.lr=-0.1"], "'optim.lr': -0.1; use a positive learning rate"),
        (["optim.max_epochs=0"], "'optim.max_epochs': 0"),
        (["optim.limit_val_batches=0"], "'optim.limit_val_batches'"),
        (["model.drop_rate=1.5"], "'model.drop_rate': 1.5"),
        (["trainer.precision=fp8"], "trainer.precision"),
        (["trainer.accelerator=tpu9"], "trainer.accelerator"),
    ],
)
def test_typos_give_clear_errors(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/reben-resnet50.yaml", overrides)
    assert needle in str(err.value)


def test_missing_root_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.root"):
        load_config(None, ["model.backbone=resnet18"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            ["task=segmentation", "data.dataset=inria", "loss.name=bce"],
            "choose one of ['ce', 'iou', 'ce+iou']",
        ),
        (["task=segmentation"], "'segmentation' trains on segmentation data"),
        (["data.dataset=inria"], "'classification' trains on multilabel data"),
        (["data.dataset=inira"], "did you mean 'inria'"),
        (["task=segmentaton"], "did you mean 'segmentation'"),
        (["model.arch=unet"], "unknown config key 'model.arch'"),
        (["task=segmentation", "data.dataset=inria", "data.patch_size=100"], "multiple of 32"),
        (["task=segmentation", "data.dataset=scenes"], "needs data.classes"),
        (
            ["task=segmentation", "data.dataset=inria", "model.arch=deeplab"],
            "choose one of ['unet', 'fcn', 'mlp']",
        ),
    ],
)
def test_segmentation_config_errors(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["data.root=/x", *overrides])
    assert needle in str(err.value)


def test_segmentation_recipes_load() -> None:
    for name in ("inria-unet.yaml", "inria-refine.yaml", "inria-finetune-clean.yaml"):
        cfg = load_config(ROOT / "configs" / name, ["data.root=/x"])
        assert cfg.task == "segmentation" and cfg.loss.name in ("ce", "iou", "ce+iou")
