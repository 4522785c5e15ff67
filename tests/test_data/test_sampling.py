import numpy as np
import pytest

from worldclass.data.imbalance import imbalance
from worldclass.data.sampling import IndexListSampler, MROSSampler, minority_classes, ml_ros, mros_weights


def _labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((500, 5)) < [0.6, 0.4, 0.2, 0.03, 0.01]).astype(int)


def test_mros_weights_follow_minority_marginals() -> None:
    y = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]])
    # counts 5, 1, 1 -> IRLbl 1, 5, 5; MeanIR 11/3 -> minority: classes 1 and 2
    assert minority_classes(y).tolist() == [False, True, True]
    assert mros_weights(y).tolist() == [1, 1, 1, 1, 6, 6]  # 1 / (1/6)


def test_mros_sampling_raises_minority_share_deterministically() -> None:
    y = _labels()
    s = MROSSampler(mros_weights(y), seed=3)
    drawn = np.array(list(s))
    assert len(drawn) == len(y) and np.array_equal(
        drawn, np.array(list(MROSSampler(mros_weights(y), seed=3)))
    )
    assert minority_classes(y).tolist() == [
        False,
        False,
        False,
        False,
        True,
    ]  # IRLbl > MeanIR only for class 4
    before, after = y.mean(0), y[drawn].mean(0)
    assert after[4] > 10 * before[4]
    assert imbalance(y[drawn])["irlbl"]["4"] < imbalance(y)["irlbl"]["4"] / 5
    s.set_epoch(1)
    assert not np.array_equal(np.array(list(s)), drawn)


@pytest.mark.parametrize("cls", ["mros", "list"])
def test_ddp_ranks_get_disjoint_shares_of_one_draw(cls: str) -> None:
    y = _labels()

    def make(rank: int):  # type: ignore[no-untyped-def]
        if cls == "mros":
            return MROSSampler(mros_weights(y), seed=1, num_replicas=3, rank=rank)
        return IndexListSampler(ml_ros(y, 25), seed=1, num_replicas=3, rank=rank)

    ranks = [make(r) for r in range(3)]
    glob = ranks[0].indices()
    shares = [list(r) for r in ranks]
    assert all(len(sh) == len(ranks[0]) for sh in shares)
    positions = [set(range(r, len(glob), 3)) for r in range(3)]
    assert set.union(*positions) == set(range(len(glob))) and not positions[0] & positions[1]
    assert sorted(i for sh in shares for i in sh) == sorted(glob.tolist())


def test_ml_ros_clones_minority_until_meanir() -> None:
    y = _labels()
    idx = ml_ros(y, percentage=50, seed=0)
    assert np.array_equal(idx[: len(y)], np.arange(len(y))) and len(idx) > len(y)
    assert imbalance(y[idx])["mean_ir"] < imbalance(y)["mean_ir"]
    clones = y[idx[len(y) :]]
    assert clones[:, 3:].any(axis=1).all()  # every clone carries a minority label
