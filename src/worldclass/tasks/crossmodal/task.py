"""Self-supervised cross-modal retrieval (``task: sscm``, SS-CM-RSIR) on unlabeled S1 + S2 pairs of
BigEarthNet patches or SEN12MS / DFC2020 triplets; labels are never read. Monitored: validation loss
(lower is better). ``worldclass embed`` gives ``s2`` and ``s1`` rows in one space for cross-modal search
and ``worldclass retrieval-eval``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from worldclass.config import ExperimentConfig, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import Setup, Task, register_task

#: Band names of the S1 modality (BigEarthNet and SEN12MS name them alike).
S1_BAND_NAMES = ("VV", "VH")


@dataclass
class CrossModalModelConfig:
    """One ``backbone`` (timm) per modality, projection heads ``hidden_dim`` -> ``proj_dim`` (the shared
    retrieval space)."""

    backbone: str = setting("resnet18", "timm backbone of each modality's encoder")
    proj_dim: int = setting(128, "Shared embedding size")
    hidden_dim: int = setting(512, "Hidden width of the projection heads")


@dataclass
class CrossModalLossConfig:
    """Loss = ``mi_weight`` x InfoNCE(S2, S1) at ``temperature`` (mutual-information bound) +
    ``angle_weight`` x mean angle (radians) between the two modalities of a location + ``intra_weight``
    x (1 - cos) to the ``neighbours`` most similar images of the same modality in the batch. Defaults:
    the InfoNCE term carries the alignment; the angle term (small weight: it alone would collapse) closes
    the gap between modalities that the ranking loss leaves; the intra-modal term at 0.5 with one
    neighbour tightens clusters without pulling unrelated scenes together."""

    mi_weight: float = setting(1.0, "Weight of the inter-modal InfoNCE (mutual information)")
    angle_weight: float = setting(0.2, "Weight of the inter-modal angular distance")
    intra_weight: float = setting(0.5, "Weight of the intra-modal nearest-neighbour similarity")
    temperature: float = setting(0.2, "InfoNCE temperature")
    neighbours: int = setting(1, "Most similar same-modality images pulled closer per image")


@register_task
class CrossModalTask(Task):
    name = "sscm"
    summary = (
        "self-supervised cross-modal retrieval S1 <-> S2 (SS-CM-RSIR: MI, angular and intra-modal losses)"
    )
    sections: ClassVar[dict[str, type]] = {"model": CrossModalModelConfig, "loss": CrossModalLossConfig}
    monitor = "val/loss"
    mode = "min"
    dataset_kinds = ("multilabel", "segmentation")
    no_predict_hint = "embed patches with `worldclass embed` and search across sensors"
    no_eval_hint = "evaluate its embeddings with `worldclass embed` and `worldclass retrieval-eval`"
    smoke = ("model.backbone=resnet10t", "model.proj_dim=16", "model.hidden_dim=32")

    def validate(self, cfg: ExperimentConfig) -> None:
        lc = cfg.section("loss", CrossModalLossConfig)
        weights = (lc.mi_weight, lc.angle_weight, lc.intra_weight)
        if min(weights) < 0 or lc.mi_weight + lc.angle_weight == 0:
            raise ConfigError(
                "sscm: loss weights must be >= 0 and loss.mi_weight or loss.angle_weight > 0 (the intra-modal "
                "term alone never relates the two modalities)"
            )
        if lc.temperature <= 0 or lc.neighbours < 1:
            raise ConfigError("sscm: loss.temperature must be > 0 and loss.neighbours >= 1")
        if cfg.data.dataset == "bigearthnet" and sorted(cfg.data.sensors) != ["s1", "s2"]:
            raise ConfigError("task sscm learns from S1 + S2 pairs: set data.sensors [s2, s1]")

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.datasets import get_dataset
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.crossmodal.module import CrossModalModule
        from worldclass.tasks.selfsup.task import _datamodule

        dm, bands, preprocessing = _datamodule(cfg, get_dataset(cfg.data.dataset).kind)
        s1 = [b for b in bands if b in S1_BAND_NAMES]
        s2 = [b for b in bands if b not in S1_BAND_NAMES]
        if not s1 or not s2:
            raise ConfigError(
                f"task sscm learns across sensors: data.bands gives {bands}; it must hold S2 bands and VV/VH"
            )
        if bands != s2 + s1:
            raise ConfigError(f"task sscm: data.bands {bands} must list the S2 bands first, then VV/VH")
        mc = cfg.section("model", CrossModalModelConfig)
        spec = {
            "backbone": mc.backbone,
            "s2_bands": len(s2),
            "s1_bands": len(s1),
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
            model={"name": "crossmodal", "kwargs": spec},
            dataset=cfg.data.dataset,
            embedding={"layers": ["projection", "pooled"], "sensors": {"s2": s2, "s1": s1}},
        )
        return Setup(CrossModalModule(cfg.to_dict(), meta.to_dict()), dm, [])
