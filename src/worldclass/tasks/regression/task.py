"""Patch-level regression (``task: regression``) of targets computed from reBEN reference maps (e.g. the
forest or urban fraction of a patch), with a label budget (``data.subset``: the labelled training
patches) and ``regression.method``: ``supervised`` (labelled patches only) or ``dml-s2r`` (Siamese
target differences + triplet metric learning over labelled and unlabelled patches, alternately;
neighbour regression in the learned space). Monitored: validation RMSE (mean over targets, lower is
better). ``worldclass evaluate``: RMSE, MAE and R^2 per target."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from worldclass.config import ExperimentConfig, choice, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import EvalOptions, Setup, Task, register_task


@dataclass
class RegressionModelConfig:
    """timm ``backbone`` (any band count) -> linear embedding of ``embed_dim``."""

    backbone: str = setting("resnet18", "timm backbone")
    embed_dim: int = setting(128, "Embedding size (the metric space of DML-S2R)")


@dataclass
class RegressionConfig:
    """``targets``: 19-class names or groups (forest, urban, agriculture, water, wetlands), each the share
    of the patch's labelled reference-map pixels. DML-S2R: triplet ``margin`` (Euclidean, on unit
    embeddings), prediction from the ``neighbours`` nearest labelled patches, ``unlabelled_batch``
    patches of the unlabelled stream per step (default: data.batch_size). Defaults: 5 neighbours average
    out single mislabelled neighbours while staying local; a 0.2 margin is a tenth of the unit sphere's
    diameter."""

    targets: list[str] = field(
        default_factory=lambda: ["forest"], metadata={"help": "Targets (class names or groups)"}
    )
    method: str = choice("supervised", ("supervised", "dml-s2r"), "supervised or dml-s2r (semi-supervised)")
    neighbours: int = setting(5, "DML-S2R: labelled neighbours of the prediction")
    margin: float = setting(0.2, "DML-S2R: triplet margin")
    unlabelled_batch: int = setting(0, "DML-S2R: unlabelled patches per step (0: data.batch_size)")


@register_task
class RegressionTask(Task):
    name = "regression"
    summary = (
        "patch regression (class fractions from reBEN reference maps); supervised or DML-S2R semi-supervised"
    )
    sections: ClassVar[dict[str, type]] = {"model": RegressionModelConfig, "regression": RegressionConfig}
    monitor = "val/rmse"
    mode = "min"
    dataset_kinds = ("multilabel",)
    no_predict_hint = "score a split with `worldclass evaluate` (RMSE, R^2 per target)"
    smoke = ("model.backbone=resnet10t", "model.embed_dim=16")

    def validate(self, cfg: ExperimentConfig) -> None:
        from worldclass.data.fractions import target_classes

        r = cfg.section("regression", RegressionConfig)
        target_classes(r.targets)
        if r.neighbours < 1 or r.margin <= 0 or r.unlabelled_batch < 0:
            raise ConfigError(
                "regression: neighbours >= 1, margin > 0 and unlabelled_batch >= 0 (0: data.batch_size)"
            )
        if cfg.data.dataset != "bigearthnet" or cfg.data.device_preprocessing == "on":
            raise ConfigError(
                "task regression reads reBEN reference maps: data.dataset bigearthnet (a v2 root or store), "
                "data.device_preprocessing auto or off"
            )

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.regression.data import RegressionDataModule
        from worldclass.tasks.regression.module import RegressionModule

        r = cfg.section("regression", RegressionConfig)
        mc = cfg.section("model", RegressionModelConfig)
        dm = RegressionDataModule(cfg.data, semi=r.method == "dml-s2r", unlabelled_batch=r.unlabelled_batch)
        dm.setup("fit")
        ds = dm.datasets["train"]
        bands = list(ds.bands)
        spec = {
            "backbone": mc.backbone,
            "in_chans": len(bands),
            "targets": len(r.targets),
            "embed_dim": mc.embed_dim,
            "method": r.method,
            "neighbours": r.neighbours,
        }
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=list(r.targets),
            nomenclature="fractions-19",
            preprocessing=ds.transform.describe(),
            config=cfg.to_dict(),
            output_classes=list(r.targets),
            model={"name": "regression", "kwargs": spec},
            dataset=cfg.data.dataset,
            embedding={"layers": ["embedding", "pooled"], "sensors": {"+".join(ds.sensors): bands}},
        )
        return Setup(RegressionModule(cfg.to_dict(), meta.to_dict()), dm, [])

    def evaluate(
        self, checkpoint: Path, *, data: str | Path | None, split: str, out: Path | None, options: EvalOptions
    ) -> dict[str, Any]:
        from worldclass.tasks.regression.evaluate import evaluate_regression

        return evaluate_regression(
            checkpoint,
            data=data,
            split=split,
            out=out,
            batch_size=options.batch_size,
            workers=options.num_workers,
        )

    def headline(self, result: dict[str, Any]) -> dict[str, Any]:
        return {k: result[k] for k in ("rmse", "mae", "r2")}
