"""GPU set-up: without CUDA, asking for it is one line (config and --device); with a GPU, the bf16 and
channels_last paths train and agree with the CPU (these run only where CUDA is present)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import quick_config
from worldclass.errors import ConfigError
from worldclass.models.device import pick_device

HAS_CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")


@pytest.mark.skipif(HAS_CUDA, reason="checks the machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_device_without_cuda_is_one_line(device: str) -> None:
    with pytest.raises(ConfigError, match="--device cpu") as info:
        pick_device(device)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(HAS_CUDA, reason="checks the machine without a GPU")
@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_gpu_accelerator_without_cuda_is_one_line(v2_store: Path, tmp_path: Path, accelerator: str) -> None:
    with pytest.raises(ConfigError, match="no usable CUDA GPU"):
        quick_config(v2_store, tmp_path, f"trainer.accelerator={accelerator}")
    assert not tmp_path.joinpath("checkpoints").exists()


def test_bad_device_name_is_one_line() -> None:
    with pytest.raises(ConfigError, match="not a device"):
        pick_device("gpu0")
    assert pick_device("cpu") == torch.device("cpu")


@gpu
def test_bf16_training_on_gpu_matches_cpu_inference(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.models import load_model
    from worldclass.training import train
    from worldclass.training.curves import read_curves

    cfg = quick_config(
        v2_store, tmp_path, "trainer.accelerator=gpu", "trainer.devices=1", "optim.max_epochs=2"
    )
    result = train(cfg)  # precision auto -> bf16-mixed on a GPU
    rows = read_curves(tmp_path)
    assert len(rows) == 2 and rows[1]["train/loss"] < rows[0]["train/loss"] * 1.5
    cpu_model, meta = load_model(result.best_checkpoint, device="cpu")
    gpu_model, _ = load_model(result.best_checkpoint, device="cuda")
    x = torch.randn(4, len(meta.bands), 120, 120)
    with torch.no_grad():
        ref = cpu_model(x)
        out = gpu_model(x.cuda()).float().cpu()  # channels_last inside forward on CUDA
    assert torch.allclose(out, ref, atol=1e-3, rtol=1e-3)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        low = gpu_model(x.cuda()).float().cpu()
    assert torch.allclose(torch.sigmoid(low), torch.sigmoid(ref), atol=0.05)
