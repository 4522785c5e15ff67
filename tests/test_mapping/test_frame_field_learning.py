"""The frame-field head learns on controlled data: after a short training on footprints whose walls meet
at other than right angles, its directions follow held-out walls, and the polygons it guides beat the
right-angle rule in C-IoU on the same predicted masks."""

from __future__ import annotations

import numpy as np
import shapely
import torch

from worldclass.data.synth.footprints import footprint_scene
from worldclass.losses import SegmentationLoss
from worldclass.losses.frame_field import FrameFieldLoss, boundary_targets
from worldclass.mapping.frame_field import FrameField, encode_field
from worldclass.mapping.regularize import regularize_coverage
from worldclass.mapping.vectorize import chunk_polygons
from worldclass.metrics.polygons import polygon_metrics
from worldclass.models.segmenter import SegmentationNet

KINDS = ("parallelogram", "trapezoid", "chamfered")
CROP, STEPS = 80, 110


def _field_error(
    net: SegmentationNet, x: torch.Tensor, labels: np.ndarray
) -> tuple[float, FrameField, np.ndarray]:
    """Median angle (degrees) between the field and the true wall tangent along straight walls."""
    net.eval()
    with torch.no_grad():
        logits, out = net.forward_all(x)
    assert out is not None
    field = FrameField.from_raster(encode_field(torch.sigmoid(out[0, 0]).numpy(), out[0, 1:].numpy()))
    band, tangent, straight = boundary_targets(torch.from_numpy(labels[None]).bool())
    t = np.mod(np.arctan2(tangent[0, 1].numpy(), tangent[0, 0].numpy()), np.pi)

    def diff(a: np.ndarray) -> np.ndarray:
        d = np.mod(a - t, np.pi)
        return np.minimum(d, np.pi - d)

    err = np.minimum(diff(field.u), diff(field.v))[(band[0] * straight[0]).numpy() > 0.8]
    return float(np.degrees(np.median(err))), field, logits.argmax(1)[0].numpy().astype(np.uint8)


def test_frame_field_head_learns_and_its_polygons_beat_the_right_angle_rule() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train = [footprint_scene(s, 384, 64, KINDS) for s in range(3)]
    images = torch.tensor(np.stack([s[0] for s in train])).float() / 255
    masks = torch.tensor(np.stack([s[1] for s in train])).long()
    mean, std = images.mean((0, 2, 3), keepdim=True), images.std((0, 2, 3), keepdim=True)
    images = (images - mean) / std
    rgb, labels, polys = footprint_scene(99, 384, 64, KINDS)  # held out
    x = (torch.tensor(rgb[None]).float() / 255 - mean) / std

    net = SegmentationNet("unet", "resnet18", 3, 2, frame_field=True)
    before, _, _ = _field_error(net, x, labels)
    seg, ff = SegmentationLoss("ce+iou"), FrameFieldLoss([1])
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    net.train()
    for _ in range(STEPS):
        i, ys, xs = rng.integers(0, 3, 8), rng.integers(0, 384 - CROP, 8), rng.integers(0, 384 - CROP, 8)
        xb = torch.stack(
            [images[k, :, y : y + CROP, c : c + CROP] for k, y, c in zip(i, ys, xs, strict=True)]
        )
        mb = torch.stack([masks[k, y : y + CROP, c : c + CROP] for k, y, c in zip(i, ys, xs, strict=True)])
        logits, out = net.forward_all(xb)
        assert out is not None
        loss = seg(logits, mb) + ff(out, mb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, field, pred = _field_error(net, x, labels)
    assert before > 12 and after < 6, (before, after)  # untrained: random directions (22.5° median)

    # the polygonize path: the predicted map's coverage, buildings squared by the rule or guided by the field
    geoms, values = chunk_polygons(pred, 0, 0, 0.0)
    ref = np.array(polys, dtype=object)

    def buildings(out: np.ndarray) -> np.ndarray:
        keep = (values == 1) & (shapely.area(out) > 30)
        return np.asarray(out[keep])

    rule = polygon_metrics(buildings(regularize_coverage(geoms, values == 1)), ref, step=1.0)
    learned = polygon_metrics(buildings(regularize_coverage(geoms, values == 1, field)), ref, step=1.0)
    assert rule["matched"] >= 30 and learned["matched"] >= rule["matched"]
    assert learned["c_iou"] > rule["c_iou"] + 0.03, (learned["c_iou"], rule["c_iou"])
    assert learned["iou"] > rule["iou"]
