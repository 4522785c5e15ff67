"""Compiled preprocessing kernels, native batches and recycled output buffers."""

import gc

import numpy as np
import pytest
import torch

from worldclass.data import kernels
from worldclass.data.native import BufferPool, pack
from worldclass.errors import DataError


@pytest.mark.parametrize("native", [60, 20, 7])
def test_factor2_path_equals_generic_separable_kernel(native: int) -> None:
    rng = np.random.default_rng(native)
    src = rng.normal(0, 3, (native, native)).astype(np.float32)
    i0, i1, w0, w1 = kernels.resampling_table(native, 2 * native, nearest=False)
    generic = np.empty((2 * native, 2 * native), np.float32)
    kernels._bilinear(src, generic, i0, i1, w0, w1, np.empty((native, 2 * native), np.float32))
    fast = np.empty_like(generic)
    even, odd = np.empty((native, native), np.float32), np.empty((native, native), np.float32)
    kernels._bilinear2(src, fast, i0, i1, w0, w1, even, odd)
    assert np.array_equal(fast, generic)
    ref = torch.nn.functional.interpolate(torch.from_numpy(src)[None, None], scale_factor=2, mode="bilinear")
    assert np.allclose(fast, ref[0, 0].numpy(), atol=1e-5)


def test_buffer_pool_recycles_only_released_buffers() -> None:
    pool = BufferPool(keep=2)
    a = pool.take((4, 3, 8, 8), torch.float32)
    a.fill_(1.0)
    address = a.data_ptr()
    view = a[1]  # a view keeps the buffer alive
    del a
    gc.collect()
    b = pool.take((4, 3, 8, 8), torch.float32)
    assert b.data_ptr() != address and torch.all(view == 1.0)
    del view
    gc.collect()
    c = pool.take((4, 3, 8, 8), torch.float32)
    assert c.data_ptr() == address  # recycled once nothing refers to it
    assert pool.take((2, 2), torch.int64).dtype == torch.int64


def test_pack_checks_every_array() -> None:
    good = {"B02": np.zeros((120, 120), np.uint16), "B05": np.zeros((60, 60), np.float64)}
    nb = pack([good], ("B02", "B05"), mask=False, names=["P1"])
    assert nb.kinds.tolist() == [[kernels.KIND_U16, kernels.KIND_F32]]  # float64 converted to float32
    with pytest.raises(DataError, match="P1: band B05 is"):
        pack([{**good, "B05": np.zeros((120, 120), np.uint16)}], ("B02", "B05"), mask=False, names=["P1"])
    with pytest.raises(DataError, match="P1: band B05 missing"):
        pack([{"B02": good["B02"]}], ("B02", "B05"), mask=False, names=["P1"])
    with pytest.raises(DataError, match="reference map has dtype int32"):
        pack([{**good, "reference_map": np.zeros((120, 120), np.int32)}], ("B02",), mask=True, names=["P1"])
