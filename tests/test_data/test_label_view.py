"""Label views: a noisy view changes exactly the labels of its noisy patches in the chosen splits, the
config key makes the registered dataset read it, and bad views are refused with the file named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldclass.data.dataset import BigEarthNet
from worldclass.data.label_view import write_noisy_view
from worldclass.datasets import get_dataset
from worldclass.errors import ConfigError, DataError, LabelError
from worldclass.tasks import load_config


def test_noisy_view_changes_only_the_training_labels_it_marks(v2_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "noisy.parquet"
    report = write_noisy_view(v2_store, out, mode="subtractive", rate=0.5, seed=3)
    assert (
        report["splits"] == ["train"] and 0.2 < report["removed"] < 0.8 and report["added_per_present"] == 0
    )
    saved = json.loads((tmp_path / "noisy.parquet.report.json").read_text())
    assert saved["removed"] == report["removed"]
    view = pq.read_table(out).to_pydict()
    noisy_ids = {p for p, n in zip(view["patch_id"], view["noisy"], strict=True) if n}
    assert noisy_ids and set(view["split"]) == {"train"}
    for split in ("train", "test"):
        clean = BigEarthNet(v2_store, split=split, include_snow_cloud=True)
        seen = BigEarthNet(v2_store, split=split, include_snow_cloud=True, labels=out)
        changed = {
            pid
            for pid, a, b in zip(clean.patch_ids, clean.labels(), seen.labels(), strict=True)
            if (a != b).any()
        }
        assert changed == (noisy_ids if split == "train" else set())
        assert (seen.labels() <= clean.labels()).all()  # subtractive: labels only disappear
    cfg = load_config(None, [f"data.root={v2_store}", f"data.labels={out}", "data.include_snow_cloud=true"])
    ds = get_dataset("bigearthnet").open(cfg.data, "train")
    want = BigEarthNet(v2_store, split="train", include_snow_cloud=True, labels=out).labels()
    np.testing.assert_array_equal(ds.labels(), want)
    # and training reads it: the task's DataModule serves the view's labels
    from worldclass.data.datamodule import BigEarthNetDataModule

    dm = BigEarthNetDataModule.from_config(cfg.data)
    dm.setup("fit")
    np.testing.assert_array_equal(dm.datasets["train"].labels(), want)
    batch = next(iter(dm.train_dataloader()))
    np.testing.assert_array_equal(batch["label"].numpy(), want[np.asarray(batch["index"])])


def test_bad_views_are_refused(v2_store: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing.parquet: label view not found"):
        BigEarthNet(v2_store, split="train", labels=tmp_path / "missing.parquet")
    out = tmp_path / "v.parquet"
    write_noisy_view(v2_store, out, mode="flip", rate=0.1)
    with pytest.raises(ConfigError, match=r"needs columns patch_id and labels43.*--num-classes 43"):
        BigEarthNet(v2_store, split="train", num_classes=43, labels=out)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"patch_id": ["x"], "labels": [["Not a class"]]}), bad)
    with pytest.raises(LabelError, match="Not a class"):
        BigEarthNet(v2_store, split="train", labels=bad)
    with pytest.raises(ConfigError, match=r"unknown split .nowhere."):
        write_noisy_view(v2_store, out, mode="flip", rate=0.1, splits=["nowhere"])
