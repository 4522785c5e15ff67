"""Self-supervised pretraining (``task: sscl | simsiam | moco``) of an N-channel encoder on unlabeled
images of any registered dataset (BigEarthNet S1 + S2 patches, SEN12MS / DFC2020 triplets, scenes);
labels are never read. ``best.ckpt``: the lowest validation pretext loss (SSCL: CoRe's reconstruction
loss, ``val/core``; MoCo: in-batch InfoNCE of two views); its encoder initialises a classifier or a
segmenter (``model.init_from``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from worldclass.config import ExperimentConfig, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import Setup, Task, register_task


@dataclass
class SSLModelConfig:
    """``backbone``: a timm model (SSCL: a ResNet with a one-conv stem; match it to the classifier's
    ``backbone`` / the segmenter's ``encoder`` you will initialise); projection ``proj_dim`` and
    ``hidden_dim`` of the heads."""

    backbone: str = setting("resnet18", "timm backbone (sscl: resnet18/34/50)")
    proj_dim: int = setting(128, "Projection output size")
    hidden_dim: int = setting(512, "Hidden width of the projection/prediction heads")


@dataclass
class SSLConfig:
    """Pretext settings. SSCL: the first ``unifeat_epochs`` epochs train UniFeat (pixel InfoNCE between two
    channels, ``pixels`` positions per image, ``temperature``), the rest CoRe (reconstruction from an input
    with ``channel_drop`` of the channels dropped, up to ``cutouts`` rectangles cut out, blur up to
    ``blur_sigma`` px; ``hole_weight`` on what was removed). MoCo: ``momentum`` of the key encoder,
    ``memory_bank`` negatives, ``temperature``. Defaults: UniFeat for a quarter of a short run is enough
    for 64 stem filters; dropping a third of the bands forces the encoder to predict bands from the others
    (the spectral context), while at least one band always stays; MoCo v2's 0.99 momentum and 0.2
    temperature; the bank is small because archives here are small."""

    unifeat_epochs: int = setting(1, "SSCL: epochs of the UniFeat stage before CoRe")
    pixels: int = setting(64, "SSCL UniFeat: pixel positions sampled per image")
    temperature: float = setting(0.2, "InfoNCE temperature (SSCL UniFeat, MoCo)")
    channel_drop: float = setting(0.33, "SSCL CoRe: probability that a band is dropped")
    cutouts: int = setting(2, "SSCL CoRe: most rectangles cut out per image")
    blur_sigma: float = setting(1.5, "SSCL CoRe: largest Gaussian blur sigma in px")
    hole_weight: float = setting(2.0, "SSCL CoRe: loss weight of dropped bands and cut-out pixels")
    momentum: float = setting(0.99, "MoCo: momentum of the key encoder")
    memory_bank: int = setting(1024, "MoCo: negatives kept in the memory bank")


class _SelfSupervised(Task):
    method: ClassVar[str]
    sections: ClassVar[dict[str, type]] = {"model": SSLModelConfig, "ssl": SSLConfig}
    monitor = "val/loss"
    mode = "min"
    dataset_kinds = ("multilabel", "segmentation")
    no_predict_hint = "initialise a classifier or segmenter with model.init_from (or `worldclass embed`)"
    no_eval_hint = "run `worldclass experiment label-budget` with this checkpoint as an initialisation"
    smoke = ("model.backbone=resnet18", "model.proj_dim=32", "model.hidden_dim=64")

    def validate(self, cfg: ExperimentConfig) -> None:
        s = cfg.section("ssl", SSLConfig)
        checks = [
            ("ssl.unifeat_epochs", s.unifeat_epochs >= 0, "0 or more"),
            ("ssl.pixels", s.pixels >= 2, "2 or more"),
            ("ssl.temperature", s.temperature > 0, "positive"),
            ("ssl.channel_drop", 0 <= s.channel_drop < 1, "in [0, 1)"),
            ("ssl.cutouts", s.cutouts >= 0, "0 or more"),
            ("ssl.hole_weight", s.hole_weight >= 1, "1 or more"),
            ("ssl.momentum", 0 <= s.momentum < 1, "in [0, 1)"),
            ("ssl.memory_bank", s.memory_bank >= 0, "0 or more"),
        ]
        for key, ok, want in checks:
            if not ok:
                raise ConfigError(f"config key {key!r}: {getattr(s, key.split('.')[1])!r}; use {want}")

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.datasets import get_dataset
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.selfsup.module import SSLModule

        dm, bands, preprocessing = _datamodule(cfg, get_dataset(cfg.data.dataset).kind)
        mc = cfg.section("model", SSLModelConfig)
        spec = {
            "method": self.method,
            "backbone": mc.backbone,
            "in_chans": len(bands),
            "proj_dim": mc.proj_dim,
            "hidden_dim": mc.hidden_dim,
        }
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=[],
            nomenclature="none",
            preprocessing=preprocessing,
            config=cfg.to_dict(),
            output_classes=[],
            model={"name": "ssl_encoder", "kwargs": spec},
            dataset=cfg.data.dataset,
            embedding={"layers": ["pooled"], "sensors": {"image": bands}},
        )
        return Setup(SSLModule(cfg.to_dict(), meta.to_dict()), dm, [])


def _datamodule(cfg: ExperimentConfig, kind: str) -> tuple[Any, list[str], dict[str, Any]]:
    """(DataModule, band names, preprocessing) of any dataset; labels are loaded but never used."""
    if kind == "multilabel":
        from worldclass.data.datamodule import BigEarthNetDataModule
        from worldclass.tasks.module import switch, trains_on_cuda

        d = cfg.data
        dm = BigEarthNetDataModule.from_config(
            d, native=switch(d.device_preprocessing, trains_on_cuda(cfg.trainer.accelerator))
        )
        dm.setup("fit")
        ds = dm.datasets["train"]
        return dm, list(ds.bands), ds.transform.describe()
    from worldclass.tasks.segmentation.data import SegmentationDataModule

    sdm = SegmentationDataModule(cfg)
    return sdm, list(sdm.bands), sdm.preprocessing


@register_task
class SSCLTask(_SelfSupervised):
    name = "sscl"
    monitor = "val/core"
    method = "sscl"
    summary = (
        "self-supervised SSCL: UniFeat (pixel similarity across bands) then CoRe (reconstruct degraded input)"
    )


@register_task
class SimSiamTask(_SelfSupervised):
    name = "simsiam"
    method = "simsiam"
    summary = "self-supervised SimSiam (two augmented views, stop-gradient; lightly heads and loss)"


@register_task
class MoCoTask(_SelfSupervised):
    name = "moco"
    method = "moco"
    summary = "self-supervised MoCo v2 (momentum key encoder, memory bank; lightly heads and loss)"
