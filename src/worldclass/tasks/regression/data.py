"""Data of the regression task: BigEarthNet patches with their reference maps (targets are computed from
them on the fly); DML-S2R trains on two streams, the labelled patches (``data.subset``) and every
training patch as unlabelled."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader

from worldclass.config import DataConfig
from worldclass.data.collate import collate
from worldclass.data.datamodule import BigEarthNetDataModule
from worldclass.data.dataset import BigEarthNet


class RegressionDataModule(BigEarthNetDataModule):
    """``semi``: the training loader is ``{"labelled": ..., "unlabelled": ...}`` (Lightning cycles the
    shorter labelled stream over an epoch of the unlabelled one)."""

    def __init__(self, data: DataConfig, *, semi: bool, unlabelled_batch: int = 0) -> None:
        super().__init__(
            data.root,
            batch_size=data.batch_size,
            num_workers=data.num_workers,
            sensors=tuple(data.sensors),
            num_classes=19,
            bands=data.bands,
            resampling=data.resampling,
            normalize=data.normalize,
            include_snow_cloud=data.include_snow_cloud,
            splits=data.splits,
            subset=data.subset,
            return_mask=True,
        )
        self.semi = semi
        self.unlabelled_batch = unlabelled_batch or data.batch_size

    def labelled_loader(self) -> DataLoader[Any]:
        """The labelled training patches in order (the neighbour bank of DML-S2R)."""
        return self._loader("train", train=False)

    def train_dataloader(self) -> Any:
        labelled = self._loader("train", train=True)
        if not self.semi:
            return labelled
        everything = BigEarthNet(self.root, split="train", **{**self.dataset_kwargs, "subset": None})
        unlabelled = DataLoader(
            everything,
            batch_size=self.unlabelled_batch,
            shuffle=True,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=collate,
        )
        return {"labelled": labelled, "unlabelled": unlabelled}
