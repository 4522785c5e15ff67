"""Training options of the GPU path, run on the CPU: native batches preprocessed on the device train the
same model as the loader's tensors; channels_last and torch.compile keep the checkpoint loadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.models import load_model
from worldclass.tasks import load_config
from worldclass.training import train


def _train(store: Path, out: Path, *extra: str) -> tuple[dict[str, torch.Tensor], Path]:
    cfg = load_config(
        None,
        [
            f"data.root={store}",
            "data.bands=s2+s1",  # all three native S2 sizes and S1's float32
            "data.batch_size=8",
            "data.num_workers=0",
            "model.backbone=resnet10t",
            "model.drop_path_rate=0",
            "optim.max_epochs=1",
            "optim.limit_train_batches=3",
            "optim.limit_val_batches=2",
            f"trainer.out={out}",
            "trainer.progress=false",
            *extra,
        ],
    )
    ckpt = train(cfg).best_checkpoint
    model, _ = load_model(ckpt)
    return {k: v.float() for k, v in model.state_dict().items()}, ckpt


def test_device_preprocessing_trains_the_same_model(v2_store: Path, tmp_path: Path) -> None:
    cpu, _ = _train(v2_store, tmp_path / "off", "data.device_preprocessing=off")
    dev, ckpt = _train(v2_store, tmp_path / "on", "data.device_preprocessing=on")
    start, _ = _train(
        v2_store, tmp_path / "short", "data.device_preprocessing=off", "optim.limit_train_batches=1"
    )
    moved = max((cpu[k] - start[k]).abs().max().item() for k in cpu)
    diff = max((cpu[k] - dev[k]).abs().max().item() for k in cpu)
    assert moved > 1e-3 and diff < 1e-3 * moved  # same steps, inputs equal to float rounding
    ours = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert ours["hyper_parameters"]["config"]["data"]["device_preprocessing"] == "on"


def test_channels_last_and_compile_keep_the_checkpoint_loadable(
    v2_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._dynamo.utils import counters

    monkeypatch.setenv(
        "WORLDCLASS_COMPILE_BACKEND", "aot_eager"
    )  # graph capture without inductor's C++ build
    start, _ = _train(v2_store, tmp_path / "short", "optim.limit_train_batches=1")
    plain, _ = _train(v2_store, tmp_path / "plain", "trainer.channels_last=off")
    counters.clear()
    fast, _ = _train(v2_store, tmp_path / "fast", "trainer.channels_last=on", "trainer.compile=default")
    assert counters["stats"]["unique_graphs"] > 0  # the model ran compiled
    assert fast.keys() == plain.keys()  # compiled modules keep their parameter names

    def norm(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
        return sum(float((a[k] - b[k]).square().sum()) for k in a if "num_batches" not in k) ** 0.5

    assert norm(plain, fast) < 0.1 * norm(plain, start)  # the same training, up to float reordering


def test_device_preprocessing_is_refused_for_scene_datasets(scenes_root: Path) -> None:
    with pytest.raises(ConfigError, match="device_preprocessing"):
        load_config(
            None,
            [
                "task=segmentation",
                "data.dataset=scenes",
                f"data.root={scenes_root}",
                "data.device_preprocessing=on",
            ],
        )
