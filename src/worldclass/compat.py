"""torchvision compatibility shim (import this module before anything imports torchvision).

Why: the registry's ``torchvision==0.28.0`` is a CUDA build. Next to the CPU wheel ``torch==2.13.0+cpu`` its
compiled extension (``_C.so``) cannot load (it needs ``libtorch_cuda.so``). torchvision then still calls
``torch.library.register_fake("torchvision::nms")`` while importing, which raises
``RuntimeError: operator torchvision::nms does not exist`` -- so ``import torchvision`` (and thus timm, smp)
fails. When, and only when, the real extension fails to load we define the two operator schemas it would
have registered (``nms``, ``qnms``) with a small pure-torch NMS kernel. With a matching torchvision build
(e.g. CUDA torch on a GPU machine) this is a no-op.
"""

from __future__ import annotations

import importlib.util
import os

import torch

_LIB: torch.library.Library | None = None
_CHECKED = False


def _greedy_nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS. dets (N,4) boxes x1,y1,x2,y2; scores (N,). Returns kept indices (int64), best first."""
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = dets.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep: list[int] = []
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        iou = inter / (area[i] + area - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _qnms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return _greedy_nms(dets.float(), scores.float(), iou_threshold)


def ensure_torchvision_importable() -> bool:
    """Register the missing ``torchvision::nms``/``qnms`` schemas if torchvision's extension cannot load.

    Returns True when the shim was installed, False when it was not needed (no torchvision, or a working
    extension) or had already been handled. Idempotent and cheap after the first call.
    """
    global _LIB, _CHECKED
    if _CHECKED:
        return False
    _CHECKED = True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    try:
        torch.ops.load_library(os.path.join(os.path.dirname(spec.origin), "_C.so"))
        return False
    except (OSError, RuntimeError):
        pass
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", _greedy_nms, "CPU")
    _LIB.impl("qnms", _qnms, "CPU")
    return True
