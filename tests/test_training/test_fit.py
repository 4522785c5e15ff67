"""The fit loop: exact resume, dynamic class weights driven by the sampler's draw, ML-ROS end to end,
and the imbalance experiment."""

import csv
import importlib.util
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from helpers import quick_config
from worldclass.data.dataset import BigEarthNet
from worldclass.data.imbalance import imbalance
from worldclass.data.sampling import IndexListSampler, MROSSampler, ml_ros, mros_weights
from worldclass.errors import ConfigError
from worldclass.losses import WeightedBCE, pos_weights
from worldclass.models.checkpoint import model_state, read_checkpoint
from worldclass.tasks import get_task
from worldclass.training import train
from worldclass.training.curves import read_curves
from worldclass.training.fit import fit
from worldclass.training.run_report import run_report


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return model_state(read_checkpoint(ckpt)["state_dict"])


def _logged_epochs(out: Path, version: int) -> set[int]:
    with (out / "logs" / f"version_{version}" / "metrics.csv").open() as f:
        return {int(r["epoch"]) for r in csv.DictReader(f) if r.get("epoch")}


class StopAfter(Callback):
    """Stops a run after ``epochs`` epochs, as an interruption would (the run was planned for more)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def test_resume_equals_an_uninterrupted_run(v2_store: Path, tmp_path: Path) -> None:
    # dropout, shuffling and the LR schedule all carry state across the epoch boundary
    extra = (
        "model.drop_rate=0.3",
        "optim.limit_train_batches=2",
        "optim.limit_val_batches=1",
        "optim.max_epochs=3",
    )
    full = _weights(train(quick_config(v2_store, tmp_path / "once", *extra)).last_checkpoint)
    cfg = quick_config(v2_store, tmp_path / "split", *extra)
    first = train(cfg, callbacks=[StopAfter(2)])
    assert first.epochs == 2
    two = _weights(first.last_checkpoint)
    with pytest.raises(ConfigError, match="--resume to continue"):
        train(cfg)  # a second run into the same folder must say what to do
    # as if the run had been killed after writing the row of epoch 2 but before its checkpoint
    curves = tmp_path / "split" / "curves.csv"
    curves.write_text(curves.read_text() + "2,99,1,0.1,0.1,9.9\n")
    resumed = train(cfg, resume=True)
    assert resumed.epochs == 3
    assert _logged_epochs(tmp_path / "split", 1) == {2}  # the resumed run trained one epoch, not three
    after = _weights(resumed.last_checkpoint)
    assert after.keys() == full.keys()
    for k in full:
        assert torch.allclose(after[k].float(), full[k].float(), atol=1e-6, rtol=0), k
    # and the resumed epoch really trained: the weights moved away from the 2-epoch state
    assert any(not torch.equal(two[k], after[k]) for k in two if two[k].is_floating_point())
    # one continuous learning curve, equal to the uninterrupted run's (the stale row of epoch 2 is gone)
    split, once = read_curves(tmp_path / "split"), read_curves(tmp_path / "once")
    assert [r["epoch"] for r in split] == [0, 1, 2] and [r["session"] for r in split] == [1, 1, 2]
    assert [r["step"] for r in split] == [2, 4, 6]
    for a, b in zip(split, once, strict=True):
        assert a.keys() == b.keys() and {"train/loss", "val/loss", "val/map_macro", "lr"} <= a.keys()
        for k in a:
            if k not in ("session", "seconds"):
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), k
    html, summary = run_report(tmp_path / "split")
    assert summary["epochs"] == 3 and summary["sessions"] == 2
    best = max(split, key=lambda r: r["val/map_macro"])
    assert summary["best_epoch"] == best["epoch"] and summary["best"] == pytest.approx(resumed.best_score)
    page = html.read_text()
    assert page.count("<img") == 2 and "resumed session" in page
    if (
        importlib.util.find_spec("tensorboard") is not None
    ):  # the extra (installed by `make test`): one folder
        assert len(list((tmp_path / "split" / "tb" / "version_0").glob("events.out.tfevents.*"))) == 2


def test_resume_without_last_checkpoint_is_refused(v2_store: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(quick_config(v2_store, tmp_path / "new"), resume=True)


def test_dcw_sets_pos_weight_from_each_epochs_mros_draw(v2_store: Path, tmp_path: Path) -> None:
    cfg = quick_config(v2_store, tmp_path / "dcw", "loss.name=dcw", "sampler.name=mros", "optim.max_epochs=3")
    setup = get_task(cfg.task).setup(cfg)
    dcw = setup.callbacks[0]
    fit(cfg, setup.module, setup.datamodule, "val/map_macro", setup.callbacks)
    labels = BigEarthNet(v2_store, split="train", sensors=("s2", "s1")).labels()
    expected = []
    for epoch in range(3):
        sampler = MROSSampler(mros_weights(labels), seed=cfg.trainer.seed)
        sampler.set_epoch(epoch)
        drawn = sampler.indices().numpy()
        expected.append(pos_weights(labels[drawn].sum(0), len(drawn)))
    history = dcw.history
    assert len(history) == 3, "the DCW callback did not run once per epoch"
    for got, want in zip(history, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(history[0], history[1])  # the draw, and so the weights, change per epoch
    natural = pos_weights(labels.sum(0), len(labels))
    assert not np.allclose(history[0], natural)  # MROS already corrected part of the imbalance
    loss = setup.module.loss
    assert isinstance(loss, WeightedBCE)
    np.testing.assert_allclose(loss.get_buffer("pos_weight").numpy(), expected[-1], rtol=1e-6)


def test_mlros_sampler_trains_end_to_end(v2_store: Path, tmp_path: Path) -> None:
    cfg = quick_config(v2_store, tmp_path / "mlros", "sampler.name=mlros", "sampler.mlros_percentage=50")
    setup = get_task(cfg.task).setup(cfg)
    sampler = setup.datamodule.train_dataloader().sampler
    assert isinstance(sampler, IndexListSampler)
    labels = setup.datamodule.datasets["train"].labels()
    clones = ml_ros(labels, 50, seed=cfg.trainer.seed)
    assert len(sampler) == len(clones) > len(labels)
    # the clones carry minority labels: the drawn stream is less imbalanced than the natural one
    names = [str(i) for i in range(labels.shape[1])]
    drawn = imbalance(labels[np.asarray(clones)], names)["mean_ir"]
    assert drawn < imbalance(labels, names)["mean_ir"]
    before = {k: v.clone() for k, v in setup.module.model.state_dict().items()}
    res = fit(cfg, setup.module, setup.datamodule, "val/map_macro", setup.callbacks)
    after = _weights(res.best_checkpoint)
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_imbalance_experiment_table_matches_each_variants_evaluation(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.tasks.classification.evaluate import evaluate
    from worldclass.training.experiment import METRICS, run_imbalance

    cfg = quick_config(v2_store, tmp_path / "abl", "optim.limit_train_batches=1", "optim.limit_val_batches=1")
    result = run_imbalance(cfg, log=lambda _: None)
    saved = json.loads((tmp_path / "abl" / "ablation.json").read_text())["variants"]
    assert list(saved) == ["Base", "CW", "MROS+DCW"]
    for name, folder in (("Base", "Base"), ("CW", "CW"), ("MROS+DCW", "MROS_DCW")):
        run = tmp_path / "abl" / folder
        config = json.loads((run / "config.json").read_text())
        assert (config["loss"]["name"], config["sampler"]["name"]) == {
            "Base": ("bce", "none"),
            "CW": ("cw", "none"),
            "MROS+DCW": ("dcw", "mros"),
        }[name]
        ref = evaluate(run / "checkpoints" / "best.ckpt", split="test", report=False)
        for key in METRICS:
            assert saved[name]["mean"][key] == pytest.approx(ref[key], abs=1e-12), (name, key)
        row = next(line for line in result["table"].splitlines() if line.startswith(f"| {name} |"))
        assert row.split("|")[2].strip() == f"{100 * ref[METRICS[0]]:.1f}"
    subsets = json.loads((tmp_path / "abl" / "subsets.json").read_text())
    test_ids = BigEarthNet(v2_store, split="test", sensors=tuple(cfg.data.sensors)).patch_ids
    assert subsets["test"] == test_ids and not set(subsets["train"]) & set(subsets["test"])


def test_imbalance_table_reports_mean_and_sample_std_over_seeds(v2_store: Path, tmp_path: Path) -> None:
    from worldclass.training.experiment import METRICS, ablation_table, variants

    cfg = quick_config(v2_store, tmp_path / "abl")
    runs = variants(cfg, seed=7)
    assert [v.trainer.seed for _, v in runs] == [7, 7, 7]
    assert runs[2][1].trainer.out == str(tmp_path / "abl" / "MROS_DCW" / "seed7")
    f1 = [0.50, 0.56, 0.62]  # mean 0.56, sample std 0.06
    mean = {m: 0.0 for m in METRICS} | {"f1_micro": float(np.mean(f1))}
    std = {m: 0.0 for m in METRICS} | {"f1_micro": float(np.std(f1, ddof=1))}
    table = ablation_table({"Base": {"mean": mean, "std": std}}, n_seeds=3)
    assert "| Base | 56.0 ± 6.0 |" in table and "over 3 seeds" in table


def test_a_failed_checkpoint_save_keeps_the_previous_one(tmp_path: Path) -> None:
    """Checkpoints are renamed into place when complete: ``last.ckpt`` is never a cut-off file."""
    from worldclass.training.fit import AtomicCheckpointIO

    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception, match=r"pickle|lambda"):
        io.save_checkpoint({"epoch": 2, "bad": lambda: 0}, path)  # fails half-way through the write
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
