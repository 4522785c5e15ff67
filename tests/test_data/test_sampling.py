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


# reBEN training positives per class (recomputed from metadata.parquet; ../shared/reference): 237,871
# training patches, label cardinality 2.89.
REBEN_TRAIN = [88236, 78791, 76344, 64198, 64164, 60127, 51034, 42968, 35914, 33626]
REBEN_TRAIN += [30466, 15190, 15082, 11344, 6984, 6398, 6329, 738, 670]


def _reben_scale_labels(seed: int = 0) -> np.ndarray:
    """(237871, 19) labels with reBEN's training marginals (independent classes)."""
    n = 237_871
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(REBEN_TRAIN)), bool)
    for c, k in enumerate(REBEN_TRAIN):
        y[rng.choice(n, k, replace=False), c] = True
    return y


def test_uncapped_mros_overdraws_reben_rare_patches_and_the_default_cap_bounds_it() -> None:
    from worldclass.data.sampling import draw_report

    y = _reben_scale_labels()
    assert minority_classes(y).tolist() == [False] * 17 + [True, True]  # only Beaches, Coastal wetlands
    raw = draw_report(y, mros_weights(y, max_draws=None))
    assert raw["max_draws"] > 100 and raw["top_share"] > 0.6  # the issue's ~119 draws, 2/3 of the epoch
    capped = draw_report(y, mros_weights(y))  # default: at most 20 expected draws per patch
    assert capped["max_draws"] == pytest.approx(20.0, rel=1e-6)
    assert capped["mean_ir_drawn"] <= 0.4 * capped["mean_ir_natural"]  # MeanIR falls by >= 60 %
    assert min(capped["boost"][17:]) >= 3.0  # the rarest classes drawn >= 3x more often
    # the expected counts are what a sampler really draws
    drawn = np.bincount(np.array(list(MROSSampler(mros_weights(y), seed=0))), minlength=len(y))
    rare = y[:, 17:].any(1)
    assert drawn[rare].mean() == pytest.approx(capped["max_draws"], rel=0.05)


def test_cap_solves_the_water_filling_level_exactly() -> None:
    from worldclass.data.sampling import cap_weights

    w = np.array([1.0] * 96 + [50.0, 60.0, 70.0, 1000.0])
    c = cap_weights(w, max_draws=5.0, num_samples=100)
    expected = 100 * c / c.sum()
    assert expected.max() == pytest.approx(5.0, rel=1e-9)
    assert np.array_equal(c[:96], w[:96])  # patches below the level keep their weight
    # hand check: 4 capped patches at level L: 100 L / (96 + 4 L) = 5  ->  L = 6
    assert c[96:] == pytest.approx([6.0] * 4, rel=1e-9)
    assert np.array_equal(cap_weights(w, 1e6, 100), w)  # a loose cap changes nothing
    with pytest.raises(ValueError, match=r"at least 1\.00"):
        cap_weights(w, 0.5, 100)


def test_temperature_interpolates_between_natural_and_inverse_frequency() -> None:
    y = np.array([[1, 0, 0]] * 4 + [[1, 1, 0], [0, 0, 1]])
    assert mros_weights(y, temperature=1.0, max_draws=None).tolist() == [1, 1, 1, 1, 6, 6]
    assert mros_weights(y, temperature=0.5, max_draws=None) == pytest.approx([1] * 4 + [6**0.5] * 2)
    assert mros_weights(y, temperature=0.0, max_draws=None).tolist() == [1.0] * 6
