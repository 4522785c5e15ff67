"""Label-budget part of the demo: SSCL pretrained on an unlabeled SEN12MS-layout archive, then DFC2020
land cover with a few labelled patches, random vs SSCL initialisation, three seeds (CPU-sized)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldclass.report import Report

SMALL = [
    "data.bands=s2-10+s1",
    "data.patch_size=64",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.limit_val_batches=2",
    "trainer.progress=false",
]


def run_label_budget_demo(
    report: Report, out: Path, *, epochs: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Generate both archives, pretrain SSCL, run the protocol (budget 6 patches, seeds 0-2)."""
    from worldclass.data.synth.sen12ms import synth_dfc2020, synth_sen12ms
    from worldclass.tasks import load_config
    from worldclass.training import train
    from worldclass.training.label_budget import parse_inits, run_label_budget

    sen = out / "archives" / "SEN12MS"
    dfc = out / "archives" / "DFC2020"
    if not (sen / "test_list.txt").is_file():
        synth_sen12ms(sen, scenes=2, patches=3, seed=11)
    if not (dfc / "ROIs0000_test").is_dir():
        synth_dfc2020(dfc, validation=14, test=4, seed=12)
    log("  label budget: SSCL pretraining on the unlabeled archive")
    ssl = load_config(
        None,
        [
            "task=sscl",
            "data.dataset=sen12ms",
            f"data.root={sen}",
            "data.samples_per_epoch=64",
            f"optim.max_epochs={epochs + 1}",
            "ssl.unifeat_epochs=1",
            "model.proj_dim=32",
            "model.hidden_dim=64",
            f"trainer.out={out / 'runs' / 'sscl'}",
            *SMALL,
        ],
    )
    ckpt = train(ssl, overwrite=True).best_checkpoint
    down = load_config(
        None,
        [
            "task=segmentation",
            "data.dataset=dfc2020",
            f"data.root={dfc}",
            "data.samples_per_epoch=48",
            "model.encoder=resnet18",
            "loss.name=ce",
            f"optim.max_epochs={epochs}",
            f"trainer.out={out / 'runs' / 'label-budget'}",
            *SMALL,
        ],
    )
    result = run_label_budget(
        down,
        budgets=["6"],
        inits=parse_inits(["random", f"sscl={ckpt}"]),
        modes=["finetune"],
        seeds=[0, 1, 2],
        log=lambda s: log(f"    {s}"),
    )
    report.heading("Label budget: DFC2020 land cover from 6 labelled patches, random vs SSCL initialisation")
    report.text(
        f"SSCL (UniFeat, then CoRe) pretrained on {sen} without labels; U-Net/ResNet18 on S2 10 m + S1, "
        f"fine-tuned on the same 6 labelled patches per seed (subsets in {out / 'runs' / 'label-budget' / 'subsets'}) "
        "and scored on the test release: AA (mean per-class accuracy over classes present), OA, mIoU, "
        "mean ± std over 3 seeds. A CPU-sized run: the numbers show the protocol (see "
        "`worldclass experiment label-budget`)."
    )
    rows = []
    for key, cell in result["summary"].items():
        c = cell["6"]
        rows.append(
            [
                key,
                *(f"{100 * c[m]['mean']:.1f} ± {100 * c[m]['std']:.1f}" for m in ("aa", "accuracy", "miou")),
            ]
        )
    report.table(["initialisation", "AA %", "OA %", "mIoU %"], rows)
    return result
