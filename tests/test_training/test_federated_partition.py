"""Client partitions: natural (country, country x season) and synthetic (IID, Dirichlet) schemes cover the
train split exactly once, Dirichlet's alpha controls the label skew the non-IID measure reports, manifests
round-trip and each client's split file names only its own patches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from worldclass.data.dataset import BigEarthNet
from worldclass.errors import ConfigError, DataError
from worldclass.training.federated.partition import (
    client_splits,
    js_divergence,
    partition,
    read_manifest,
    season_of,
    summarise,
    write_manifest,
)


@pytest.fixture(scope="module")
def table(v2_store: Path) -> tuple[pa.Table, list[str]]:
    ds = BigEarthNet(v2_store, split="all")
    return ds.table, list(ds.classes)


def test_season_from_patch_names() -> None:
    assert season_of("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57") == "summer"
    assert season_of("S2B_MSIL2A_20171221T112501_N9999_R037_T29SND_1_2") == "winter"
    assert season_of("S2B_MSIL2A_20180523T094029_N9999_R036_T34UEG_3_4") == "spring"
    assert season_of("patch_0001") is None


@pytest.mark.parametrize("scheme", ["country", "country-season", "iid", "dirichlet"])
def test_every_train_patch_belongs_to_exactly_one_client(
    table: tuple[pa.Table, list[str]], scheme: str
) -> None:
    t, classes = table
    parts = partition(t, classes, scheme, clients=3, seed=1)
    train = {
        p
        for p, s in zip(t.column("patch_id").to_pylist(), t.column("split").to_pylist(), strict=True)
        if s == "train"
    }
    ids = [p for v in parts.values() for p in v]
    assert len(ids) == len(set(ids)) and set(ids) == train
    assert partition(t, classes, scheme, clients=3, seed=1) == parts  # seeded
    if scheme == "country":
        country = dict(zip(t.column("patch_id").to_pylist(), t.column("country").to_pylist(), strict=True))
        assert all({country[p] for p in v} == {name} for name, v in parts.items())
    if scheme == "iid":
        sizes = [len(v) for v in parts.values()]
        assert max(sizes) - min(sizes) <= 1


def test_dirichlet_alpha_controls_the_skew(v2_store: Path) -> None:
    ds = BigEarthNet(v2_store, split="all")
    t = ds.table.set_column(
        ds.table.column_names.index("split"), "split", pa.array(["train"] * ds.table.num_rows)
    )
    skew = {
        a: np.mean(
            [
                summarise(partition(t, ds.classes, "dirichlet", clients=4, alpha=a, seed=s), t, ds.classes)[
                    "non_iid"
                ]
                for s in range(5)
            ]
        )
        for a in (0.05, 100.0)
    }
    assert skew[0.05] > 2 * skew[100.0], skew


def test_js_divergence() -> None:
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_divergence(np.array([2.0, 2.0]), np.array([1.0, 1.0])) == pytest.approx(0.0)


def test_manifest_round_trip_and_client_split_files(
    table: tuple[pa.Table, list[str]], tmp_path: Path
) -> None:
    t, classes = table
    parts = partition(t, classes, "country")
    manifest = write_manifest(tmp_path / "c", parts, scheme="country", source="x", seed=0, val_share=0.25)
    data = read_manifest(manifest)
    for name, ids in parts.items():
        c = data["clients"][name]
        assert sorted(c["train"] + c["validation"]) == sorted(ids)
        split = pcsv.read_csv(tmp_path / "c" / f"{name}.csv").to_pydict()
        assert sorted(split["patch_id"]) == sorted(ids) and set(split["split"]) <= {"train", "validation"}
    big = max(parts, key=lambda k: len(parts[k]))
    assert len(data["clients"][big]["validation"]) == round(0.25 * len(parts[big]))
    with pytest.raises(ConfigError, match="no client"):
        client_splits(manifest, "XX", tmp_path / "x.csv")
    (tmp_path / "bad.json").write_text(json.dumps({"clients": [1]}))
    with pytest.raises(DataError, match="not a client manifest"):
        read_manifest(tmp_path / "bad.json")
    with pytest.raises(DataError, match="not found"):
        read_manifest(tmp_path / "none.json")
    with pytest.raises(ConfigError, match="unknown partition scheme"):
        partition(t, classes, "city")
