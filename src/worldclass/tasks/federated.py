"""The ``federated`` config section: how ``worldclass fl simulate`` (:mod:`worldclass.training.federated`)
runs a task's model over clients that keep their data. Declared by the tasks a federation can train
(classification)."""

from __future__ import annotations

from dataclasses import dataclass

from worldclass.config import choice, setting

FL_ALGORITHMS = ("fedavg", "fedprox", "scaffold", "moon", "fedbn", "fednova", "mmfl")
FL_SCHEMES = ("country", "country-season", "iid", "dirichlet")


@dataclass
class FederatedConfig:
    """``clients``: a manifest of `worldclass fl partition` (else the train split is partitioned by
    ``scheme`` into ``num_clients`` / Dirichlet ``alpha`` and the manifest written to the run folder);
    ``algorithm`` with ``mu`` (FedProx proximal / MOON contrastive weight) and ``tau`` (MOON temperature);
    ``rounds``; each sampled client runs ``local_epochs`` passes (at most ``local_steps`` batches) of SGD
    with ``lr`` and ``momentum``; ``fraction`` of the clients is sampled per round, a round needs
    ``min_clients`` answers; ``drop_rate``: simulated chance that a client does not answer a round;
    ``whiten``: mmfl's feature whitening; ``timeout``: how long a Flower round waits for answers; ``modalities``: which clients hold S2 only, S1 only or both (``mmfl`` trains per modality part; other
    algorithms see a missing modality as zero pixels)."""

    clients: str | None = setting(
        None, "Client manifest (clients.json of `worldclass fl partition`)", path=True
    )
    scheme: str = choice("country", FL_SCHEMES, "Without a manifest: how the train split is partitioned")
    num_clients: int = setting(5, "iid / dirichlet: number of clients")
    alpha: float = setting(0.5, "dirichlet: concentration (small: strong label skew)")
    algorithm: str = choice("fedavg", FL_ALGORITHMS, "Federated algorithm")
    rounds: int = setting(10, "Communication rounds")
    local_epochs: int = setting(1, "Local passes over a client's patches per round")
    local_steps: int | None = setting(None, "Most local batches per round (null: all of the epochs)")
    lr: float = setting(0.01, "Local SGD learning rate")
    momentum: float = setting(0.9, "Local SGD momentum")
    mu: float = setting(0.01, "FedProx proximal weight; MOON contrastive weight")
    tau: float = setting(0.5, "MOON temperature")
    fraction: float = setting(1.0, "Share of the clients sampled per round")
    min_clients: int = setting(2, "Fewest answers for a round to update the global model")
    drop_rate: float = setting(0.0, "Simulation: chance that a sampled client does not answer")
    val_share: float = setting(0.1, "Share of each client's patches kept for its local validation")
    whiten: bool = setting(
        False, "mmfl: whiten each modality's features with the client's own running statistics"
    )
    timeout: float = setting(600.0, "Flower: seconds a round waits for the clients' answers")
    modalities: str | None = setting(
        None, "Clients' modalities: CLIENT=s2|s1|both,... or cycle (needs sensors [s2, s1], fusion late)"
    )

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty: nothing)."""
        out = []
        if self.rounds < 1 or self.local_epochs < 1:
            out.append("rounds and local_epochs must be >= 1")
        if not 0 < self.fraction <= 1:
            out.append(f"fraction {self.fraction} must be in (0, 1]")
        if not 0 <= self.drop_rate < 1:
            out.append(f"drop_rate {self.drop_rate} must be in [0, 1)")
        if self.lr <= 0 or not 0 <= self.momentum < 1:
            out.append("lr must be > 0 and momentum in [0, 1)")
        if self.timeout <= 0:
            out.append(f"timeout {self.timeout} must be > 0 seconds")
        if self.min_clients < 1:
            out.append("min_clients must be >= 1")
        return out
