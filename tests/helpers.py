"""Small shared helpers for tests (configs of CPU-sized runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def quick_config(store: Path, out: Path, *extra: str) -> Any:
    """A classification config on ``store`` sized for a CPU test: resnet10t, 3 batches of 8, 1 epoch."""
    from worldclass.tasks import load_config

    return load_config(
        None,
        [
            f"data.root={store}",
            "data.bands=s2-10+s1",
            "data.batch_size=8",
            "data.num_workers=0",
            "model.backbone=resnet10t",
            "model.drop_path_rate=0",
            "optim.warmup_steps=4",
            "optim.max_epochs=1",
            "optim.limit_train_batches=3",
            "optim.limit_val_batches=2",
            f"trainer.out={out}",
            "trainer.progress=false",
            *extra,
        ],
    )


def scenes_config(root: Path, out: Path, *extra: str) -> Any:
    """A segmentation config on the generic scenes layout at ``root`` (vector labels), sized for a CPU test:
    U-Net/ResNet18, 64 px windows, 32 windows per epoch, 1 epoch."""
    from worldclass.data.synth.aerial import AERIAL_CLASSES
    from worldclass.tasks import load_config

    return load_config(
        None,
        [
            "task=segmentation",
            f"data.root={root}",
            "data.dataset=scenes",
            f"data.classes={AERIAL_CLASSES}",
            "data.vector=labels.gpkg",
            "data.patch_size=64",
            "data.samples_per_epoch=32",
            "data.batch_size=8",
            "data.num_workers=0",
            "model.encoder=resnet18",
            "optim.max_epochs=1",
            f"trainer.out={out}",
            "trainer.progress=false",
            *extra,
        ],
    )


def pycocotools_stats(tmp_path: Path, images: list[Any], annotations: list[Any], results: list[Any]) -> Any:
    """pycocotools' COCOeval ``stats`` (segm, category 100 as CrowdAI) of ``results`` against a ground
    truth made of ``images`` and ``annotations`` (written to ``tmp_path/gt.json``)."""
    import contextlib
    import io
    import json

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = tmp_path / "gt.json"
    cats = [{"id": 100, "name": "building"}]
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        ev = COCOeval(coco, coco.loadRes(results), "segm")
        ev.params.catIds = [100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def constant_field_checkpoint(
    path: Path, shift: tuple[float, float], dataset_root: Path | None = None
) -> Path:
    """A real AlignmentNet checkpoint whose field is ``shift`` (x, y) px everywhere: all weights zero
    (uniform correlation, soft-argmax 0, constant confidence) except the last stage's output bias."""
    import torch

    from worldclass.data.synth.aerial import AERIAL_CLASSES
    from worldclass.models.align import AlignmentNet, save_alignment_checkpoint

    net = AlignmentNet(3, 1, scales=(4, 2), width=16)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        last = net.stages[-1]
        last.head.bias.copy_(torch.tensor(shift) / 2)  # type: ignore[union-attr, operator]
    config = {
        "data": {
            "dataset": "scenes",
            "root": str(dataset_root),
            "classes": AERIAL_CLASSES,
            "vector": "labels.gpkg",
        },
        "misalign": {"amplitude": 0.0, "scale": 64.0, "max_shift": 0.0, "object_shift": 0.0},
        "trainer": {"seed": 0},
    }
    pre = {"scale": 1 / 255, "mean": [0.5] * 3, "std": [0.2] * 3, "dtype": "uint8"}
    return save_alignment_checkpoint(
        path, net, bands=["red", "green", "blue"], map_classes=["building"], preprocessing=pre, config=config
    )
