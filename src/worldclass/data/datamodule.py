"""Lightning DataModule over :class:`worldclass.data.BigEarthNet` (train / validation / test of one source)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchvision through torchmetrics

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, DistributedSampler, Sampler  # noqa: E402

from worldclass.config import DataConfig  # noqa: E402
from worldclass.data.collate import collate  # noqa: E402
from worldclass.data.dataset import BigEarthNet  # noqa: E402


class BigEarthNetDataModule(L.LightningDataModule):
    """Builds the three split datasets lazily in :meth:`setup` and serves DataLoaders with worker
    processes, pinned memory (default: when CUDA is available) and persistent workers. ``dataset_kwargs`` go to every BigEarthNet
    (sensors, num_classes, bands, resampling, normalize, ...). ``train_sampler``: optional sampler
    factory ``f(dataset) -> Sampler`` (e.g. MROS); shuffling is used otherwise."""

    def __init__(
        self,
        root: str | Path,
        *,
        batch_size: int = 64,
        num_workers: int = 2,
        pin_memory: bool | None = None,
        persistent_workers: bool = False,
        split_names: Sequence[str] = ("train", "validation", "test"),
        train_sampler: Any = None,
        **dataset_kwargs: Any,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        # off by default: a persistent iterator draws its worker seed once, in the first epoch, so a resumed
        # run (which creates it in a later epoch) would shift the RNG stream and differ from an unbroken run
        self.persistent_workers = persistent_workers and num_workers > 0
        self.split_names = tuple(split_names)
        self.train_sampler = train_sampler
        self.dataset_kwargs = dataset_kwargs
        self.datasets: dict[str, BigEarthNet] = {}

    @classmethod
    def from_config(
        cls, data: DataConfig, *, train_sampler: Any = None, native: bool = False
    ) -> BigEarthNetDataModule:
        """The DataModule of a ``data`` config section (attribute encoding reads the 43 classes).
        ``native``: batches carry native band groups for the device (:mod:`worldclass.data.device`)."""
        return cls(
            data.root,
            batch_size=data.batch_size,
            num_workers=data.num_workers,
            train_sampler=train_sampler,
            sensors=tuple(data.sensors),
            num_classes=43 if data.attribute_encoding else data.num_classes,
            bands=data.bands,
            resampling=data.resampling,
            normalize=data.normalize,
            include_snow_cloud=data.include_snow_cloud,
            splits=data.splits,
            labels=data.labels,
            native=native,
            subset=data.subset,
        )

    def setup(self, stage: str | None = None) -> None:
        """Open the splits a Lightning stage needs (``fit``: train + validation; ``validate``,
        ``test``, ``predict``: theirs; None: all of ``split_names``), each once."""
        wanted = {"fit": ("train", "validation"), "validate": ("validation",)}.get(
            stage or "", ("test",) if stage in ("test", "predict") else self.split_names
        )
        for split in self.split_names:
            if split in wanted:
                self._open(split)

    def _open(self, split: str) -> BigEarthNet:
        if split not in self.datasets:
            self.datasets[split] = BigEarthNet(self.root, split=split, **self.dataset_kwargs)
        return self.datasets[split]

    def _loader(self, split: str, *, train: bool) -> DataLoader[Any]:
        ds = self._open(split)
        sampler: Sampler[int] | None = self.train_sampler(ds) if (train and self.train_sampler) else None
        if not train and self.train_sampler and _world() > 1:
            # Lightning does not shard loaders when the run brings its own (rank-aware) training sampler:
            # shard validation/test here; the padding repeats are removed by the task's gather_unique
            sampler = DistributedSampler(ds, shuffle=False, drop_last=False)
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=collate,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", train=False)


def _world() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
