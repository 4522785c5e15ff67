"""The label-budget protocol: subsets nested per seed, shared by every initialisation, written next to
the results; a stopped sweep continues; a linear probe keeps the self-supervised encoder frozen; a
collapsed encoder is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.tasks import load_config
from worldclass.training import train
from worldclass.training.label_budget import budget_size, parse_inits, run_label_budget, subset, training_ids

SMALL = [
    "data.patch_size=64",
    "data.samples_per_epoch=16",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.max_epochs=1",
    "optim.limit_val_batches=1",
    "trainer.progress=false",
]


def _ssl(dfc_root: Path, out: Path, task: str = "sscl", *extra: str) -> Path:
    cfg = load_config(
        None,
        [
            f"task={task}",
            "data.dataset=dfc2020",
            f"data.root={dfc_root}",
            "data.bands=s2-10+s1",
            "model.proj_dim=16",
            "model.hidden_dim=32",
            "ssl.unifeat_epochs=0",
            *SMALL,
            f"trainer.out={out}",
            *extra,
        ],
    )
    return train(cfg).best_checkpoint


def test_subsets_are_seeded_nested_and_sized() -> None:
    ids = [f"p{i}" for i in range(50)]
    assert budget_size("10%", 50) == 5 and budget_size("20", 50) == 20
    with pytest.raises(ConfigError, match="training split has 50"):
        budget_size("60", 50)
    small, large = subset(ids, 5, 0), subset(ids, 20, 0)
    assert set(small) < set(large) and small == subset(ids, 5, 0)  # nested, reproducible
    assert set(subset(ids, 5, 1)) != set(small)  # another seed, another draw
    with pytest.raises(ConfigError, match="NAME=CHECKPOINT"):
        parse_inits(["sscl"])


def test_sweep_writes_subsets_resumes_and_freezes_linear_probes(dfc_root: Path, tmp_path: Path) -> None:
    ckpt = _ssl(dfc_root, tmp_path / "ssl")
    cfg = load_config(
        None,
        [
            "task=segmentation",
            "data.dataset=dfc2020",
            f"data.root={dfc_root}",
            "data.bands=s2-10+s1",
            "model.encoder=resnet18",
            "loss.name=ce",
            *SMALL,
            f"trainer.out={tmp_path / 'sweep'}",
        ],
    )
    inits = parse_inits(["random", f"sscl={ckpt}"])
    lines: list[str] = []
    result = run_label_budget(
        cfg, budgets=["3"], inits=inits, modes=["linear"], seeds=[0, 1], log=lines.append
    )
    out = tmp_path / "sweep"
    ids = training_ids(cfg)
    for seed in (0, 1):
        small = (out / "subsets" / f"budget-3-seed{seed}.txt").read_text().split()
        assert len(small) == 3 and set(small) <= set(ids) and small == subset(ids, 3, seed)
        for key in ("random-linear", "sscl-linear"):  # every initialisation trained on the same patches
            m = json.loads((out / "runs" / key / "budget-3" / f"seed{seed}" / "metrics.json").read_text())
            assert m["subset"].endswith(f"budget-3-seed{seed}.txt") and m["patches"] == 3
            assert 0 <= m["aa"] <= 1 and set(m["per_class"]) >= {"Forest", "Water"}
    summary = result["summary"]["sscl-linear"]["3"]
    assert summary["aa"]["std"] >= 0 and "±" in result["table"] and (out / "table.md").is_file()
    # the linear probe's encoder is the self-supervised one, untouched
    from worldclass.models import load_model
    from worldclass.models.ssl import ssl_encoder_state

    model, _ = load_model(out / "runs" / "sscl-linear" / "budget-3" / "seed0" / "checkpoints" / "best.ckpt")
    enc, _ = ssl_encoder_state(ckpt)
    own = model.base.encoder.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(own[k], enc[k]) for k in own if "num_batches" not in k)
    # a rerun reads every finished run back instead of training again
    lines.clear()
    again = run_label_budget(
        cfg, budgets=["3"], inits=inits, modes=["linear"], seeds=[0, 1], log=lines.append
    )
    assert sum("done before" in x for x in lines) == 4 and again["summary"] == result["summary"]


def test_collapse_is_reported(v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lightning.pytorch.callbacks import Callback

    class Collapse(Callback):  # every input maps to one point: the encoder's last block outputs a constant
        def on_train_batch_end(self, trainer, module, *args) -> None:  # type: ignore[no-untyped-def]
            with torch.no_grad():
                for p in module.model.encoder.layer4.parameters():
                    p.zero_()

    def run(out: Path, callbacks: list[Callback]) -> str:
        cfg = load_config(
            None,
            [
                "task=simsiam",
                f"data.root={v2_store}",
                "data.bands=s2-10+s1",
                "model.proj_dim=16",
                "model.hidden_dim=32",
                "data.batch_size=16",
                "data.num_workers=0",
                "optim.max_epochs=1",
                "optim.limit_train_batches=2",
                "optim.limit_val_batches=2",
                f"trainer.out={out}",
                "trainer.progress=false",
                "model.backbone=resnet18",
            ],
        )
        capsys.readouterr()
        train(cfg, callbacks=callbacks)
        return capsys.readouterr().err

    assert "collapsed" not in run(tmp_path / "healthy", [])
    err = run(tmp_path / "collapsed", [Collapse()])
    assert "warning: epoch 0: the simsiam representation collapsed" in err


def test_classifier_linear_probe_on_a_labelled_subset(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.data import BigEarthNet
    from worldclass.models import load_model
    from worldclass.models.ssl import ssl_encoder_state
    from worldclass.tasks import get_task

    base = [
        f"data.root={v2_store}",
        "data.bands=s2-10+s1",
        "data.batch_size=8",
        "data.num_workers=0",
        "optim.max_epochs=1",
        "optim.limit_train_batches=2",
        "optim.limit_val_batches=1",
        "trainer.progress=false",
    ]
    ssl = load_config(
        None,
        [
            "task=simsiam",
            *base,
            "model.backbone=resnet18",
            "model.proj_dim=16",
            "model.hidden_dim=32",
            f"trainer.out={tmp_path / 'ssl'}",
        ],
    )
    ckpt = train(ssl).best_checkpoint
    ids = BigEarthNet(v2_store, split="train", sensors=("s2", "s1")).patch_ids[:8]
    (tmp_path / "subset.txt").write_text("".join(f"{i}\n" for i in ids))
    sets = [
        *base,
        "model.backbone=resnet18",
        "model.drop_path_rate=0",
        f"model.init_from={ckpt}",
        f"data.subset={tmp_path / 'subset.txt'}",
    ]
    cfg = load_config(None, [*sets, "model.init_mode=linear", f"trainer.out={tmp_path / 'cls'}"])
    assert (
        get_task("classification").setup(cfg).datamodule.datasets["train"].patch_ids == ids
    )  # only the budget
    model, _ = load_model(train(cfg).best_checkpoint)
    enc, _ = ssl_encoder_state(ckpt)
    own = model.net.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(own[k], enc[k]) for k in own if not k.startswith("fc.") and "num_batches" not in k)
    with pytest.raises(ConfigError, match="does not fit this model"):  # another backbone than pretrained
        get_task("classification").setup(
            load_config(None, [*sets, "model.backbone=resnet34", f"trainer.out={tmp_path / 'x'}"])
        )
