"""Contract tests over every registered dataset: a data card, a fake archive in the official layout that
the registry opens, and samples with the keys, dtypes and shapes the card promises."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldclass.config import DataConfig
from worldclass.datasets import data_section, get_dataset, list_datasets
from worldclass.errors import ConfigError
from worldclass.tasks import load_config

DTYPES = {"float32": torch.float32, "int64": torch.int64}


def test_registry_lists_the_builtin_datasets_and_suggests_names() -> None:
    assert {"bigearthnet", "inria", "scenes"} <= set(list_datasets())
    with pytest.raises(ConfigError, match="did you mean 'inria'"):
        get_dataset("inira")


@pytest.mark.parametrize("name", list_datasets())
def test_dataset_contract(name: str, tmp_path: Path) -> None:
    ds = get_dataset(name)
    card = ds.card()
    for word in ("Layout", "Classes", "Samples", "Licence"):
        assert f"**{word}" in card, f"{name}: data card lacks a {word} paragraph"
    assert ds.kind in ("multilabel", "segmentation") and ds.summary
    overrides = ds.make_fake(tmp_path / name, seed=1)
    task = {"multilabel": "classification", "segmentation": "segmentation"}[ds.kind]
    cfg = load_config(None, [f"task={task}", *overrides])  # the config accepts the registered name
    assert cfg.data.dataset == name
    data = data_section(cfg.to_dict())
    assert isinstance(data, DataConfig)
    split = "train"
    dataset = ds.open(data, split)
    assert len(dataset) > 0
    sample = dataset[0]
    assert set(ds.sample_keys) <= set(sample), f"{name}: sample keys {sorted(sample)}"
    side = ds.input_size(data)
    for key, (dtype, _) in ds.sample_keys.items():
        value = sample[key]
        if dtype == "str":
            assert isinstance(value, str) and value
            continue
        if dtype == "int":  # the sample's number in its split: distinct over the split
            assert isinstance(value, int) and dataset[len(dataset) - 1][key] == len(dataset) - 1
            continue
        assert value.dtype == DTYPES[dtype], (key, value.dtype)
        if key == "image":
            assert value.ndim == 3 and tuple(value.shape[1:]) == (side, side)
        if key == "mask":
            assert tuple(value.shape) == (side, side)
            assert int(value.max()) < 256
    plan = ds.embedding_plan(data, {}, _bands(ds, data, dataset), None) if ds.kind == "multilabel" else None
    if plan is not None:
        assert len(plan.patch_ids) == len(plan.splits) == len(plan.labels) == len(plan.dataset)


def _bands(ds: object, data: DataConfig, dataset: object) -> list[str]:
    return list(dataset.bands)
