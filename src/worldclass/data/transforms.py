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

from worldclass.config.sections import NORMALIZATION, RESAMPLING
from worldclass.data.kernels import fill_images, fill_masks, resampling_table
from worldclass.data.native import POOL, NativeBatch, pack, run_split
from worldclass.data.sensors import BANDS, band_statistics
from worldclass.errors import ConfigError

Resampling = Literal["bilinear", "nearest"]
Normalization = Literal["v2", "v1", "none"]


class PatchTransform:
    """Turn native band arrays into a normalised float32 tensor (B, C, size, size).

    ``bands``: channel order (see :func:`worldclass.data.sensors.resolve_bands`). ``size``: output side
    in px; ``native_sizes``: each band's side in px as stored (default: BigEarthNet's 120/60/20 px of a
    1.2 km patch); a dataset of another geometry passes its own (e.g. 256 px for every band).
    ``resampling``: 'bilinear' (default; ``align_corners=False``) or 'nearest' for bands coarser than
    ``size``. ``normalize``: 'v2' / 'v1' shipped per-band mean/std (``(x - mean) / std``), 'none' (raw DN /
    dB), or explicit ``mean``/``std`` lists (one per band) for datasets with their own statistics.
    """

    def __init__(
        self,
        bands: Sequence[str],
        *,
        size: int = 120,
        resampling: Resampling = "bilinear",
        normalize: Normalization = "v2",
        native_sizes: Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if resampling not in RESAMPLING:
            raise ConfigError(f"resampling={resampling!r}; choose one of {list(RESAMPLING)}")
        if normalize not in NORMALIZATION:
            raise ConfigError(f"normalize={normalize!r}; choose one of {list(NORMALIZATION)}")
        self.bands = tuple(bands)
        self.size = size
        self.resampling = resampling
        self.normalize = normalize
        sizes = list(native_sizes) if native_sizes is not None else [BANDS[b].size for b in self.bands]
        if len(sizes) != len(self.bands):
            raise ConfigError(f"native_sizes has {len(sizes)} values for {len(self.bands)} bands")
        self._native = np.array(sizes, np.int64)
        tables = [resampling_table(int(h), size, resampling == "nearest") for h in self._native]
        self._tables = tuple(np.ascontiguousarray(np.stack([t[k] for t in tables])) for k in range(4))
        if mean is not None or std is not None:
            if mean is None or std is None or not len(mean) == len(std) == len(self.bands):
                raise ConfigError(f"give mean and std with one value per band ({len(self.bands)})")
            self.mean, self.std = torch.tensor(list(mean)), torch.tensor(list(std))
        elif normalize == "none":
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
        native = (
            batch
            if isinstance(batch, NativeBatch)
            else pack(batch, self.bands, False, native_sizes=self._native.tolist())
        )
        n = len(native)
        out = POOL.take((n, len(self.bands), self.size, self.size), torch.float32)
        run_split(
            fill_images,
            n,
            native.addresses,
            native.kinds,
            self._native,
            self._scale_np,
            self._shift_np,
            *self._tables,
            self.resampling == "nearest",
            out.numpy(),
        )
        return out

    def masks(self, batch: NativeBatch, lut: npt.NDArray[np.int64]) -> torch.Tensor:
        """(B, size, size) int64 class indices ``lut[min(code, len(lut) - 1)]`` of the batch's reference
        maps (stored at ``size`` px)."""
        if batch.mask_addresses is None:
            raise ConfigError("this batch was read without reference maps (mask=False)")
        n = len(batch)
        out = POOL.take((n, self.size, self.size), torch.int64)
        run_split(fill_masks, n, batch.mask_addresses, np.ascontiguousarray(lut, np.int64), out.numpy())
        return out

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this preprocessing (stored in checkpoints)."""
        return {
            "bands": list(self.bands),
            "size": self.size,
            "native_sizes": self._native.tolist(),
            "resampling": self.resampling,
            "normalize": self.normalize,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
