"""Real DDP on 2 CPU processes (gloo): metrics equal a single-process evaluation, shards are disjoint."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldclass.data.dataset import BigEarthNet
from worldclass.metrics.multilabel import multilabel_metrics
from worldclass.tasks.classification.evaluate import evaluate

SCRIPT = Path(__file__).parents[1] / "ddp_train.py"


def test_ddp_two_processes_count_every_validation_patch_once(v2_store: Path, tmp_path: Path) -> None:
    ids = BigEarthNet(v2_store, split="all").patch_ids
    names = ["validation"] * 7 + ["train"] * (len(ids) - 7)  # 7: the second rank's shard is padded
    splits = tmp_path / "splits.parquet"
    pq.write_table(pa.table({"patch_id": list(ids), "split": names}), splits)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, str(SCRIPT), str(v2_store), str(out), f"data.splits={splits}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "deprecated" not in r.stderr and "sync_dist" not in r.stderr
    seen = [json.loads((out / "seen" / f"rank{k}.json").read_text()) for k in (0, 1)]
    for epoch in ("0", "1"):
        a, b = seen[0][epoch], seen[1][epoch]
        assert a["world"] == b["world"] == 2
        # one global MROS draw per epoch, the same on both ranks; rank k trains on positions k::2 of it
        assert a["draw"] == b["draw"]
        assert a["train"] == a["draw"][0::2][: len(a["train"])]
        assert b["train"] == b["draw"][1::2][: len(b["train"])]
        # validation: 7 patches sharded 4 + 4, one of them seen twice (padding)
        assert sorted(a["val"] + b["val"]) != sorted(set(a["val"] + b["val"]))
        assert sorted(set(a["val"] + b["val"])) == list(range(7))
    with open(out / "curves.csv", newline="") as fh:
        curves = list(csv.DictReader(fh))
    best = max(curves, key=lambda row: float(row["val/map_macro"]))
    single = evaluate(out / "checkpoints" / "best.ckpt", split="validation", report=False, return_arrays=True)
    for key in ("map_macro", "map_micro", "f1_macro", "f1_micro"):
        assert float(best[f"val/{key}"]) == pytest.approx(single[key], abs=1e-6), key
    # counting the padded patch twice would have given other numbers: the check can fail
    y, s = single["_targets"], single["_scores"]
    twice = multilabel_metrics(np.concatenate([y, y[:1]]), np.concatenate([s, s[:1]]))
    assert any(abs(twice[k] - single[k]) > 1e-6 for k in ("map_macro", "map_micro", "f1_micro"))
