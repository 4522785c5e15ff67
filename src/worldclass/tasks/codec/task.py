"""Joint compression and hashing (``task: codec``, RS-JCIF): a learned codec of multispectral BigEarthNet
patches whose encoder also gives binary hash codes, so an archive can be stored compressed and searched
without decoding (``worldclass compress`` / ``decompress``, ``worldclass search ARCHIVE``). Stage 1
trains rate-distortion at ``codec.target_bpp``; stage 2 adds the hashing losses (labels: soft pairwise,
classification) with the conflicting part of their gradient on the shared encoder removed. Monitored:
``val/loss`` (distortion + nominal rate weight x bpp + hashing losses, lower is better)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from worldclass.config import ExperimentConfig, choice, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import Setup, Task, register_task


@dataclass
class CodecModelConfig:
    """Analysis/synthesis width ``hidden``, ``latent`` channels at 1/8 resolution, ``hash_bits``."""

    latent: int = setting(48, "Latent channels (at 1/8 of the patch side)")
    hidden: int = setting(96, "Channels of the analysis/synthesis transforms")
    hash_bits: int = setting(64, "Hash code length in bits (multiple of 8)")


@dataclass
class CodecConfig:
    """Rate: ``target_bpp`` bits per 10 m pixel (all bands together), met by adapting the rate weight
    (starting at ``rate_weight``, multiplied by up to e^``rate_step`` per step). Stage 2 from epoch
    ``hash_from_epoch``: ``pair_weight`` x soft pairwise + ``balance_weight`` x bit balance +
    ``quantization_weight`` x quantisation + ``class_weight`` x BCE, with ``manipulation: pcgrad`` (the
    hashing gradient on the shared encoder projected off the rate-distortion gradient when they
    conflict) or ``none``. Defaults: one epoch of pure compression gives the hashing stage a latent worth
    indexing; the small balance/quantisation weights as in deep hashing practice."""

    target_bpp: float = setting(1.0, "Target bits per pixel (all bands of a pixel together)")
    rate_weight: float = setting(0.01, "Initial weight of the rate (bpp) against the MSE")
    rate_step: float = setting(0.2, "Largest log-change of the rate weight per step")
    hash_from_epoch: int = setting(1, "First epoch of the hashing stage (0: from the start)")
    pair_weight: float = setting(1.0, "Soft pairwise hashing loss weight")
    balance_weight: float = setting(0.1, "Bit-balance loss weight")
    quantization_weight: float = setting(0.1, "Quantisation loss weight")
    class_weight: float = setting(1.0, "Classification (BCE on the hash outputs) weight")
    manipulation: str = choice("pcgrad", ("pcgrad", "none"), "Hashing gradient on the shared encoder")


@register_task
class CodecTask(Task):
    name = "codec"
    summary = "learned compression + hashing of multispectral patches (RS-JCIF): compressed archives searchable without decoding"
    sections: ClassVar[dict[str, type]] = {"model": CodecModelConfig, "codec": CodecConfig}
    monitor = "val/loss"
    mode = "min"
    dataset_kinds = ("multilabel",)
    no_predict_hint = "compress an archive with `worldclass compress STORE --checkpoint CKPT --out ARCHIVE`"
    no_eval_hint = "compress the store, then `worldclass retrieval-eval ARCHIVE` and `worldclass decompress`"
    smoke = ("model.latent=8", "model.hidden=16", "model.hash_bits=16")

    def validate(self, cfg: ExperimentConfig) -> None:
        c = cfg.section("codec", CodecConfig)
        m = cfg.section("model", CodecModelConfig)
        if c.target_bpp <= 0 or c.rate_weight <= 0 or c.rate_step < 0 or c.hash_from_epoch < 0:
            raise ConfigError("codec: target_bpp and rate_weight > 0, rate_step and hash_from_epoch >= 0")
        if m.hash_bits % 8 or m.hash_bits < 8 or m.latent < 1 or m.hidden < 1:
            raise ConfigError(
                f"codec: model.hash_bits {m.hash_bits} must be a multiple of 8; latent, hidden >= 1"
            )
        if cfg.data.dataset != "bigearthnet" or cfg.data.attribute_encoding:
            raise ConfigError(
                "task codec compresses BigEarthNet patches (19 or 43 classes, no attribute encoding)"
            )

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.data.datamodule import BigEarthNetDataModule
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.codec.module import CodecModule

        d = cfg.data
        m = cfg.section("model", CodecModelConfig)
        c = cfg.section("codec", CodecConfig)
        dm = BigEarthNetDataModule.from_config(d)
        dm.setup("fit")
        ds = dm.datasets["train"]
        bands = list(ds.bands)
        spec = {
            "in_chans": len(bands),
            "classes": len(ds.classes),
            "latent": m.latent,
            "hidden": m.hidden,
            "hash_bits": m.hash_bits,
            "rate_weight": c.rate_weight,
        }
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=list(ds.classes),
            nomenclature=str(d.num_classes),
            preprocessing=ds.transform.describe(),
            config=cfg.to_dict(),
            output_classes=list(ds.classes),
            model={"name": "codec", "kwargs": spec},
            dataset=d.dataset,
            embedding={"layers": ["hash", "latent"], "sensors": {"+".join(ds.sensors): bands}},
        )
        return Setup(CodecModule(cfg.to_dict(), meta.to_dict()), dm, [])
