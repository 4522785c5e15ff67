"""The one preprocessing path of worldclass: select bands -> resample -> stack -> normalise.

Works on a batch of native-resolution patches (dicts band -> array, as read from any source) so that
one ``torch.nn.functional.interpolate`` call upsamples all 20 m (60 px) or 60 m (20 px) bands of the
whole batch. A single sample is a batch of one, so every source and batch size gives the same tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from worldclass.data.sensors import BANDS, band_statistics
from worldclass.errors import ConfigError

Resampling = Literal["bilinear", "nearest"]
Normalization = Literal["v2", "v1", "none"]


class PatchTransform:
    """Turn native band arrays into a normalised float32 tensor (B, C, size, size).

    ``bands``: channel order (see :func:`worldclass.data.sensors.resolve_bands`). ``resampling``:
    'bilinear' (default; ``align_corners=False``) or 'nearest' for bands coarser than ``size``.
    ``normalize``: 'v2' / 'v1' shipped per-band mean/std (``(x - mean) / std``), or 'none' (raw DN / dB).
    """

    def __init__(
        self,
        bands: Sequence[str],
        *,
        size: int = 120,
        resampling: Resampling = "bilinear",
        normalize: Normalization = "v2",
    ) -> None:
        if resampling not in ("bilinear", "nearest"):
            raise ConfigError(f"resampling={resampling!r}; choose 'bilinear' or 'nearest'")
        if normalize not in ("v2", "v1", "none"):
            raise ConfigError(f"normalize={normalize!r}; choose 'v2', 'v1' or 'none'")
        self.bands = tuple(bands)
        self.size = size
        self.resampling = resampling
        self.normalize = normalize
        # bands grouped by native size: {native px: [(channel index, band name), ...]}
        self.groups: dict[int, list[tuple[int, str]]] = {}
        for c, b in enumerate(self.bands):
            self.groups.setdefault(BANDS[b].size * size // 120, []).append((c, b))
        if normalize == "none":
            self.mean = torch.zeros(len(self.bands))
            self.std = torch.ones(len(self.bands))
        else:
            m, s = band_statistics(self.bands, normalize)
            self.mean, self.std = torch.tensor(m), torch.tensor(s)
        # float32 numpy scalars: a Python float would make numpy compute in float64
        self._scale_np = (1.0 / self.std).numpy().astype(np.float32)
        self._shift_np = (-self.mean / self.std).numpy().astype(np.float32)

    def __call__(self, batch: Sequence[dict[str, npt.NDArray[Any]]]) -> torch.Tensor:
        """batch: B dicts band -> native array. Returns float32 (B, C, size, size).

        Normalisation is applied at native resolution before upsampling: it is a per-band affine map and
        bilinear/nearest weights sum to one, so the result equals normalising after resampling, at a
        fraction of the memory traffic. Full-resolution bands are written once, straight into the output.
        """
        n = len(batch)
        out = torch.empty((n, len(self.bands), self.size, self.size), dtype=torch.float32)
        dst = out.numpy()
        scale, shift = self._scale_np, self._shift_np
        for native, members in self.groups.items():
            if native == self.size:  # full resolution: one fused cast + scale write, then shift
                for i, sample in enumerate(batch):
                    for c, b in members:
                        np.multiply(sample[b], scale[c], out=dst[i, c], casting="unsafe")
                for c, _ in members:
                    dst[:, c] += shift[c]
                continue
            stack = np.empty((n, len(members), native, native), dtype=np.float32)
            for i, sample in enumerate(batch):
                for j, (_, b) in enumerate(members):
                    stack[i, j] = sample[b]
            idx = [c for c, _ in members]
            stack *= scale[idx].reshape(1, -1, 1, 1)
            stack += shift[idx].reshape(1, -1, 1, 1)
            if self.resampling == "nearest" and self.size % native == 0:  # integer factor: broadcast
                f = self.size // native
                for j, c in enumerate(idx):
                    dst[:, c].reshape(n, native, f, native, f)[:] = stack[:, j, :, None, :, None]
                continue
            up = F.interpolate(
                torch.from_numpy(stack),
                size=(self.size, self.size),
                mode=self.resampling,
                align_corners=False if self.resampling == "bilinear" else None,
            )
            out[:, idx] = up
        return out

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this preprocessing (stored in checkpoints)."""
        return {
            "bands": list(self.bands),
            "size": self.size,
            "resampling": self.resampling,
            "normalize": self.normalize,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
