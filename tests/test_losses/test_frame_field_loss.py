"""Frame-field targets and losses: the tangent from a mask follows the walls; the right field scores low."""

from __future__ import annotations

import numpy as np
import torch
from rasterio.features import rasterize
from shapely import affinity
from shapely.geometry import box

from worldclass.losses.frame_field import FrameFieldLoss, boundary_targets


def _rotated_mask(angle: float, n: int = 96) -> np.ndarray:
    poly = affinity.rotate(box(20, 30, 76, 62), angle, origin=(48, 46))
    return rasterize([(poly, 1)], out_shape=(n, n), dtype="uint8")


def _field_for(angle_deg: float, n: int = 96) -> torch.Tensor:
    """A constant frame (wall direction and its normal) as the head's 5 channels; edge logit 0."""
    u = np.exp(1j * np.radians(angle_deg))
    v = 1j * u
    c0, c2 = (u * u) * (v * v), -(u * u + v * v)
    vals = [0.0, c0.real, c0.imag, c2.real, c2.imag]
    return torch.tensor(vals, dtype=torch.float32).view(1, 5, 1, 1).expand(1, 5, n, n).clone()


def test_tangent_of_a_rotated_building_follows_its_walls() -> None:
    mask = torch.from_numpy(_rotated_mask(25.0)).unsqueeze(0)
    band, tangent, straight = boundary_targets(mask.bool())
    # the band is the pixels on both sides of the outline: 2 to 3 pixels wide on a slanted wall
    assert 1.8 * 2 * (56 + 32) < band.sum() < 3.0 * 2 * (56 + 32)
    theta = np.degrees(np.arctan2(tangent[0, 1].numpy(), tangent[0, 0].numpy())) % 90
    sel = band[0].numpy() > 0
    err = np.minimum(np.abs(theta[sel] - 25.0), 90 - np.abs(theta[sel] - 25.0))
    assert np.median(err) < 3.0  # corners blur a few pixels only
    # straightness: high along the walls, low at the four corners (where the tangent would be diagonal)
    poly = affinity.rotate(box(20, 30, 76, 62), 25.0, origin=(48, 46))
    s = straight[0].numpy()
    for x, y in list(poly.exterior.coords)[:4]:
        assert s[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2].min() < 0.5
    mid = poly.exterior.interpolate(0.25, normalized=True)  # middle of a long wall
    assert s[int(mid.y), int(mid.x)] > 0.9


def test_the_true_frame_scores_lower_than_a_turned_one() -> None:
    mask = torch.from_numpy(_rotated_mask(25.0).astype(np.int64)).unsqueeze(0)
    loss = FrameFieldLoss([1])
    right = loss.parts(_field_for(25.0), mask)
    wrong = loss.parts(_field_for(25.0 + 30.0), mask)
    assert right["align"] < 0.1 * wrong["align"] and right["align90"] < 0.1 * wrong["align90"]
    assert right["smooth"] == 0.0  # a constant field is smooth
    # an edge logit that marks the band beats a constant one
    band, _, _ = boundary_targets(mask.bool())
    marked = _field_for(25.0)
    marked[:, 0] = (band * 2 - 1) * 6
    assert loss.parts(marked, mask)["edge"] < 0.2 * right["edge"]


def test_ignored_pixels_and_other_classes_give_no_edges() -> None:
    mask = torch.from_numpy(_rotated_mask(0.0).astype(np.int64) * 2).unsqueeze(0)  # class 2, not building
    parts = FrameFieldLoss([1]).parts(_field_for(10.0), mask)
    assert parts["align"] == 0.0 and parts["align90"] == 0.0
    ignored = torch.full((1, 96, 96), 255, dtype=torch.int64)
    assert FrameFieldLoss([1]).parts(_field_for(10.0), ignored)["edge"] == 0.0
