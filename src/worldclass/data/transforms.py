"""The one preprocessing path of worldclass: select bands -> normalise -> resample -> stack.

Works on whole batches of native-resolution patches, given as dicts band -> array (any source) or as a
:class:`~worldclass.data.native.NativeBatch` (the store's zero-copy path). One compiled kernel call
(:mod:`worldclass.data.kernels`) fills the batch, split across ``torch.get_num_threads()`` threads, into
a recycled output buffer. A single sample is a batch of one, so every source and batch size gives the
same tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from worldclass.data.kernels import fill_images, fill_masks, resampling_table
from worldclass.data.native import POOL, NativeBatch, pack, run_split
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
        self._native = np.array([BANDS[b].size for b in self.bands], np.int64)
        tables = [resampling_table(int(h), size, resampling == "nearest") for h in self._native]
        self._tables = tuple(np.ascontiguousarray(np.stack([t[k] for t in tables])) for k in range(4))
        if normalize == "none":
            self.mean = torch.zeros(len(self.bands))
            self.std = torch.ones(len(self.bands))
        else:
            m, s = band_statistics(self.bands, normalize)
            self.mean, self.std = torch.tensor(m), torch.tensor(s)
        # float32 numpy scalars: a Python float would make numpy compute in float64
        self._scale_np = (1.0 / self.std).numpy().astype(np.float32)
        self._shift_np = (-self.mean / self.std).numpy().astype(np.float32)

    def __call__(self, batch: Sequence[dict[str, npt.NDArray[Any]]] | NativeBatch) -> torch.Tensor:
        """batch: B dicts band -> native array, or a NativeBatch. Returns float32 (B, C, size, size).

        Normalisation is applied at native resolution before resampling: it is a per-band affine map and
        bilinear/nearest weights sum to one, so the result equals normalising after resampling.
        """
        native = batch if isinstance(batch, NativeBatch) else pack(batch, self.bands, False)
        n = len(native)
        out = POOL.take((n, len(self.bands), self.size, self.size), torch.float32)
        run_split(fill_images, n, native.addresses, native.kinds, self._native, self._scale_np,
                  self._shift_np, *self._tables, self.resampling == "nearest", out.numpy())  # fmt: skip
        return out

    def masks(self, batch: NativeBatch, lut: npt.NDArray[np.int64]) -> torch.Tensor:
        """(B, 120, 120) int64 class indices ``lut[min(code, len(lut) - 1)]`` of the batch's reference maps."""
        if batch.mask_addresses is None:
            raise ConfigError("this batch was read without reference maps (mask=False)")
        n = len(batch)
        out = POOL.take((n, 120, 120), torch.int64)
        run_split(fill_masks, n, batch.mask_addresses, np.ascontiguousarray(lut, np.int64), out.numpy())
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
