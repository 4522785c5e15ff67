"""Image-to-map alignment (``task: alignment``): a coarse-to-fine chain of scale-specific FCNs predicts
the displacement field between an image and its misaligned map (L2 loss on simulated misalignments of
the scene labels); monitored: validation end-point error (px, lower is better)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worldclass.config import ExperimentConfig, setting
from worldclass.errors import ConfigError
from worldclass.tasks.base import EvalOptions, Setup, Task, register_task


@dataclass
class AlignModelConfig:
    """``scales``: downsampling of each stage, coarse to fine; ``width``: channels per stage;
    ``map_classes``: the classes whose map is aligned (names; each one input raster)."""

    scales: list[int] = setting(
        help="Downsampling factor of each stage, coarse to fine", factory=lambda: [8, 4, 2]
    )
    width: int = setting(32, "Channels of each stage (a multiple of 8)")
    map_classes: list[str] = setting(
        help="Classes whose map is aligned (one input raster each)", factory=lambda: ["building"]
    )


@dataclass
class MisalignConfig:
    """Simulated misalignment: training draws a smooth field of RMS up to ``amplitude`` px (correlation
    length ``scale`` px) plus a constant shift up to ``max_shift`` px per axis; evaluation also moves each
    object by ``object_shift`` px RMS (digitising offsets)."""

    amplitude: float = setting(4.0, "Largest RMS (px) of the smooth displacement")
    scale: float = setting(64.0, "Correlation length (px) of the smooth displacement")
    max_shift: float = setting(6.0, "Largest constant shift (px) per axis")
    object_shift: float = setting(0.5, "Evaluation: RMS shift (px) of each object")


@register_task
class AlignmentTask(Task):
    name = "alignment"
    summary = "image-to-map alignment: coarse-to-fine FCNs predict the displacement of a map layer"
    sections: ClassVar[dict[str, type]] = {"model": AlignModelConfig, "misalign": MisalignConfig}
    monitor = "val/epe"
    mode = "min"
    dataset_kinds = ("segmentation",)
    no_predict_hint = "align a vector layer with `worldclass align SCENE LABELS --checkpoint C`"
    smoke = ("model.width=16",)
    eval_split = "val"

    def validate(self, cfg: ExperimentConfig) -> None:
        mc = cfg.section("model", AlignModelConfig)
        if not mc.scales or any(s < 1 for s in mc.scales) or mc.width < 8 or mc.width % 8:
            raise ConfigError("model.scales: positive factors, e.g. [8, 4, 2]; model.width: a multiple of 8")
        if not mc.map_classes:
            raise ConfigError("model.map_classes: name at least one class, e.g. [building]")
        ms = cfg.section("misalign", MisalignConfig)
        if min(ms.amplitude, ms.max_shift, ms.object_shift) < 0 or ms.scale <= 0:
            raise ConfigError("misalign: amplitude, max_shift, object_shift >= 0 and scale > 0 (px)")

    def setup(self, cfg: ExperimentConfig) -> Setup:
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.alignment.data import AlignmentDataModule, FieldSpec
        from worldclass.tasks.alignment.module import AlignmentModule

        mc = cfg.section("model", AlignModelConfig)
        ms = cfg.section("misalign", MisalignConfig)
        from worldclass.datasets import get_dataset

        classes = list(get_dataset(cfg.data.dataset).classes(cfg.data))  # type: ignore[attr-defined]
        lookup = {c.lower(): i for i, c in enumerate(classes)}
        missing = [c for c in mc.map_classes if c.lower() not in lookup]
        if missing:
            raise ConfigError(f"model.map_classes {missing} are not classes of this data: {classes}")
        indices = [lookup[c.lower()] for c in mc.map_classes]
        dm = AlignmentDataModule(cfg, indices, FieldSpec(ms.amplitude, ms.scale, ms.max_shift))
        spec = {
            "in_channels": len(dm.bands),
            "map_channels": len(indices),
            "scales": list(mc.scales),
            "width": mc.width,
        }
        bands = [*dm.bands, *(f"map:{dm.classes[i]}" for i in indices)]
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=[dm.classes[i] for i in indices],
            nomenclature=cfg.data.dataset,
            preprocessing=dm.preprocessing,
            config=cfg.to_dict(),
            output_classes=["dx", "dy"],
            model={"name": "alignment_net", "kwargs": spec},
            dataset=cfg.data.dataset,
            embedding={"layers": ["features"], "sensors": {"image+map": bands}},
        )
        return Setup(AlignmentModule(cfg.to_dict(), meta.to_dict()), dm, [])

    def evaluate(
        self, checkpoint: Path, *, data: str | Path | None, split: str, out: Path | None, options: EvalOptions
    ) -> dict[str, Any]:
        from worldclass.tasks.alignment.evaluate import evaluate_alignment

        return evaluate_alignment(checkpoint, data=data, split=split, out=out, progress=options.progress)

    def headline(self, result: dict[str, Any]) -> dict[str, Any]:
        keys = ("within_1px_before", "within_1px_after", "iou_before", "iou_after", "epe_after")
        return {k: round(float(result[k]), 4) for k in keys}

    def report_section(self, report: Any, result: dict[str, Any]) -> None:
        from worldclass.tasks.alignment.evaluate import add_alignment_section

        add_alignment_section(report, result)
