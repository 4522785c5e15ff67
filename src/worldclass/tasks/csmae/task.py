"""Cross-sensor masked autoencoder (``task: csmae``; older configs: ``ssl``): self-supervised pretraining
on unlabeled S1 + S2 pairs (labels never read); monitored: validation loss (lower is better). The
encoder embeds either sensor into one space for ``worldclass embed`` / cross-sensor retrieval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from worldclass.config import ExperimentConfig, choice, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import Setup, Task, register_task


@dataclass
class CSMAEModelConfig:
    """ViT encoder(s) over ``patch_size`` px patches of the input (must divide the dataset's patch size,
    120 for BigEarthNet), ``embed_dim`` (multiple of 4 and of ``heads``), ``depth``; decoders of
    ``decoder_dim`` x ``decoder_depth``; projection head to ``proj_dim``. ``variant``: encoder x decoder
    type, C = common to both sensors, S = sensor-specific (see :mod:`worldclass.models.csmae`)."""

    variant: str = choice(
        "cesd",
        ("cecd", "cesd", "secd", "sesd"),
        "CSMAE variant: common/specific encoder x common/specific decoder",
    )

    patch_size: int = setting(15, "ViT patch side in px (must divide the dataset's patch size, 120)")
    embed_dim: int = setting(192, "Encoder width (multiple of 4 and of heads)")
    depth: int = setting(4, "Encoder blocks")
    heads: int = setting(3, "Attention heads")
    decoder_dim: int = setting(128, "Width of each sensor's decoder")
    decoder_depth: int = setting(2, "Blocks of each decoder")
    proj_dim: int = setting(128, "Projection head size (the embedding)")


@dataclass
class CSMAELossConfig:
    """Loss = ``uni_weight`` x masked reconstruction + ``cross_weight`` x cross-sensor reconstruction +
    ``contrastive_weight`` x InfoNCE(S2, S1) at ``temperature`` (a 0 weight switches a term off);
    ``mask_ratio`` of the tokens hidden per sensor, placed by ``masking``; ``norm_pix``: per-patch
    normalised reconstruction targets."""

    mask_ratio: float = setting(0.5, "Share of tokens hidden per sensor")
    masking: str = choice(
        "random",
        ("random", "same", "complementary"),
        "Hidden positions: independent per sensor, the same in both, or S1 shows what S2 hides",
    )
    norm_pix: bool = setting(False, "Reconstruct per-patch normalised pixels (MAE norm_pix_loss)")
    uni_weight: float = setting(1.0, "Weight of the masked (same-sensor) reconstruction")
    cross_weight: float = setting(1.0, "Weight of the cross-sensor reconstruction")
    contrastive_weight: float = setting(1.0, "Weight of the InfoNCE(S2, S1) term")
    temperature: float = setting(0.1, "InfoNCE temperature")


@register_task
class CSMAETask(Task):
    name = "csmae"
    aliases = ("ssl",)
    summary = "self-supervised cross-sensor masked autoencoder on S1 + S2 pairs (for retrieval)"
    sections: ClassVar[dict[str, type]] = {"model": CSMAEModelConfig, "loss": CSMAELossConfig}
    monitor = "val/loss"
    mode = "min"
    dataset_kinds = ("multilabel",)
    no_predict_hint = "embed patches with `worldclass embed` (or fine-tune a classifier from it)"
    smoke = (
        "data.bands=s2-10+s1",
        "model.embed_dim=32",
        "model.depth=1",
        "model.heads=2",
        "model.decoder_dim=32",
        "model.decoder_depth=1",
        "model.proj_dim=16",
    )
    no_eval_hint = "evaluate its embeddings with `worldclass embed` and `worldclass retrieval-eval`"

    def validate(self, cfg: ExperimentConfig) -> None:
        from worldclass.datasets import get_dataset

        mc, lc = cfg.section("model", CSMAEModelConfig), cfg.section("loss", CSMAELossConfig)
        if sorted(cfg.data.sensors) != ["s1", "s2"]:
            raise ConfigError("task csmae learns from S1 + S2 pairs: set data.sensors [s2, s1]")
        size = get_dataset(cfg.data.dataset).input_size(cfg.data)
        if mc.embed_dim % 4 or mc.embed_dim % mc.heads or size % mc.patch_size:
            raise ConfigError(
                f"csmae: model.embed_dim must be a multiple of 4 and of model.heads; model.patch_size must "
                f"divide the input size {size}"
            )
        if not 0 < lc.mask_ratio < 1:
            raise ConfigError(f"config key 'loss.mask_ratio': {lc.mask_ratio} must be in (0, 1)")
        weights = (lc.uni_weight, lc.cross_weight, lc.contrastive_weight)
        if min(weights) < 0 or max(weights) == 0:
            raise ConfigError(
                "csmae: loss.uni_weight, loss.cross_weight and loss.contrastive_weight must be >= 0, one of "
                "them > 0"
            )
        tokens = (size // mc.patch_size) ** 2
        if lc.masking == "complementary" and max(1, round(tokens * (1 - lc.mask_ratio))) >= tokens:
            raise ConfigError(
                f"csmae: complementary masking needs hidden tokens; loss.mask_ratio {lc.mask_ratio} hides none "
                f"of {tokens}"
            )

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.data.datamodule import BigEarthNetDataModule
        from worldclass.data.sensors import S1_NAMES
        from worldclass.datasets import get_dataset
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.csmae.module import CSMAEModule
        from worldclass.tasks.module import switch, trains_on_cuda

        d = cfg.data
        mc, lc = cfg.section("model", CSMAEModelConfig), cfg.section("loss", CSMAELossConfig)
        dm = BigEarthNetDataModule.from_config(
            d, native=switch(d.device_preprocessing, trains_on_cuda(cfg.trainer.accelerator))
        )
        dm.setup("fit")
        ds = dm.datasets["train"]
        bands = list(ds.bands)
        s1 = [b for b in bands if b in S1_NAMES]
        s2 = [b for b in bands if b not in S1_NAMES]
        if not s1 or not s2:
            raise ConfigError("task csmae learns across sensors: data.bands must hold S2 and S1 bands")
        spec = {
            "s2_bands": len(s2),
            "s1_bands": len(s1),
            "image_size": get_dataset(d.dataset).input_size(d),
            "patch_size": mc.patch_size,
            "dim": mc.embed_dim,
            "depth": mc.depth,
            "heads": mc.heads,
            "decoder_dim": mc.decoder_dim,
            "decoder_depth": mc.decoder_depth,
            "proj_dim": mc.proj_dim,
            "mask_ratio": lc.mask_ratio,
            "variant": mc.variant,
            "masking": lc.masking,
            "norm_pix": lc.norm_pix,
        }
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=[],
            nomenclature="none",
            preprocessing=ds.transform.describe(),
            config=cfg.to_dict(),
            output_classes=[],
            model={"name": "csmae", "kwargs": spec},
            dataset=d.dataset,
            embedding={"layers": ["projection", "pooled"], "sensors": {"s2": s2, "s1": s1}},
        )
        return Setup(CSMAEModule(cfg.to_dict(), meta.to_dict()), dm, [])
