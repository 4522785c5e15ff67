"""Scene classifiers on timm backbones, found by name (``resnet50``, ``densenet121``, ``convnext_*``, ...).

* ``fusion="early"``: one backbone over all channels (``in_chans`` = number of bands).
* ``fusion="late"``: two backbones, one on the S2 channels and one on the S1 channels (the last
  ``s1_channels`` channels in worldclass order), features concatenated, one linear head.

Pretrained weights are optional and only read from a local file (``pretrained``: a timm/torchvision state
dict, e.g. ImageNet RGB); timm adapts the first convolution to ``in_chans`` (RGB filters repeated and
rescaled). Nothing is downloaded.

:class:`SceneClassifier` (registered as ``scene_classifier``) is what tasks train and checkpoints hold:
the logit model plus the rule that turns logits into scores of the evaluated classes (attribute
encoding: 43 outputs scored on the 19 parents) and the embedding layers for retrieval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldclass.compat import ensure_torchvision_importable
from worldclass.errors import ConfigError
from worldclass.models.registry import register_model

#: Ways of combining S2 and S1 bands (see module docstring).
FUSIONS = ("early", "late")
#: Rules scoring a parent class from its children's probabilities (attribute encoding, see SceneClassifier).
PARENT_RULES = ("noisy-or", "max", "clipped-sum")


def _timm():  # type: ignore[no-untyped-def]
    ensure_torchvision_importable()
    import timm

    return timm


def check_backbone(name: str) -> None:
    """Raise ConfigError listing close matches when timm has no model ``name``."""
    timm = _timm()
    if name not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=8)
        raise ConfigError(
            f"unknown backbone {name!r}; did you mean one of {close}? (any timm model name works)"
        )


def _backbone(
    name: str,
    in_chans: int,
    num_classes: int,
    drop_rate: float,
    drop_path_rate: float,
    pretrained: str | Path | None,
) -> nn.Module:
    timm = _timm()
    check_backbone(name)
    kwargs: dict[str, object] = {"in_chans": in_chans, "num_classes": num_classes, "drop_rate": drop_rate}
    if drop_path_rate:
        kwargs["drop_path_rate"] = drop_path_rate
    if pretrained:
        path = Path(pretrained)
        if not path.is_file():
            raise ConfigError(
                f"{path}: pretrained weights file not found (weights are only loaded from local files)"
            )
        kwargs["pretrained"] = True
        kwargs["pretrained_cfg_overlay"] = {"file": str(path), "num_classes": 1000 if num_classes else 0}
    try:
        model: nn.Module = timm.create_model(name, **kwargs)
    except TypeError:  # a few architectures take no drop_path_rate
        kwargs.pop("drop_path_rate", None)
        model = timm.create_model(name, **kwargs)
    return model


def pooled_width(model: nn.Module) -> int:
    """Width of a headless timm model's output: ``head_hidden_size`` when the model has a pre-logits
    layer after pooling (MobileNetV3, EfficientNet-style conv heads), else ``num_features``."""
    hidden = getattr(model, "head_hidden_size", None)
    return int(hidden if hidden else getattr(model, "num_features", 0))


class LateFusion(nn.Module):
    """Two backbones (S2 channels, S1 channels) -> concatenated pooled features -> dropout -> linear."""

    def __init__(
        self, s2: nn.Module, s1: nn.Module, s1_channels: int, num_classes: int, drop_rate: float
    ) -> None:
        super().__init__()
        self.s2, self.s1, self.s1_channels = s2, s1, s1_channels
        width = pooled_width(s2) + pooled_width(s1)
        self.head = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.s1_channels
        return self.head(torch.cat([self.s2(x[:, :-k]), self.s1(x[:, -k:])], dim=1))  # type: ignore[no-any-return]


def create_classifier(
    backbone: str,
    in_chans: int,
    num_classes: int,
    *,
    fusion: str = "early",
    s1_channels: int = 0,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    pretrained: str | Path | None = None,
) -> nn.Module:
    """Logit model (B, in_chans, H, W) -> (B, num_classes). See module docstring for ``fusion``."""
    if fusion == "early":
        return _backbone(backbone, in_chans, num_classes, drop_rate, drop_path_rate, pretrained)
    if fusion == "late":
        if not 0 < s1_channels < in_chans:
            raise ConfigError("late fusion needs both S2 and S1 bands (sensors: [s2, s1])")
        s2 = _backbone(backbone, in_chans - s1_channels, 0, drop_rate, drop_path_rate, pretrained)
        s1 = _backbone(backbone, s1_channels, 0, drop_rate, drop_path_rate, pretrained)
        return LateFusion(s2, s1, s1_channels, num_classes, drop_rate)
    raise ConfigError(f"unknown fusion {fusion!r}; choose early or late")


class SceneClassifier(nn.Module):
    """Multi-label scene classifier: ``forward`` (B, in_chans, H, W) -> logits (B, num_classes).

    ``attribute_encoding``: the ``num_classes`` = 43 outputs are CLC level-3 attributes and
    :meth:`scores` gives the 19 parents from the children ``C(k)`` of each parent (the 43 -> 19 matrix) by
    ``parent_rule``: ``noisy-or`` (default) ``1 - prod_{c in C(k)} (1 - p_c)``, the probability that at
    least one child is present if children were independent; ``max`` ``max_{c in C(k)} p_c`` (a lower
    bound); ``clipped-sum`` ``min(1, sum_{c in C(k)} p_c)`` (earlier releases; inflates parents with several
    likely children). Targets: a parent is present when any child is.
    Embedding layers: ``features`` (pooled pre-logit features; late fusion: S2 and S1 branches
    concatenated) and ``scores`` (probabilities of the evaluated classes).
    """

    embedding_layers = ("features", "scores")

    def __init__(
        self,
        backbone: str,
        in_chans: int,
        num_classes: int,
        *,
        fusion: str = "early",
        s1_channels: int = 0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        attribute_encoding: bool = False,
        parent_rule: str = "noisy-or",
        pretrained: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.spec: dict[str, Any] = {
            "backbone": backbone,
            "in_chans": in_chans,
            "num_classes": num_classes,
            "fusion": fusion,
            "s1_channels": s1_channels,
            "drop_rate": drop_rate,
            "drop_path_rate": drop_path_rate,
            "attribute_encoding": attribute_encoding,
            "parent_rule": parent_rule,
            "pretrained": pretrained,
        }
        self.num_classes = num_classes
        if parent_rule not in PARENT_RULES:
            raise ConfigError(f"parent_rule {parent_rule!r}: choose one of {list(PARENT_RULES)}")
        self.parent_rule = parent_rule
        self.net = create_classifier(
            backbone,
            in_chans,
            num_classes,
            fusion=fusion,
            s1_channels=s1_channels,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            pretrained=pretrained,
        )
        self.attribute_encoding = attribute_encoding
        if attribute_encoding:
            from worldclass.data.nomenclature import matrix_43_to_19

            self.register_buffer("parents", torch.from_numpy(matrix_43_to_19()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        out: torch.Tensor = self.net(x)
        return out

    def _to_parents(self, p: torch.Tensor, rule: str) -> torch.Tensor:
        m: torch.Tensor = self.get_buffer("parents")
        p = p.float()
        if rule == "noisy-or":
            return -torch.expm1(torch.log1p(-p.clamp(0, 1 - 1e-7)) @ m)
        if rule == "max":
            return (p[:, :, None] * m[None]).amax(1)
        return (p @ m).clamp(0, 1)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, evaluated classes) of logits (B, num_classes)."""
        p = torch.sigmoid(logits.float())
        return self._to_parents(p, self.parent_rule) if self.attribute_encoding else p

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Multi-hot labels of the outputs -> labels of the evaluated classes (a parent = any child)."""
        return self._to_parents(labels, "max") if self.attribute_encoding else labels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) -> (B, D) pooled pre-logit features."""
        net: Any = self.net
        if isinstance(net, LateFusion):
            k = net.s1_channels
            return torch.cat([net.s2(x[:, :-k]), net.s1(x[:, -k:])], 1)
        out: torch.Tensor = net.forward_head(net.forward_features(x), pre_logits=True)
        return out

    @property
    def feature_dim(self) -> int:
        """Width D of :meth:`features`."""
        net: Any = self.net
        if isinstance(net, LateFusion):
            return sum(pooled_width(m) for m in (net.s2, net.s1))
        return pooled_width(net)

    def features_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, in_chans, H, W) -> pooled features (B, D) and logits (B, num_classes) of one pass."""
        net: Any = self.net
        if isinstance(net, LateFusion):
            k = net.s1_channels
            feats = torch.cat([net.s2(x[:, :-k]), net.s1(x[:, -k:])], 1)
            return feats, net.head(feats)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        fmap = net.forward_features(x)
        return net.forward_head(fmap, pre_logits=True), net.forward_head(fmap)

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "features") -> torch.Tensor:
        """(B, in_chans, H, W) -> (B, D): ``features`` or ``scores`` (see class docstring)."""
        if layer == "scores":
            return self.scores(self(x))
        return self.features(x).float()


@register_model("scene_classifier")
def scene_classifier(**kwargs: Any) -> SceneClassifier:
    """Registry builder of :class:`SceneClassifier` (keyword arguments as its constructor)."""
    return SceneClassifier(**kwargs)
