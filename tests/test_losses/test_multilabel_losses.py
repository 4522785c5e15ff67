import numpy as np
import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.losses.multilabel import FocalLoss, WeightedBCE, build_loss, pos_weights


def test_pos_weights_formula() -> None:
    w = pos_weights([50, 10, 0], 100, power=1.0, max_weight=20)
    assert w.tolist() == pytest.approx([1.0, 9.0, 20.0])
    assert pos_weights([10], 100, power=0.5).tolist() == pytest.approx([3.0])


def test_cw_and_dcw_and_bce() -> None:
    logits, y = torch.zeros(4, 2), torch.tensor([[1.0, 0], [0, 0], [0, 0], [0, 1]])
    bce = build_loss("bce", 2)
    cw = build_loss("cw", 2, np.array([10, 90]), 100, power=1.0)
    assert isinstance(cw, WeightedBCE) and cw.get_buffer("pos_weight").tolist() == pytest.approx([9.0, 1.0])
    assert cw(logits, y) > bce(logits, y)
    dcw = build_loss("dcw", 2, np.array([10, 90]), 100, power=1.0)
    assert isinstance(dcw, WeightedBCE) and dcw.dynamic
    dcw.update(np.array([50, 50]), 100)  # after oversampling the drawn epoch is balanced: no correction
    assert torch.allclose(dcw(logits, y), bce(logits, y))
    with pytest.raises(ConfigError, match="choose one of"):
        build_loss("dice", 2)


def test_focal_reduces_easy_examples() -> None:
    y = torch.tensor([[1.0], [0.0]])
    easy, hard = torch.tensor([[4.0], [-4.0]]), torch.tensor([[-1.0], [1.0]])
    f = FocalLoss()
    assert f(easy, y) < 1e-3 < f(hard, y)
