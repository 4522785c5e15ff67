"""A learned codec for multispectral patches that also hashes them (joint compression and indexing).

After Sumbul, Xiang, Demir, "Towards simultaneous image compression and indexing for scalable
content-based retrieval in remote sensing", IEEE TGRS 2022 (RS-JCIF / SCI-CBIR; our own compact
implementation from the paper's description, not their code):

* analysis transform ``g_a``: three stride-2 5 x 5 convolutions, (B, C, H, W) -> latent ``y`` (B, M,
  H/8, W/8) (H, W multiples of 8: 120 px -> 15 x 15);
* quantiser: ``round(y)`` clipped to +-:data:`CLIP` (training: additive uniform noise, the usual
  differentiable stand-in);
* entropy model: a factorised discretised Gaussian per latent channel whose mean and scale follow the
  latents' own moments during training (an exponential moving average with ``entropy_momentum``: the
  maximum-likelihood, so minimum-rate, Gaussian; learning them by gradient at the network's learning rate
  lags far behind the latents in a short run); the rate gradient reaches the encoder through it;
  :func:`encode_latents` / :func:`decode_latents` turn integer latents into a bitstream and back with
  ``constriction``'s ANS coder under exactly this model, so the model's rate is the file's size (up to
  a few bytes per patch);
* synthesis transform ``g_s``: three stride-2 transposed convolutions back to (B, C, H, W);
* hashing from the same encoder: ``tanh(MLP(mean-pooled y))`` -> ``hash_bits`` values in (-1, 1), codes
  = their signs; a linear classifier on them (the classification loss).

Losses: rate ``R`` in bits per pixel (bits / (H x W): all bands of one 10 m pixel together) and
distortion ``D`` (MSE of the normalised bands), ``D + w R`` with ``w`` adapted during training so that
``R`` meets the target bit rate (:meth:`HashingCodec.adapt_rate_weight`); hashing: soft pairwise
(:func:`soft_pairwise_loss`), bit balance and quantisation (:func:`bit_balance_loss`,
:func:`quantization_loss`), classification (BCE). Training in stages, the hashing stage with the
hashing gradient on the shared encoder projected off the rate-distortion gradient when they conflict
(:func:`project_conflicting`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError
from worldclass.models.registry import register_model

#: Integer latents are clipped to [-CLIP, CLIP] (the coder's alphabet).
CLIP = 255


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)


def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)


def gaussian_bits(y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of each (noisy or integer) latent under a discretised Gaussian: ``-log2(Phi((y+.5-m)/s) -
    Phi((y-.5-m)/s))``; ``mean``, ``scale`` broadcast against ``y`` (B, M, h, w)."""
    normal = torch.distributions.Normal(mean, scale)
    p = normal.cdf(y + 0.5) - normal.cdf(y - 0.5)
    return -torch.log2(p.clamp(min=1e-9))


def soft_pairwise_loss(h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Soft pairwise hashing loss of (B, K) codes in (-1, 1) and (B, L) multi-hot labels: the likelihood
    of the soft similarity ``s_ij`` (cosine of the label vectors, in [0, 1]) under ``sigmoid(theta_ij)``,
    ``theta_ij = <h_i, h_j> / 2``: ``mean(log(1 + e^theta) - s theta)`` over the pairs i != j (0 for a
    batch of one)."""
    if len(h) < 2:
        return h.sum() * 0
    y = F.normalize(labels.float(), dim=1)
    s = y @ y.T
    theta = h @ h.T / 2
    loss = F.softplus(theta) - s * theta
    off = ~torch.eye(len(h), dtype=torch.bool, device=h.device)
    return loss[off].mean()


def bit_balance_loss(h: torch.Tensor) -> torch.Tensor:
    """Mean over bits of (batch mean of the bit)^2: 0 when every bit splits the batch in half."""
    return h.mean(0).pow(2).mean()


def quantization_loss(h: torch.Tensor) -> torch.Tensor:
    """Mean of (|h| - 1)^2: 0 when every output already is a sign."""
    return (h.abs() - 1).pow(2).mean()


def project_conflicting(g_task: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """``g_task`` without its component against ``g_ref`` when the two conflict (negative dot product;
    PCGrad), else unchanged. Flat gradient vectors."""
    dot = torch.dot(g_task, g_ref)
    if dot >= 0:
        return g_task
    return g_task - dot / g_ref.pow(2).sum().clamp(min=1e-20) * g_ref


class HashingCodec(nn.Module):
    """See the module docstring. ``embed(x, sensor, layer)``: ``hash`` (the (B, bits) tanh outputs) or
    ``latent`` (mean-pooled ``y``), for ``worldclass embed``."""

    embedding_layers = ("hash", "latent")

    def __init__(
        self,
        in_chans: int,
        *,
        classes: int = 19,
        latent: int = 48,
        hidden: int = 96,
        hash_bits: int = 64,
        rate_weight: float = 0.01,
    ) -> None:
        super().__init__()
        if hash_bits % 8:
            raise ConfigError(f"model.hash_bits {hash_bits}: use a multiple of 8")
        self.in_chans, self.latent, self.hash_bits = in_chans, latent, hash_bits
        self.g_a = nn.Sequential(
            _conv(in_chans, hidden), nn.GELU(), _conv(hidden, hidden), nn.GELU(), _conv(hidden, latent)
        )
        self.g_s = nn.Sequential(
            _deconv(latent, hidden), nn.GELU(), _deconv(hidden, hidden), nn.GELU(), _deconv(hidden, in_chans)
        )
        self.register_buffer("latent_mean", torch.zeros(latent))
        self.register_buffer("latent_scale", torch.ones(latent))
        self.entropy_momentum = 0.1
        self.hasher = nn.Sequential(
            nn.Linear(latent, 4 * hash_bits), nn.GELU(), nn.Linear(4 * hash_bits, hash_bits)
        )
        self.classifier = nn.Linear(hash_bits, classes)
        self.register_buffer("rate_weight", torch.tensor(float(rate_weight)))

    # --- compression ------------------------------------------------------------------------------------
    def entropy_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, scale) per latent channel, shaped (1, M, 1, 1)."""
        mean: Any = self.latent_mean
        scale: Any = self.latent_scale
        return mean.view(1, -1, 1, 1), scale.clamp(min=0.11).view(1, -1, 1, 1)

    @torch.no_grad()
    def fit_entropy_model(self, y_tilde: torch.Tensor) -> None:
        """Move each channel's Gaussian towards the mean and std of the (noisy) latents (B, M, h, w)."""
        m = self.entropy_momentum
        mean: Any = self.latent_mean
        scale: Any = self.latent_scale
        mean.mul_(1 - m).add_(m * y_tilde.mean((0, 2, 3)))
        var = y_tilde.var((0, 2, 3), unbiased=False)
        scale.copy_(((1 - m) * scale.pow(2) + m * var).sqrt())

    def quantize(self, y: torch.Tensor, noise: bool) -> torch.Tensor:
        if noise:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return y.round().clamp(-CLIP, CLIP)

    def forward(self, x: torch.Tensor, noise: bool = False) -> dict[str, torch.Tensor]:
        """``y`` (latent), ``y_hat`` (quantised), ``x_hat`` (reconstruction), ``bits`` (per latent),
        ``bpp`` (scalar), ``h`` (hash outputs), ``logits`` (classifier)."""
        y = self.g_a(x)
        y_hat = self.quantize(y, noise)
        if noise and self.training:
            self.fit_entropy_model(y_hat)
        mean, scale = self.entropy_params()
        bits = gaussian_bits(y_hat, mean, scale)
        h = self.hash(y)
        return {
            "y": y,
            "y_hat": y_hat,
            "x_hat": self.g_s(y_hat),
            "bits": bits,
            "bpp": bits.sum() / (x.shape[0] * x.shape[2] * x.shape[3]),
            "h": h,
            "logits": self.classifier(h),
        }

    def hash(self, y: torch.Tensor) -> torch.Tensor:
        """(B, M, h, w) latent -> (B, bits) in (-1, 1)."""
        return torch.tanh(self.hasher(y.mean((2, 3))))

    def adapt_rate_weight(self, bpp: float, target: float, step: float = 0.2) -> None:
        """Multiplicative update of the rate weight towards ``target`` bits per pixel (dual ascent in log
        space): up when the rate is above the target, down when below."""
        w: Any = self.rate_weight
        w.mul_(math.exp(step * max(-1.0, min(1.0, (bpp - target) / target)))).clamp_(1e-5, 1e3)

    def decode(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat)  # type: ignore[no-any-return]

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "hash") -> torch.Tensor:
        y = self.g_a(x)
        return self.hash(y) if layer == "hash" else y.mean((2, 3))

    def codes(self, x: torch.Tensor) -> npt.NDArray[np.uint8]:
        """(B, C, H, W) -> (B, bits/8) packed sign codes (MSB first, faiss binary layout)."""
        h = self.embed(x, layer="hash")
        return np.packbits((h > 0).cpu().numpy(), axis=1)


def encode_latents(y_hat: torch.Tensor, model: HashingCodec) -> list[bytes]:
    """Integer latents (B, M, h, w) -> one ANS bitstream per patch under the model's entropy model."""
    import constriction

    shape = tuple(y_hat.shape[1:])
    mean, scale = (t.detach().double().cpu().expand(*shape).contiguous() for t in _params(model))
    coder_model = constriction.stream.model.QuantizedGaussian(-CLIP, CLIP)
    out = []
    for sample in y_hat.detach().cpu().to(torch.int32).numpy():
        enc = constriction.stream.stack.AnsCoder()
        enc.encode_reverse(sample.ravel(), coder_model, mean.numpy().ravel(), scale.numpy().ravel())
        out.append(enc.get_compressed().astype("<u4").tobytes())
    return out


def decode_latents(streams: list[bytes], model: HashingCodec, shape: tuple[int, int, int]) -> torch.Tensor:
    """Bitstreams -> integer latents (B, M, h, w) as float32 (``shape`` = (M, h, w))."""
    import constriction

    mean, scale = (t.detach().double().cpu().expand(*shape).contiguous() for t in _params(model))
    coder_model = constriction.stream.model.QuantizedGaussian(-CLIP, CLIP)
    out = []
    for s in streams:
        dec = constriction.stream.stack.AnsCoder(np.frombuffer(s, "<u4").astype(np.uint32))
        out.append(dec.decode(coder_model, mean.numpy().ravel(), scale.numpy().ravel()).reshape(shape))
    return torch.from_numpy(np.stack(out).astype(np.float32))


def _params(model: HashingCodec) -> tuple[torch.Tensor, torch.Tensor]:
    mean, scale = model.entropy_params()
    return mean[0], scale[0]


@register_model("codec")
def codec(**kwargs: Any) -> HashingCodec:
    """Registry builder of :class:`HashingCodec` (keyword arguments as its constructor)."""
    return HashingCodec(**kwargs)
