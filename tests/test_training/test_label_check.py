"""`labels check`: cleanlab's flags land on the entries that were corrupted when the probabilities know
the truth; the K-fold path predicts every patch with a model that never trained on it, and writes the
ranked CSV, the summary with precision/recall against the archive, and the page."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from worldclass.data.noise import inject_label_noise

pytest.importorskip("cleanlab")


def test_flags_hit_corrupted_entries_when_probabilities_are_informative() -> None:
    from worldclass.training.label_check import rank_issues

    rng = np.random.default_rng(0)
    clean = (rng.random((600, 6)) < 0.3).astype(np.uint8)
    noisy, _ = inject_label_noise(clean, "mixed", 0.2, seed=1)
    # a decent model: probabilities near the clean labels, with some confusion
    probs = np.clip(0.8 * clean + 0.1 + rng.normal(0, 0.12, clean.shape), 0.01, 0.99)
    flags, quality, pi, ci = rank_issues(noisy, probs)
    wrong = noisy != clean
    precision = (flags & wrong).sum() / flags.sum()
    recall = (flags & wrong).sum() / wrong.sum()
    assert precision > 0.8 and recall > 0.6, (precision, recall)
    assert wrong.mean() < 0.2  # far above the base rate
    ranked = quality[pi, ci]
    assert np.all(np.diff(ranked) >= 0) and wrong[pi[:50], ci[:50]].mean() > 0.9


def test_kfold_check_is_out_of_sample_and_scored_against_the_archive(v2_store: Path, tmp_path: Path) -> None:
    from helpers import quick_config
    from worldclass.data.label_view import write_noisy_view
    from worldclass.training.label_check import check_labels

    view = tmp_path / "noisy.parquet"
    write_noisy_view(v2_store, view, mode="mixed", rate=0.3, splits=("train",))
    cfg = quick_config(v2_store, tmp_path / "unused", f"data.labels={view}", "optim.limit_train_batches=2")
    out = tmp_path / "check"
    summary = check_labels(cfg, out, folds=3, top=10, log=lambda s: None)
    # each fold's model predicted exactly the patches its split file held out
    held = []
    for k in range(3):
        t = pq.read_table(out / "folds" / f"fold{k}" / "splits.parquet").to_pydict()
        held += [p for p, s in zip(t["patch_id"], t["split"], strict=True) if s == "test"]
        assert sum(s == "validation" for s in t["split"]) and sum(s == "train" for s in t["split"])
    assert len(held) == len(set(held)) == summary["patches"]
    rows = list(csv.DictReader((out / "label_issues.csv").open()))
    assert len(rows) == summary["flagged"]
    assert [float(r["quality"]) for r in rows] == sorted(float(r["quality"]) for r in rows)
    truth = summary["truth"]
    # precision recomputed from the CSV: a flagged entry is right when the view differs from the archive
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.nomenclature import class_names

    archive = BigEarthNet(v2_store, split="train", sensors=("s2",))
    viewed = BigEarthNet(v2_store, split="train", sensors=("s2",), labels=view)
    row = {p: i for i, p in enumerate(archive.patch_ids)}
    names = class_names(19)
    hits = [
        archive.labels()[row[r["patch_id"]], names.index(r["class"])]
        != viewed.labels()[row[r["patch_id"]], names.index(r["class"])]
        for r in rows
    ]
    assert truth["wrong_entries"] == int((archive.labels() != viewed.labels()).sum()) > 0
    assert truth["precision"] == pytest.approx(np.mean(hits) if hits else 0.0)
    assert "label check" in (out / "index.html").read_text()


def test_check_without_cleanlab_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from worldclass.errors import ConfigError
    from worldclass.training.label_check import rank_issues

    monkeypatch.setitem(sys.modules, "cleanlab.multilabel_classification", None)
    with pytest.raises(ConfigError, match=r"pip install 'worldclass\[noise\]'"):
        rank_issues(np.zeros((2, 2)), np.zeros((2, 2)))


def test_cli_checks_a_store_with_the_default_recipe(
    v2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from test_reliability.harness import run_cli
    from worldclass.data.label_view import write_noisy_view

    view = tmp_path / "noisy.parquet"
    write_noisy_view(v2_store, view, mode="mixed", rate=0.3)
    quick = [
        "model.backbone=resnet10t",
        "model.drop_path_rate=0",
        "data.bands=s2-10+s1",
        "data.batch_size=8",
        "data.num_workers=0",
        "optim.max_epochs=1",
        "optim.limit_train_batches=2",
        "trainer.progress=false",
        f"data.labels={view}",
    ]
    args = ["labels", "check", str(v2_store), "--out", str(tmp_path / "check"), "--folds", "3"]
    r = run_cli([*args, *(x for q in quick for x in ("--set", q))], capsys)
    assert r.code == 0, r.err
    summary = json.loads(r.out.strip().splitlines()[-1])
    assert (
        summary["truth"]["wrong_entries"] > 0
        and (tmp_path / "check" / "folds" / "fold2" / "splits.parquet").is_file()
    )
    bad = run_cli(["labels", "check", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x")], capsys)
    assert bad.code != 0 and "missing.yaml" in bad.err and "Traceback" not in bad.err
