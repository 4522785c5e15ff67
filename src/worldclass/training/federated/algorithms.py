"""Federated algorithms as pairs of a client hook and a server aggregation (pure PyTorch; the simulator
and the Flower app both call them).

A round: the server sends the global weights (+ :meth:`Algorithm.server_payload`); each client loads them
(keeping its :meth:`Algorithm.local_keys`), calls :meth:`begin`, trains ``steps`` local SGD steps adding
:meth:`loss_term` to its task loss and calling :meth:`before_step` after each backward pass, then
:meth:`end` returns the algorithm's extra upload; the server folds the uploads with :meth:`aggregate`.

- **FedAvg** (McMahan et al. 2017): example-weighted mean of the client weights.
- **FedProx** (Li et al. 2020): local loss + ``mu / 2 * ||w - w_global||^2``.
- **SCAFFOLD** (Karimireddy et al. 2020, option II): local gradients corrected by ``c - c_i``; after
  ``K`` steps of rate ``lr`` the client sets ``c_i+ = c_i - c + (x - y_i) / (K lr)`` and sends
  ``y_i`` and ``c_i+ - c_i``; the server averages the weights and adds ``|S| / N`` x the mean control
  change to ``c`` (controls travel both ways: about twice FedAvg's traffic).
- **MOON** (Li, He, Song 2021): ``mu`` x the model-contrastive loss on pooled features: the global
  model's features of the same batch are the positive, the client's previous local model's the negative,
  temperature ``tau``.
- **FedBN** (Li et al. 2021): BatchNorm weights and statistics never leave a client; the rest is
  FedAvg. The server's global evaluation uses the clients' example-weighted mean BN layers (an evaluation
  convenience of the simulator, not traffic: a deployment evaluates each client's own model).
- **FedNova** (Wang et al. 2020): client updates normalised by their effective step count
  ``a_i = (K - rho (1 - rho^K) / (1 - rho)) / (1 - rho)`` (``K`` for plain SGD; ``rho`` = momentum), the
  aggregate rescaled by ``tau_eff = sum_i p_i a_i``: clients that ran more steps no longer dominate.

States are ``state_dict`` s (name -> tensor). Parameters are the trainable tensors; other float buffers
(BN running statistics) are averaged by examples under every algorithm; integer buffers take the max.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError

State = dict[str, torch.Tensor]


@dataclass
class Upload:
    """What one client sends back: ``state`` (its weights, local keys left out), ``num_examples`` (its
    training patches), ``steps`` (local optimizer steps), ``extras`` (algorithm payload), ``loss`` (mean
    local training loss)."""

    state: State
    num_examples: int
    steps: int
    extras: State = field(default_factory=dict)
    loss: float = float("nan")


def weighted_mean(states: list[State], weights: Sequence[float], keys: list[str] | None = None) -> State:
    """Per-key weighted mean of float tensors (weights normalised); integer tensors: the max."""
    total = float(sum(weights))
    if not states or total <= 0:
        raise ValueError("weighted_mean needs at least one state with a positive weight")
    out: State = {}
    for k in keys if keys is not None else list(states[0]):
        ts = [s[k] for s in states]
        if ts[0].is_floating_point():
            out[k] = sum((w / total) * t.double() for w, t in zip(weights, ts, strict=True)).to(ts[0].dtype)  # type: ignore[union-attr]
        else:
            out[k] = torch.stack(ts).max(0).values
    return out


def batchnorm_keys(model: nn.Module) -> set[str]:
    """State keys of every BatchNorm layer of ``model`` (weights, biases, running statistics)."""
    out = set()
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            out |= {f"{name}.{k}" if name else k for k in m.state_dict()}
    return out


class Algorithm:
    """FedAvg; subclasses override the hooks they need. ``setup`` is called once with the model and the
    number of clients of the federation."""

    name: ClassVar[str] = "fedavg"

    def setup(self, model: nn.Module, num_clients: int) -> None:
        self.param_keys = [k for k, p in model.named_parameters() if p.requires_grad]
        self.num_clients = num_clients

    def server_state(self) -> State:
        """What the server keeps between rounds besides the global weights (saved for resume)."""
        return {}

    def load_server_state(self, state: State) -> None:
        """Restore :meth:`server_state` of a stopped run."""

    def local_keys(self) -> set[str]:
        """State keys that stay on the client (neither sent up nor overwritten by the global weights)."""
        return set()

    def server_payload(self) -> State:
        """Extra tensors the server sends down with the weights."""
        return {}

    def begin(self, model: nn.Module, client: dict[str, Any], payload: State) -> None:
        """Before local training; ``model`` holds the global weights (and the client's local keys);
        ``client``: this client's persistent state."""

    def forward(
        self, model: nn.Module, x: torch.Tensor, client: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features and logits of a local batch; a client without one of the modalities (its
        ``modality``: s2 | s1) runs only its encoder and sees the other's features as zeros."""
        modality = client.get("modality", "both")
        if modality != "both":
            from worldclass.training.federated.multimodal import late_forward

            _, _, feats, logits = late_forward(model, x, modality)
            return feats, logits
        out: tuple[torch.Tensor, torch.Tensor] = model.features_logits(x)  # type: ignore[operator]
        return out

    def upload_keys(self, keys: list[str], client: dict[str, Any]) -> list[str]:
        """State keys this client exchanges with the server (sent down and up)."""
        local = self.local_keys()
        return [k for k in keys if k not in local]

    def loss_term(
        self, model: nn.Module, x: torch.Tensor, features: torch.Tensor, client: dict[str, Any]
    ) -> torch.Tensor | None:
        """Extra local loss on batch ``x`` whose pooled ``features`` the model just computed."""
        return None

    def before_step(self, model: nn.Module, client: dict[str, Any]) -> None:
        """After backward, before the optimizer step."""

    def end(
        self, model: nn.Module, client: dict[str, Any], global_state: State, steps: int, lr: float
    ) -> State:
        """After local training: the algorithm's extra upload."""
        return {}

    def aggregate(self, global_state: State, uploads: list[Upload]) -> State:
        """New global weights from the uploads (keys the clients sent; the others stay)."""
        sent = [k for k in global_state if k in uploads[0].state]
        new = weighted_mean([u.state for u in uploads], [u.num_examples for u in uploads], sent)
        return {**global_state, **new}

    def evaluation_state(self, global_state: State, clients: list[tuple[dict[str, Any], int]]) -> State:
        """The weights the server evaluates, from the global ones and ``clients`` (each client's
        persistent state and patches; empty: none known); the global ones unless the algorithm keeps
        parts on the clients."""
        return global_state


class FedAvg(Algorithm):
    name = "fedavg"


class FedProx(Algorithm):
    name = "fedprox"

    def __init__(self, mu: float = 0.01) -> None:
        self.mu = mu

    def begin(self, model: nn.Module, client: dict[str, Any], payload: State) -> None:
        self._anchor = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}

    def loss_term(
        self, model: nn.Module, x: torch.Tensor, features: torch.Tensor, client: dict[str, Any]
    ) -> torch.Tensor | None:
        terms = [((p - self._anchor[k]) ** 2).sum() for k, p in model.named_parameters() if k in self._anchor]
        return 0.5 * self.mu * torch.stack(terms).sum()


class Scaffold(Algorithm):
    name = "scaffold"

    def setup(self, model: nn.Module, num_clients: int) -> None:
        super().setup(model, num_clients)
        params = dict(model.named_parameters())
        self.c: State = {k: torch.zeros_like(params[k].detach()) for k in self.param_keys}

    def server_payload(self) -> State:
        return {f"c/{k}": v for k, v in self.c.items()}

    def server_state(self) -> State:
        return dict(self.c)

    def load_server_state(self, state: State) -> None:
        self.c = dict(state)

    def begin(self, model: nn.Module, client: dict[str, Any], payload: State) -> None:
        self._c = {k[2:]: v for k, v in payload.items() if k.startswith("c/")}
        client.setdefault("c_i", {k: torch.zeros_like(v) for k, v in self._c.items()})

    def before_step(self, model: nn.Module, client: dict[str, Any]) -> None:
        for k, p in model.named_parameters():
            if p.grad is not None and k in self._c:
                p.grad.add_(self._c[k] - client["c_i"][k])

    def end(
        self, model: nn.Module, client: dict[str, Any], global_state: State, steps: int, lr: float
    ) -> State:
        if steps == 0:
            return {f"dc/{k}": torch.zeros_like(v) for k, v in self._c.items()}
        y = dict(model.named_parameters())
        new = {
            k: client["c_i"][k] - self._c[k] + (global_state[k] - y[k].detach()) / (steps * lr)
            for k in self._c
        }
        delta = {f"dc/{k}": new[k] - client["c_i"][k] for k in self._c}
        client["c_i"] = new
        return delta

    def aggregate(self, global_state: State, uploads: list[Upload]) -> State:
        out = super().aggregate(global_state, uploads)
        share = len(uploads) / self.num_clients
        for k in self.c:
            self.c[k] = self.c[k] + share * torch.stack([u.extras[f"dc/{k}"] for u in uploads]).mean(0)
        return out


class Moon(Algorithm):
    name = "moon"

    def __init__(self, mu: float = 1.0, tau: float = 0.5) -> None:
        self.mu, self.tau = mu, tau

    def begin(self, model: nn.Module, client: dict[str, Any], payload: State) -> None:
        self._global = copy.deepcopy(model).eval()
        self._previous = copy.deepcopy(model).eval()
        if "previous" in client:
            self._previous.load_state_dict(client["previous"])
        for m in (self._global, self._previous):
            m.requires_grad_(False)

    def loss_term(
        self, model: nn.Module, x: torch.Tensor, features: torch.Tensor, client: dict[str, Any]
    ) -> torch.Tensor | None:
        with torch.no_grad():
            zg = self._global.features(x)  # type: ignore[operator]
            zp = self._previous.features(x)  # type: ignore[operator]
        return self.mu * moon_loss(features, zg, zp, self.tau)

    def end(
        self, model: nn.Module, client: dict[str, Any], global_state: State, steps: int, lr: float
    ) -> State:
        client["previous"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {}


def moon_loss(z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, tau: float) -> torch.Tensor:
    """Model-contrastive loss: ``-log(e^{s(z,z+)/tau} / (e^{s(z,z+)/tau} + e^{s(z,z-)/tau}))``, cosine
    similarity ``s``, mean over the batch."""
    pos = F.cosine_similarity(z, positive, dim=1) / tau
    neg = F.cosine_similarity(z, negative, dim=1) / tau
    logits = torch.stack([pos, neg], 1)
    return F.cross_entropy(logits, torch.zeros(len(z), dtype=torch.long, device=z.device))


class FedBN(Algorithm):
    name = "fedbn"

    def setup(self, model: nn.Module, num_clients: int) -> None:
        super().setup(model, num_clients)
        self._bn = batchnorm_keys(model)

    def local_keys(self) -> set[str]:
        return self._bn

    def evaluation_state(self, global_state: State, clients: list[tuple[dict[str, Any], int]]) -> State:
        held = [(c["local"], n) for c, n in clients if "local" in c]
        if not held:
            return global_state
        keys = sorted(self._bn)
        bn = weighted_mean([s for s, _ in held], [n for _, n in held], keys)
        return {**global_state, **bn}


class FedNova(Algorithm):
    name = "fednova"

    def __init__(self, momentum: float = 0.0) -> None:
        self.rho = momentum

    def end(
        self, model: nn.Module, client: dict[str, Any], global_state: State, steps: int, lr: float
    ) -> State:
        return {"a": torch.tensor(effective_steps(steps, self.rho), dtype=torch.float64)}

    def aggregate(self, global_state: State, uploads: list[Upload]) -> State:
        params = set(self.param_keys)
        buffers = [k for k in global_state if k in uploads[0].state and k not in params]
        counts = [u.num_examples for u in uploads]
        out = {**global_state, **weighted_mean([u.state for u in uploads], counts, buffers)}
        n = torch.tensor([float(c) for c in counts], dtype=torch.float64)
        p = n / n.sum()
        a = torch.stack([u.extras["a"].double().clamp_min(1e-12) for u in uploads])
        tau_eff = float((p * a).sum())
        for k in self.param_keys:
            x = global_state[k].double()
            d = sum(pi * (x - u.state[k].double()) / ai for pi, ai, u in zip(p, a, uploads, strict=True))
            out[k] = (x - tau_eff * d).to(global_state[k].dtype)
        return out


def effective_steps(steps: int, momentum: float) -> float:
    """FedNova's ``a_i``: ``K`` for plain SGD; ``(K - rho (1 - rho^K) / (1 - rho)) / (1 - rho)`` with
    momentum ``rho``."""
    if momentum == 0:
        return float(steps)
    r = momentum
    return (steps - r * (1 - r**steps) / (1 - r)) / (1 - r)


ALGORITHMS: dict[str, type[Algorithm]] = {
    a.name: a for a in (FedAvg, FedProx, Scaffold, Moon, FedBN, FedNova)
}


def make_algorithm(
    name: str, *, mu: float = 0.01, tau: float = 0.5, momentum: float = 0.0, whiten: bool = False
) -> Algorithm:
    """An algorithm by name (``fedavg``, ``fedprox``, ``scaffold``, ``moon``, ``fedbn``, ``fednova``,
    ``mmfl``: :mod:`.multimodal`);
    ``mu``: FedProx's proximal / MOON's contrastive weight; ``tau``: MOON's temperature; ``momentum``: the
    local SGD momentum (FedNova's normalisation needs it); ``whiten``: mmfl's feature whitening."""
    if name == "fedprox":
        return FedProx(mu)
    if name == "moon":
        return Moon(mu, tau)
    if name == "fednova":
        return FedNova(momentum)
    if name == "mmfl":
        from worldclass.training.federated.multimodal import MultiModal

        return MultiModal(mu, tau, whiten=whiten)
    if name not in ALGORITHMS:
        raise ConfigError(
            f"unknown federated algorithm {name!r}; choose one of {', '.join([*ALGORITHMS, 'mmfl'])}"
        )
    return ALGORITHMS[name]()


def algorithm_for(fc: Any) -> Algorithm:
    """The algorithm of a ``federated`` config section (:class:`~worldclass.tasks.federated.FederatedConfig`)."""
    return make_algorithm(fc.algorithm, mu=fc.mu, tau=fc.tau, momentum=fc.momentum, whiten=fc.whiten)
