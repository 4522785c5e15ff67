"""Contract tests over every registered task (like timm's model tests): the config validates with the
task's sections, a short fit writes checkpoints, ``load_model`` gives back the very model the loop
trained (same outputs, no Lightning), and every embedding sensor and layer gives (B, D) rows.

And every task learns: on controlled data its monitored metric after a short fit beats the untrained
model by a stated margin, so a broken loss, a frozen model or shuffled labels fail."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from worldclass.datasets import get_dataset
from worldclass.models import load_model
from worldclass.tasks import get_task, list_tasks, load_config
from worldclass.training.curves import read_curves
from worldclass.training.fit import fit, train

COMMON = ("data.batch_size=8", "data.num_workers=0", "optim.warmup_steps=2", "trainer.progress=false")


@pytest.fixture(scope="session")
def fake_data(v2_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``kind -> --set overrides`` of small controlled data: the session's reBEN store for multi-label
    tasks, the scenes generator (official generic layout) for segmentation."""
    made: dict[str, list[str]] = {"multilabel": [f"data.root={v2_store}"]}

    def get(kind: str) -> list[str]:
        if kind not in made:
            name = {"segmentation": "scenes"}[kind]
            made[kind] = get_dataset(name).make_fake(tmp_path_factory.mktemp(name), seed=3)
        return made[kind]

    return get


def _config(name: str, data: list[str], out: Path, *extra: str) -> Any:
    task = get_task(name)
    return load_config(None, [f"task={name}", *data, *task.smoke, *COMMON, f"trainer.out={out}", *extra])


def test_every_task_is_complete() -> None:
    assert {"classification", "segmentation", "csmae"} <= set(list_tasks())
    for name in list_tasks():
        t = get_task(name)
        assert t.name == name and t.monitor.startswith("val/") and t.mode in ("max", "min")
        assert t.sections and t.dataset_kinds and t.summary
        for alias in t.aliases:
            assert get_task(alias) is t


@pytest.mark.parametrize("name", list_tasks())
def test_task_contract(name: str, fake_data: Any, tmp_path: Path) -> None:
    task = get_task(name)
    cfg = _config(
        name,
        fake_data(task.dataset_kinds[0]),
        tmp_path,
        "optim.max_epochs=1",
        "optim.limit_train_batches=2",
        "optim.limit_val_batches=2",
        "data.samples_per_epoch=16",
    )
    assert set(cfg.sections) == set(task.sections)
    assert set(cfg.to_dict()) == {"task", "name", "data", "optim", "trainer", *task.sections}
    L.seed_everything(cfg.trainer.seed, verbose=False)
    setup = task.setup(cfg)
    res = fit(cfg, setup.module, setup.datamodule, task.monitor, setup.callbacks, mode=task.mode)
    assert res.best_checkpoint.is_file() and res.last_checkpoint.is_file()
    (curve,) = read_curves(tmp_path)  # one epoch: one row with the train loss and the monitored metric
    assert curve["epoch"] == 0 and curve["step"] == 2 and curve["lr"] > 0
    assert curve["train/loss"] > 0 and math.isfinite(curve[task.monitor]) and math.isfinite(curve["val/loss"])
    batch = next(iter(setup.datamodule.val_dataloader()))
    x = batch["image"][:4]
    trained = setup.module.model.eval()
    model, meta = load_model(res.last_checkpoint)
    assert type(model) is type(trained) and meta.task == name
    with torch.no_grad():
        if meta.classes:  # supervised tasks: same outputs (a tensor, or a dict of them)
            got, want = model(x), trained(x)
            pairs = [(got[k], want[k]) for k in want] if isinstance(want, dict) else [(got, want)]
            assert all(torch.allclose(a, b, atol=1e-5) for a, b in pairs)
        for sensor, bands in meta.embedding["sensors"].items():
            idx = [meta.bands.index(b) for b in bands]
            dims = set()
            for layer in meta.embedding["layers"]:
                e = model.embed(x[:, idx], sensor, layer)
                assert e.ndim == 2 and e.shape[0] == len(x) and torch.isfinite(e).all(), (sensor, layer)
                assert torch.allclose(e, trained.embed(x[:, idx], sensor, layer), atol=1e-5)
                dims.add(e.shape[1])
            assert all(d > 0 for d in dims)


#: per task: extra overrides of the learning run and the margin its monitored metric must clear
LEARNING = {
    "classification": (("optim.max_epochs=4", "optim.lr=0.003", "data.batch_size=16"), 0.12),
    "segmentation": (("optim.max_epochs=4", "optim.lr=0.003", "data.samples_per_epoch=64"), 0.25),
    "csmae": (("optim.max_epochs=3", "optim.lr=0.002"), 0.15),  # relative drop of the validation loss
    "sscl": (("optim.max_epochs=2", "optim.lr=0.002", "ssl.unifeat_epochs=1"), 0.12),  # CoRe's val loss
    "simsiam": (("optim.max_epochs=2", "optim.lr=0.002", "model.backbone=resnet10t"), 0.1),
    "moco": (
        ("optim.max_epochs=2", "optim.lr=0.002", "model.backbone=resnet10t"),
        0.05,
    ),  # InfoNCE, chance log 8
    "codec": (("optim.max_epochs=8", "optim.lr=0.005"), 0.15),  # distortion + rate + hashing drop
    "regression": (("optim.max_epochs=4", "optim.lr=0.003", "data.batch_size=16"), 0.1),  # RMSE drop
    "sscm": (("optim.max_epochs=3", "optim.lr=0.002"), 0.1),  # MI + angle + intra loss, relative drop
    # end-point error drop; the untrained model predicts no motion (its error is the misalignment itself)
    "alignment": (
        ("optim.max_epochs=4", "optim.lr=0.003", "data.samples_per_epoch=200", "data.patch_size=128"),
        0.05,
    ),
}


@pytest.mark.parametrize("name", list_tasks())
def test_task_learns(name: str, fake_data: Any, learn_store: Path, tmp_path: Path) -> None:
    assert name in LEARNING, f"task {name!r} has no learning test: add its settings and margin to LEARNING"
    task = get_task(name)
    extra, margin = LEARNING[name]
    kind = task.dataset_kinds[0]
    data = [f"data.root={learn_store}"] if kind == "multilabel" else fake_data(kind)
    cfg = _config(name, data, tmp_path, *extra)
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    setup = task.setup(cfg)  # the same initial weights train() starts from (same seed)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    before = trainer.validate(setup.module, datamodule=setup.datamodule, verbose=False)[0][task.monitor]
    after = train(cfg).best_score
    if task.mode == "max":
        assert after >= before + margin, f"{name}: {task.monitor} {before:.3f} -> {after:.3f}"
    else:
        assert after <= before * (1 - margin), f"{name}: {task.monitor} {before:.3f} -> {after:.3f}"
