"""Frame-field learning losses (Girard et al., "Polygonal building extraction by frame field learning",
CVPR 2021) computed from a class mask, no vector labels needed.

A frame field holds per pixel a pair of directions {±u, ±v}, stored as the coefficients of
``f(z) = z^4 + c2 z^2 + c0 = (z^2 - u^2)(z^2 - v^2)``. Head output (B, 5, H, W): channel 0 the building-edge
logit, channels 1..4 ``c0.real, c0.imag, c2.real, c2.imag``. Coordinates: x = column (right), y = row
(down), the same as the pixel coordinates of polygon outlines, so angles transfer unchanged.

Targets from the mask (B, H, W) int64, ignore 255: ``building`` = pixels of the given classes; the edge
target is the 2-pixel band where the building mask changes (inside and outside pixel); the boundary
tangent and its straightness come from the structure tensor of the Gaussian-blurred mask
(:func:`boundary_targets`). Losses (weights in :class:`FrameFieldLoss`): edge BCE over valid pixels;
``align`` = mean over the band, weighted by straightness^4, of |f(tangent)|^2 (one frame direction
along the wall); ``align90`` = |f(i·tangent)|^2 (the other across it); ``smooth`` = mean squared
Laplacian of c0 and c2 (a smooth field between walls; at corners it carries both walls' directions,
as the vector tangents of Girard et al. do, instead of the diagonal a blurred mask suggests).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.data.nomenclature import IGNORE_INDEX


def _gaussian(sigma: float, device: torch.device) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), edges replicated."""
    k = _gaussian(sigma, x.device)
    r = (len(k) - 1) // 2
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(
        F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c
    )


def boundary_targets(
    building: torch.Tensor, sigma: float = 1.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(edge band (B, H, W) 0/1, unit tangent (B, 2, H, W) as (cos, sin), straightness (B, H, W) in
    [0, 1]) of a 0/1 building mask.

    The tangent is the dominant orientation of the blurred mask's gradients around each pixel (structure
    tensor, window sigma ``2 * sigma``) turned by 90°; straightness is that tensor's coherence, near 1
    along a straight wall and near 0 at a corner, where one tangent would be a diagonal no wall has.
    """
    b = building.float().unsqueeze(1)
    band = (F.max_pool2d(b, 3, 1, 1) - (-F.max_pool2d(-b, 3, 1, 1))).squeeze(1)
    p = F.pad(_blur(b, sigma), (1, 1, 1, 1), mode="replicate")
    gx = (p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]) / 2
    gy = (p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]) / 2
    j = _blur(torch.cat([gx * gx, gy * gy, gx * gy], 1), 2 * sigma)
    jxx, jyy, jxy = j[:, 0], j[:, 1], j[:, 2]
    trace = (jxx + jyy).clamp_min(1e-8)
    straight = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / trace
    normal = 0.5 * torch.atan2(2 * jxy, jxx - jyy)
    tangent = torch.stack([-torch.sin(normal), torch.cos(normal)], 1)
    return band, tangent, straight.clamp(0, 1)


def _f_abs2(c: torch.Tensor, zr: torch.Tensor, zi: torch.Tensor) -> torch.Tensor:
    """|z^4 + c2 z^2 + c0|^2 for unit z = (zr, zi); c (B, 4, H, W) = c0 re/im, c2 re/im."""
    z2r, z2i = zr * zr - zi * zi, 2 * zr * zi
    z4r, z4i = z2r * z2r - z2i * z2i, 2 * z2r * z2i
    fr = z4r + c[:, 2] * z2r - c[:, 3] * z2i + c[:, 0]
    fi = z4i + c[:, 2] * z2i + c[:, 3] * z2r + c[:, 1]
    return fr * fr + fi * fi


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


class FrameFieldLoss(nn.Module):
    """Edge + frame-field loss of a (B, 5, H, W) head output against a class mask (B, H, W)."""

    def __init__(
        self,
        classes: list[int],
        *,
        edge: float = 1.0,
        align: float = 1.0,
        align90: float = 0.2,
        smooth: float = 0.01,
        sigma: float = 1.5,
    ) -> None:
        super().__init__()
        self.classes = list(classes)
        self.weights = {"edge": edge, "align": align, "align90": align90, "smooth": smooth}
        self.sigma = sigma

    def parts(self, out: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term (unweighted)."""
        out = out.float()
        valid = (mask != IGNORE_INDEX).float()
        building = torch.zeros_like(mask, dtype=torch.bool)
        for k in self.classes:
            building |= mask == k
        band, tangent, straight = boundary_targets(building, self.sigma)
        band = band * valid
        wall = band * straight**4  # align on straight walls; corners are left to smoothness
        edge = F.binary_cross_entropy_with_logits(out[:, 0], band, reduction="none")
        c = out[:, 1:]
        w = wall.sum().clamp_min(1.0)
        zr, zi = tangent[:, 0], tangent[:, 1]
        lap = F.conv2d(
            F.pad(c, (1, 1, 1, 1), mode="replicate"),
            _LAPLACE.to(c).view(1, 1, 3, 3).repeat(4, 1, 1, 1),
            groups=4,
        )
        return {
            "edge": (edge * valid).sum() / valid.sum().clamp_min(1.0),
            "align": (_f_abs2(c, zr, zi) * wall).sum() / w,
            "align90": (_f_abs2(c, -zi, zr) * wall).sum() / w,
            "smooth": (lap**2).mean(),
        }

    def forward(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        parts = self.parts(out, mask)
        return sum((self.weights[k] * v for k, v in parts.items()), out.sum() * 0.0)
