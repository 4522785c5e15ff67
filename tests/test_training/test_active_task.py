"""--learner task: the registered classification task trained on the answered patches every round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from worldclass.errors import ConfigError
from worldclass.training.active import ActiveSettings, init_run, step
from worldclass.training.active.answers import check_answer
from worldclass.training.active.task_learner import enable_dropout


def _config(path: Path, store: Path) -> Path:
    cfg = {
        "task": "classification",
        "data": {"root": str(store), "bands": "s2-10+s1", "batch_size": 8, "num_workers": 0},
        "model": {"backbone": "resnet10t", "drop_path_rate": 0, "drop_rate": 0.5},
        "optim": {"warmup_steps": 2, "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1},
        "trainer": {"out": str(path.parent / "unused"), "progress": False},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_task_learner_trains_on_the_answers_and_scores_with_mc_dropout(
    ssl_embeddings: Path, v2_store: Path, tmp_path: Path
) -> None:
    cfg = _config(tmp_path / "cls.yaml", v2_store)
    s = ActiveSettings(
        embeddings=str(ssl_embeddings),
        sensor="s2",
        learner="task",
        config=str(cfg),
        strategy="bald",
        batch=3,
        budget=9,
        initial=4,
        oracle="person",
        mc_passes=3,
    )
    run = init_run(tmp_path / "run", s)
    keys = run.state().pending["items"]
    classes = __import__("json").loads((run.path / "batch.json").read_text())["classes"]
    # the person answers with labels of their own (not the archive's)
    mine = {k: [classes[i % 3], classes[5]] for i, k in enumerate(keys)}
    run.record([check_answer(run, classes, run.id, 0, k, v, "t") for k, v in mine.items()])
    row = step(run)
    assert row["annotations"] == 4 and np.isfinite(row["f1_macro"])
    (r0,) = (run.path / "task").glob("round0-*")
    split = pq.read_table(r0 / "splits.parquet").to_pydict()
    trained = {p for p, sp in zip(split["patch_id"], split["split"], strict=True) if sp == "train"}
    assert trained == set(keys)
    view = pq.read_table(r0 / "answers.parquet").to_pydict()
    assert dict(zip(view["patch_id"], view["labels"], strict=True)) == mine
    assert (r0 / "checkpoints" / "best.ckpt").is_file()
    nxt = run.state().pending["items"]
    assert len(nxt) == 3 and set(nxt).isdisjoint(keys)
    assert torch.load(run.path / "model.pt")["checkpoint"] == str(r0 / "checkpoints" / "best.ckpt")


def test_enable_dropout_leaves_batchnorm_alone() -> None:
    import timm

    from worldclass.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    m = timm.create_model("resnet10t", num_classes=3, drop_rate=0.5).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
        assert enable_dropout(m) == 1
        assert not any(b.training for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d))
        assert not torch.equal(m(x), m(x))  # the head's dropout is on
    plain = timm.create_model("resnet10t", num_classes=3, drop_rate=0.0).eval()
    assert enable_dropout(plain) == 0


def test_task_learner_settings_are_checked(ssl_embeddings: Path) -> None:
    with pytest.raises(ConfigError, match="give --config"):
        ActiveSettings(embeddings=str(ssl_embeddings), learner="task").check()
    with pytest.raises(ConfigError, match="use head"):
        ActiveSettings(embeddings=str(ssl_embeddings), learner="svm").check()
