"""The GPU data path: batches leave the loader in their native dtypes and sizes; the training device
resamples and normalises them.

With ``native=True`` a :class:`~worldclass.data.BigEarthNet` batch carries, instead of ``image``, one
tensor per **native group** (bands of one native size and dtype, in band order), under the key
``native/<size>px-<dtype>``: for S2 + S1 that is ``native/120px-uint16`` (B02-B04, B08), ``native/60px-uint16``
(B05-B07, B8A, B11, B12), ``native/20px-uint16`` (B01, B09), ``native/120px-float32`` (VV, VH). They are
2.5x (12 bands) to 2.9x (14 bands) smaller than the float32 batch at 120 px, are copied pinned and
non-blocking, and
:class:`DeviceTransform` turns them into the same (B, C, size, size) float32 tensor as the CPU path
(:class:`~worldclass.data.transforms.PatchTransform`): ``float32(x) * scale + shift`` per band at native
size, then ``F.interpolate`` (bilinear, ``align_corners=False``, or nearest) to ``size``; equal to 1e-5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldclass.data.kernels import KIND_F32, KIND_U16, copy_native
from worldclass.data.native import POOL, NativeBatch, run_split
from worldclass.data.sensors import BANDS
from worldclass.errors import ConfigError, DataError

PREFIX = "native/"


@dataclass(frozen=True)
class NativeGroup:
    """Bands of one native ``size`` (px) and ``dtype`` ('uint16' / 'float32'); ``channels``: their
    positions in the band order of the output tensor."""

    size: int
    dtype: str
    channels: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.size}px-{self.dtype}"


def native_groups(bands: Sequence[str], native_sizes: Sequence[int]) -> list[NativeGroup]:
    """Group ``bands`` by (native size, declared dtype of :data:`worldclass.data.sensors.BANDS`), in order
    of first appearance. Bands without a declared dtype (not Sentinel bands) cannot take this path."""
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        raise ConfigError(
            f"bands {unknown} have no declared native dtype; the GPU data path reads Sentinel bands"
        )
    order: dict[tuple[int, str], list[int]] = {}
    for c, (b, size) in enumerate(zip(bands, native_sizes, strict=True)):
        order.setdefault((int(size), BANDS[b].dtype), []).append(c)
    return [NativeGroup(size, dtype, tuple(ch)) for (size, dtype), ch in order.items()]


def native_batch(batch: NativeBatch, groups: Sequence[NativeGroup]) -> dict[str, torch.Tensor]:
    """Copy a batch's native arrays into one (B, C_g, size_g, size_g) tensor per group, native dtype."""
    n = len(batch)
    out: dict[str, torch.Tensor] = {}
    for g in groups:
        ch = np.asarray(g.channels, np.int64)
        want = KIND_U16 if g.dtype == "uint16" else KIND_F32
        kinds = batch.kinds[:, ch]
        if (kinds != want).any():  # a source that did not keep the declared dtype (e.g. rescaled to float)
            raise DataError(
                f"bands {list(ch)} were read as another dtype than {g.dtype}; use data.device_preprocessing=off"
            )
        dtype = torch.uint16 if g.dtype == "uint16" else torch.float32
        t = POOL.take((n, len(ch), g.size, g.size), dtype)
        run_split(copy_native, n, np.ascontiguousarray(batch.addresses[:, ch]), t.numpy())
        out[g.key] = t
    return out


class DeviceTransform(nn.Module):
    """Native groups (on any device) -> normalised float32 (B, C, size, size) on that device.

    Built from a transform description (:meth:`PatchTransform.describe`, stored in checkpoints as the
    model's ``preprocessing``): ``bands``, ``size``, ``native_sizes``, ``resampling``, ``mean``, ``std``.
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, description: Mapping[str, Any]) -> None:
        super().__init__()
        bands = list(description["bands"])
        self.size = int(description["size"])
        self.mode = "nearest" if description.get("resampling") == "nearest" else "bilinear"
        self.groups = native_groups(bands, description["native_sizes"])
        std = torch.tensor(description["std"], dtype=torch.float32)
        mean = torch.tensor(description["mean"], dtype=torch.float32)
        # exactly the CPU kernel's float32 constants
        self.register_buffer("scale", 1.0 / std, persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)
        for i, g in enumerate(self.groups):  # channel indices travel with the module: no copy per batch
            self.register_buffer(f"channels{i}", torch.tensor(g.channels), persistent=False)
        self.channels = len(bands)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [g.key for g in self.groups if g.key not in batch]
        if missing:
            raise DataError(f"batch lacks the native groups {missing}; it was read with other bands")
        first = batch[self.groups[0].key]
        n, device = first.shape[0], first.device
        out = torch.empty((n, self.channels, self.size, self.size), dtype=torch.float32, device=device)
        scale, shift = self.scale.to(device), self.shift.to(device)
        for i, g in enumerate(self.groups):
            ch = self.get_buffer(f"channels{i}").to(device)
            raw = batch[g.key]
            if raw.dtype == torch.uint16:  # through int32: conversions of uint16 are not on every device
                x = (raw.view(torch.int16).to(torch.int32) & 0xFFFF).to(torch.float32)
            else:
                x = raw.to(torch.float32)
            x = x * scale[ch].view(1, -1, 1, 1) + shift[ch].view(1, -1, 1, 1)
            if g.size != self.size:
                if self.mode == "nearest":
                    x = F.interpolate(x, size=(self.size, self.size), mode="nearest")
                else:
                    x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
            out[:, ch] = x
        return out


def pop_native(batch: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """Remove and return the native groups of a collated batch (None when it carries ``image``)."""
    keys = [k for k in batch if isinstance(k, str) and k.startswith(PREFIX)]
    return {k: batch.pop(k) for k in keys} if keys else None
