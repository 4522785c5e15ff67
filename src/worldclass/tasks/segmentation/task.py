"""Semantic segmentation (``task: segmentation``): U-Net / FCN / multi-resolution MLP on an smp encoder,
optional iterative refiner, CE / soft-IoU loss, on scene datasets; monitored: validation IoU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worldclass.config import ExperimentConfig, choice, setting
from worldclass.losses import SEGMENTATION_LOSSES
from worldclass.models.segmenter import ARCHS
from worldclass.tasks.base import EvalOptions, Setup, Task, register_task


@dataclass
class SegmenterModelConfig:
    """``arch`` (unet | fcn | mlp) on an smp ``encoder`` (or ``tu-<timm name>``); ``refine_steps`` > 0
    adds the iterative refiner; ``frame_field`` adds the edge + frame-field head (building classes:
    names with building/house/roof); ``init_from`` starts from the base weights of a segmentation checkpoint
    (fine-tuning, refinement stage) or from the encoder of a self-supervised one (``init_mode`` finetune,
    or linear: encoder frozen); ``freeze_base`` trains only the refiner; ``pretrained``: a local
    encoder weights file."""

    arch: str = choice("unet", ARCHS, "unet, fcn or mlp (multi-resolution MLP head)")
    encoder: str = setting("resnet34", "smp encoder name, or tu-<timm name>")
    refine_steps: int = setting(0, "Iterative refinement steps (0: none)")
    init_from: str | None = setting(
        None,
        "Segmentation checkpoint whose base weights start this run, or a self-supervised one "
        "(sscl/simsiam/moco) whose encoder starts the encoder",
        path=True,
    )
    init_mode: str = choice(
        "finetune", ("finetune", "linear"), "finetune all, or linear (frozen encoder, train the decoder)"
    )
    freeze_base: bool = setting(False, "Train only the refiner")
    pretrained: str | None = setting(None, "Local encoder weights file (never downloaded)", path=True)
    frame_field: bool = setting(
        False, "Also learn building edges and a frame field (U-Net; for polygonize --frame-field)"
    )


@dataclass
class SegmentationLossConfig:
    """``name``: ce | iou (soft IoU) | ce+iou."""

    name: str = choice("ce+iou", SEGMENTATION_LOSSES, "ce, iou (soft IoU) or ce+iou")


@register_task
class SegmentationTask(Task):
    name = "segmentation"
    summary = "semantic segmentation of scenes (Inria, GeoTIFF + labels): U-Net/FCN/MLP + refiner"
    sections: ClassVar[dict[str, type]] = {"model": SegmenterModelConfig, "loss": SegmentationLossConfig}
    monitor = "val/iou"
    mode = "max"
    dataset_kinds = ("segmentation",)
    no_predict_hint = "map whole scenes with `worldclass map`"
    smoke = ("model.encoder=resnet18",)
    eval_split = "val"

    def validate(self, cfg: ExperimentConfig) -> None:
        from worldclass.errors import ConfigError

        mc = cfg.section("model", SegmenterModelConfig)
        if mc.freeze_base and mc.refine_steps <= 0:
            raise ConfigError("model.freeze_base trains only the refiner: set model.refine_steps > 0")
        if mc.refine_steps < 0:
            raise ConfigError(f"config key 'model.refine_steps': {mc.refine_steps} must be >= 0")
        if mc.frame_field and mc.arch != "unet":
            raise ConfigError(f"model.frame_field needs model.arch unet (not {mc.arch!r})")

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.segmentation.data import SegmentationDataModule
        from worldclass.tasks.segmentation.module import SegmentationModule

        mc = cfg.section("model", SegmenterModelConfig)
        preprocessing = None
        if mc.init_from:  # the starting weights were fitted to their own input normalisation: keep it
            from worldclass.models.checkpoint import read_checkpoint

            preprocessing = read_checkpoint(mc.init_from)["hyper_parameters"]["meta"]["preprocessing"]
        dm = SegmentationDataModule(cfg, preprocessing)
        spec = {
            "arch": mc.arch,
            "encoder": mc.encoder,
            "in_channels": len(dm.bands),
            "num_classes": len(dm.classes),
            "refine_steps": mc.refine_steps,
        }
        if mc.frame_field:
            from worldclass.errors import ConfigError
            from worldclass.mapping.polygonize import building_classes

            field_classes = sorted(building_classes(dm.classes))
            if not field_classes:
                raise ConfigError(
                    f"model.frame_field learns building outlines, but no class of {dm.classes} is named "
                    "like building/house/roof; rename the class in data.classes"
                )
            spec.update(frame_field=True, frame_field_classes=field_classes)
        meta = ModelMeta(
            task=self.name,
            bands=dm.bands,
            classes=dm.classes,
            nomenclature=cfg.data.dataset,
            preprocessing=dm.preprocessing,
            config=cfg.to_dict(),
            output_classes=dm.classes,
            model={"name": "segmenter", "kwargs": spec},
            dataset=cfg.data.dataset,
            embedding={"layers": ["features"], "sensors": {"image": dm.bands}},
            class_colours=[list(c) for c in dm.class_colours or []],
        )
        module = SegmentationModule(cfg.to_dict(), meta.to_dict())
        module.initialise()
        return Setup(module, dm, [])

    def evaluate(
        self, checkpoint: Path, *, data: str | Path | None, split: str, out: Path | None, options: EvalOptions
    ) -> dict[str, Any]:
        from worldclass.tasks.segmentation.evaluate import evaluate_segmentation

        return evaluate_segmentation(
            checkpoint,
            data=data,
            split=split,
            out=out,
            tile=options.tile,
            overlap=options.overlap,
            progress=options.progress,
        )

    def headline(self, result: dict[str, Any]) -> dict[str, Any]:
        o = result["overall"]
        out = {k: round(float(o[k]), 4) for k in ("iou", "accuracy", "miou")}
        for k, v in result.get("benchmark", {}).get("headline", {}).items():
            out[k] = round(float(v), 4)
        return out

    def report_section(self, report: Any, result: dict[str, Any]) -> None:
        from worldclass.tasks.segmentation.evaluate import add_segmentation_section

        add_segmentation_section(report, result)
