"""Device choice for inference and training helpers."""

from __future__ import annotations

import torch

from worldclass.errors import ConfigError


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; anything else as given. A CUDA device on a machine without
    one (or with a CPU build of torch) is refused with one line saying so."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU build of torch" if torch.version.cuda is None else "no usable CUDA GPU"
        raise ConfigError(
            f"--device {device!r}: this machine has {build}; use --device cpu, or install the CUDA "
            "build (see README, GPU set-up)"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev
