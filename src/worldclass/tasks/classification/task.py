"""Multi-label scene classification (``task: classification``): a timm backbone on S2 and/or S1 patches,
BCE / CW / DCW / focal / label-smoothing loss, optional MROS or ML-ROS sampling, optional noise-robust
training (``robust.method``: ELR, co-teaching, SVAE, GRID); monitored: validation macro AP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worldclass.config import ExperimentConfig, choice, setting
from worldclass.errors import ConfigError
from worldclass.losses import MULTILABEL_LOSSES
from worldclass.models.classifier import FUSIONS, PARENT_RULES
from worldclass.tasks.base import EvalOptions, Setup, Task, register_task
from worldclass.tasks.classification.robust import RobustConfig
from worldclass.tasks.federated import FederatedConfig

SAMPLERS = ("none", "mros", "mlros")


@dataclass
class ClassifierModelConfig:
    """``backbone``: any timm model name; ``fusion``: early (one backbone over all bands) or late (one per
    sensor); ``pretrained``: a local weights file (never downloaded); dropout and drop-path rates;
    ``parent_rule`` (with ``data.attribute_encoding``): how the 19 parents are scored from the 43
    children, noisy-or | max | clipped-sum (see :class:`worldclass.models.classifier.SceneClassifier`);
    ``init_from``: a self-supervised checkpoint whose encoder starts the backbone, ``init_mode`` finetune
    (train all) or linear (frozen encoder, a linear head: the linear-probe protocol)."""

    backbone: str = setting("resnet50", "Any timm model name")
    fusion: str = choice("early", FUSIONS, "early: one backbone over all bands; late: one per sensor")
    pretrained: str | None = setting(None, "Local backbone weights file (never downloaded)", path=True)
    drop_rate: float = setting(0.15, "Dropout before the classifier head, in [0, 1)")
    drop_path_rate: float = setting(0.15, "Stochastic depth rate of the backbone")
    parent_rule: str = choice(
        "noisy-or",
        PARENT_RULES,
        "With data.attribute_encoding: how the 19 parents are scored from the 43 children",
    )
    init_from: str | None = setting(
        None, "Self-supervised checkpoint (sscl/simsiam/moco) whose encoder starts the backbone", path=True
    )
    init_mode: str = choice(
        "finetune", ("finetune", "linear"), "With init_from: finetune all, or linear (frozen encoder)"
    )


@dataclass
class MultiLabelLossConfig:
    """``name``: bce | cw | dcw | focal | smooth. CW/DCW ``pos_weight = clip((neg/pos)^power, 1,
    max_weight)``; focal: ``alpha``, ``gamma``; smooth (label smoothing, for noisy labels): ``smoothing``."""

    name: str = choice(
        "bce",
        MULTILABEL_LOSSES,
        "bce, cw (class weights), dcw (class weights of each epoch's draw), focal or smooth (label smoothing)",
    )
    power: float = setting(0.5, "CW/DCW: pos_weight = clip((neg/pos)^power, 1, max_weight)")
    max_weight: float = setting(50.0, "CW/DCW: largest pos_weight")
    alpha: float = setting(0.25, "Focal loss alpha")
    gamma: float = setting(2.0, "Focal loss gamma")
    smoothing: float = setting(0.1, "Label smoothing: BCE against y (1 - smoothing) + smoothing / 2")


@dataclass
class SamplerConfig:
    """``name``: none (shuffle) | mros (multi-label random oversampling by sample weights) | mlros
    (ML-ROS cloning of ``mlros_percentage`` % more samples).

    MROS weights are ``(1 / p_c) ** mros_temperature`` of a patch's rarest minority label, clipped so that
    no patch is expected more than ``mros_max_draws`` times per epoch (0 = uncapped, the poster's form);
    see :mod:`worldclass.data.sampling`.
    """

    name: str = choice(
        "none", SAMPLERS, "none (shuffle), mros (weighted oversampling) or mlros (ML-ROS cloning)"
    )
    mlros_percentage: float = setting(25.0, "ML-ROS: percent more samples cloned")
    mros_temperature: float = setting(
        1.0, "MROS: weight = (1/p_c)^temperature of a patch's rarest minority label"
    )
    mros_max_draws: float = setting(20.0, "MROS: most expected draws of one patch per epoch (0: uncapped)")


def _sampler_factory(cfg: ExperimentConfig) -> Any:
    sc = cfg.section("sampler", SamplerConfig)
    if sc.name == "none":
        return None
    from worldclass.data.sampling import IndexListSampler, MROSSampler, ml_ros, mros_weights

    seed, name, pct = cfg.trainer.seed, sc.name, sc.mlros_percentage
    cap = sc.mros_max_draws or None

    def factory(ds: Any) -> Any:
        labels = ds.labels()
        if name == "mros":
            weights = mros_weights(labels, temperature=sc.mros_temperature, max_draws=cap)
            return MROSSampler(weights, seed=seed)
        return IndexListSampler(ml_ros(labels, pct, seed=seed), seed=seed)

    return factory


def row_sensor(bands: list[str]) -> str:
    """Row sensor of embeddings made from ``bands``: ``s2``, ``s1`` or ``s2+s1``."""
    from worldclass.data.sensors import S1_NAMES

    s1 = any(b in S1_NAMES for b in bands)
    s2 = any(b not in S1_NAMES for b in bands)
    return "s2+s1" if s1 and s2 else ("s1" if s1 else "s2")


@register_task
class ClassificationTask(Task):
    name = "classification"
    summary = "multi-label scene classification (BigEarthNet): timm backbones, MROS/DCW, minority metrics"
    sections: ClassVar[dict[str, type]] = {
        "model": ClassifierModelConfig,
        "loss": MultiLabelLossConfig,
        "sampler": SamplerConfig,
        "robust": RobustConfig,
        "federated": FederatedConfig,
    }
    monitor = "val/map_macro"
    mode = "max"
    dataset_kinds = ("multilabel",)
    smoke = ("model.backbone=resnet10t", "model.drop_path_rate=0", "data.bands=s2-10+s1")
    eval_split = "test"

    def validate(self, cfg: ExperimentConfig) -> None:
        sc = cfg.section("sampler", SamplerConfig)
        if sc.mros_temperature < 0 or not (sc.mros_max_draws == 0 or sc.mros_max_draws >= 1):
            raise ConfigError(
                f"sampler.mros_temperature must be >= 0 and sampler.mros_max_draws 0 (uncapped) or >= 1; got "
                f"{sc.mros_temperature} and {sc.mros_max_draws}"
            )
        mc = cfg.section("model", ClassifierModelConfig)
        if not 0 <= mc.drop_rate < 1:
            raise ConfigError(f"config key 'model.drop_rate': {mc.drop_rate!r}; use in [0, 1)")
        if mc.fusion == "late" and sorted(cfg.data.sensors) != ["s1", "s2"]:
            raise ConfigError("model.fusion late needs both sensors: set data.sensors [s2, s1]")
        lc = cfg.section("loss", MultiLabelLossConfig)
        if not 0 <= lc.smoothing < 1:
            raise ConfigError(f"config key 'loss.smoothing': {lc.smoothing!r}; use in [0, 1)")
        checks = {
            "robust": cfg.section("robust", RobustConfig).problems(),
            "federated": cfg.section("federated", FederatedConfig).problems(),
        }
        for name, bad in checks.items():
            if bad:
                raise ConfigError(f"config section '{name}': {'; '.join(bad)}")

    def setup(self, cfg: ExperimentConfig) -> Setup:
        import numpy as np

        from worldclass.data.datamodule import BigEarthNetDataModule
        from worldclass.data.nomenclature import CLASSES19, CLASSES43, matrix_43_to_19
        from worldclass.data.sensors import S1_NAMES
        from worldclass.models.checkpoint import ModelMeta
        from worldclass.tasks.classification.dcw import DynamicClassWeights
        from worldclass.tasks.classification.module import ClassificationModule
        from worldclass.tasks.module import switch, trains_on_cuda

        d = cfg.data
        mc = cfg.section("model", ClassifierModelConfig)
        dm = BigEarthNetDataModule.from_config(
            d,
            train_sampler=_sampler_factory(cfg),
            native=switch(d.device_preprocessing, trains_on_cuda(cfg.trainer.accelerator)),
        )
        dm.setup("fit")
        train_ds = dm.datasets["train"]
        labels = train_ds.labels()
        attribute = d.attribute_encoding
        bands = list(train_ds.bands)
        outputs = list(CLASSES43 if attribute else train_ds.classes)
        spec = {
            "backbone": mc.backbone,
            "in_chans": len(bands),
            "num_classes": len(outputs),
            "fusion": mc.fusion,
            "s1_channels": sum(b in S1_NAMES for b in bands),
            "drop_rate": mc.drop_rate,
            "drop_path_rate": mc.drop_path_rate,
            "attribute_encoding": attribute,
            "parent_rule": mc.parent_rule,
        }
        meta = ModelMeta(
            task=self.name,
            bands=bands,
            classes=list(CLASSES19 if attribute else train_ds.classes),
            nomenclature="43->19" if attribute else str(d.num_classes),
            preprocessing=train_ds.transform.describe(),
            config=cfg.to_dict(),
            output_classes=outputs,
            model={"name": "scene_classifier", "kwargs": spec},
            dataset=d.dataset,
            embedding={"layers": ["features", "scores"], "sensors": {row_sensor(bands): bands}},
        )
        evaluated = (labels.astype(np.float32) @ matrix_43_to_19() > 0) if attribute else labels
        module = ClassificationModule(
            cfg.to_dict(),
            meta.to_dict(),
            labels.sum(0).astype(int).tolist(),
            len(labels),
            eval_counts=evaluated.sum(0).astype(int).tolist(),
        )
        if mc.init_from or mc.init_mode == "linear":
            if mc.fusion != "early":
                raise ConfigError("model.init_from starts one backbone: use model.fusion early")
            net: Any = module.model.net
            module.init_encoder(net, mc.init_from, mc.init_mode, head=net.get_classifier())
        return Setup(module, dm, [DynamicClassWeights(labels)])

    def evaluate(
        self, checkpoint: Path, *, data: str | Path | None, split: str, out: Path | None, options: EvalOptions
    ) -> dict[str, Any]:
        from worldclass.tasks.classification.evaluate import evaluate

        return evaluate(
            checkpoint,
            data=data,
            split=split,
            out=out,
            batch_size=options.batch_size,
            num_workers=options.num_workers,
            tune=options.tune_thresholds,
            bands=options.bands,
            report=options.report,
            progress=options.progress,
        )

    def predict(self, checkpoint: Path, inputs: list[Path], out: Path, **options: Any) -> dict[str, Any]:
        from worldclass.tasks.classification.predict import predict

        return predict(checkpoint, inputs, out, **options)

    def headline(self, result: dict[str, Any]) -> dict[str, Any]:
        keys = ("f1_micro", "f1_macro", "f1_minor", "map_macro", "map_micro")
        head: dict[str, Any] = {k: None if result[k] is None else round(float(result[k]), 4) for k in keys}
        if result.get("train_counts") is None:
            head["minor_weights"] = result.get("minor_weights")
        return head

    def report_section(self, report: Any, result: dict[str, Any]) -> None:
        from worldclass.tasks.classification.evaluate import add_metrics_section

        add_metrics_section(report, result)
