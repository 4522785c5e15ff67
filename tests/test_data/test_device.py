"""The GPU data path (run here on the CPU device): native groups resampled and normalised by
:class:`DeviceTransform` equal the CPU path's tensors, for every source kind and resampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from worldclass.data import BigEarthNet
from worldclass.data.collate import collate
from worldclass.data.device import DeviceTransform, pop_native
from worldclass.errors import DataError


@pytest.mark.parametrize("resampling", ["bilinear", "nearest"])
@pytest.mark.parametrize("source", ["store", "archive"])
def test_device_path_equals_the_cpu_path(v2_store: Path, v2_root: Path, source: str, resampling: str) -> None:
    root = v2_store if source == "store" else v2_root
    kw = dict(split="all", sensors=("s2", "s1"), include_snow_cloud=True, resampling=resampling)
    cpu = BigEarthNet(root, **kw)  # type: ignore[arg-type]
    dev = BigEarthNet(root, native=True, **kw)  # type: ignore[arg-type]
    idx = [0, 3, 7, 11, 5]
    ref = collate(cpu.__getitems__(idx))
    batch = collate(dev.__getitems__(idx))
    assert "image" not in batch and torch.equal(batch["label"], ref["label"])
    groups = pop_native(batch)
    assert groups is not None
    sizes = {k: (tuple(v.shape[1:]), v.dtype) for k, v in groups.items()}
    assert sizes == {
        "native/120px-uint16": ((4, 120, 120), torch.uint16),
        "native/60px-uint16": ((6, 60, 60), torch.uint16),
        "native/20px-uint16": ((2, 20, 20), torch.uint16),
        "native/120px-float32": ((2, 120, 120), torch.float32),
    }
    native_bytes = sum(v.numel() * v.element_size() for v in groups.values())
    assert ref["image"].numel() * 4 / native_bytes > 2.2  # what crosses to the device
    image = DeviceTransform(cpu.transform.describe())(groups)
    assert image.shape == ref["image"].shape
    torch.testing.assert_close(image, ref["image"], atol=1e-5, rtol=0)
    # the comparison can fail: other per-band statistics give another tensor
    wrong = DeviceTransform({**cpu.transform.describe(), "mean": list(reversed(cpu.transform.mean.tolist()))})
    assert (wrong(groups) - ref["image"]).abs().max() > 0.1


def test_device_path_through_worker_processes(v2_store: Path) -> None:
    kw = dict(split="all", sensors=("s2",), bands="s2-10", include_snow_cloud=True)
    cpu = BigEarthNet(v2_store, **kw)  # type: ignore[arg-type]
    dev = BigEarthNet(v2_store, native=True, **kw)  # type: ignore[arg-type]
    transform = DeviceTransform(cpu.transform.describe())
    loader = DataLoader(dev, batch_size=6, num_workers=1, collate_fn=collate)
    ref = DataLoader(cpu, batch_size=6, num_workers=0, collate_fn=collate)
    for a, b in zip(loader, ref, strict=True):
        groups = pop_native(a)
        assert groups is not None and set(groups) == {"native/120px-uint16", "native/60px-uint16"}
        torch.testing.assert_close(transform(groups), b["image"], atol=1e-5, rtol=0)


def test_device_transform_refuses_a_batch_of_other_bands(v2_store: Path) -> None:
    s2 = BigEarthNet(v2_store, split="all", sensors=("s2",), include_snow_cloud=True, native=True)
    both = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"), include_snow_cloud=True)
    groups = pop_native(collate(s2.__getitems__([0, 1])))
    assert groups is not None
    with pytest.raises(DataError, match="120px-float32"):
        DeviceTransform(both.transform.describe())(groups)
