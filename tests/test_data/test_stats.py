import math

import numpy as np
import pytest

from worldclass.data.imbalance import imbalance, irlbl


def test_hand_computed_example() -> None:
    # counts: a=4, b=2, c=1 -> IRLbl 1, 2, 4; MeanIR 7/3
    y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 0]])
    st = imbalance(y, ["a", "b", "c"])
    assert st["irlbl"] == {"a": 1.0, "b": 2.0, "c": 4.0}
    assert st["mean_ir"] == pytest.approx(7 / 3)
    assert st["max_ir"] == 4.0
    sd = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    assert st["cvir"] == pytest.approx(sd / (7 / 3))
    # SCUMBLE: samples {a,b}: 1 - sqrt(2)/1.5 (twice); {a,c}: 1 - 2/2.5; {a}: 0
    expected = (2 * (1 - math.sqrt(2) / 1.5) + (1 - 2 / 2.5) + 0) / 4
    assert st["scumble"] == pytest.approx(expected)
    assert st["cardinality"] == pytest.approx(7 / 4)
    assert st["distinct_labelsets"] == 3


def test_absent_labels_are_inf_and_excluded() -> None:
    assert np.isinf(irlbl([3, 0])[1])
    st = imbalance(np.array([[1, 0], [1, 0]]), ["x", "y"])
    assert st["irlbl"]["y"] is None and st["mean_ir"] == 1.0
