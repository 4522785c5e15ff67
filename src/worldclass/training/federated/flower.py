"""Flower engine for the federated algorithms of :mod:`.algorithms`: what the ServerApp
(:mod:`.flower_server`) and the ClientApp (:mod:`.flower_client`) share, and the app folder that
``flwr run`` submits.

A federation on Flower's own processes (one SuperLink for the server, one SuperNode per client)::

    worldclass fl app configs/federated-reben.yaml --out fl-app --run-out runs/fl-flower --nodes 2
    flower-superlink --insecure --disable-runtime-dependency-installation   # server machine
    flower-supernode --insecure --superlink SERVER:9092 --port 9094 \\
        --node-config 'data="/data/at.store" name="AT"'              # on each client, its own archive
    flwr run fl-app local --stream                                   # [superlink.local] in $FLWR_HOME/config.toml

Node config of a SuperNode (the only place a client's data is named): ``data`` (its archive or store),
optional ``splits`` (a ``patch_id,split`` file; else the archive's own train/validation splits),
``name`` (shown in the server's tables; default ``node<ID>``), ``modality`` (``s2`` | ``s1`` | ``both``
for ``mmfl``). The server never receives a path or a pixel: it gets each client's model description,
label counts and, per round, the weights (and the algorithm's extra tensors) it trained.

Messages (one :class:`~flwr.app.RecordDict` each): ``query`` (config -> the client's ``info``), ``train``
(``arrays`` = global weights, ``payload`` = the algorithm's server tensors, ``config`` -> ``arrays``,
``extras``, ``metrics``) and ``evaluate`` (``arrays`` -> ``metrics`` on the client's validation patches).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError, OutputError
from worldclass.io import atomic_open

#: run-config keys of the app (``[tool.flwr.app.config]``)
CONFIG_KEY = "worldclass-config"


def records_json(value: Any) -> Any:
    """``value`` as a ConfigRecord that carries one JSON string (Flower records hold flat scalars)."""
    from flwr.app import ConfigRecord

    return ConfigRecord({"json": json.dumps(value)})


def from_record(record: Any) -> Any:
    """The value :func:`records_json` packed."""
    return json.loads(str(record["json"]))


def arrays(msg: Any, key: str = "arrays") -> dict[str, Any]:
    """The tensors (a ``state_dict``) of ArrayRecord ``key`` of a message."""
    return dict(msg.content.array_records[key].to_torch_state_dict())


def metrics(msg: Any) -> dict[str, float]:
    """The scalars of a message's ``metrics`` MetricRecord, as floats."""
    return {k: float(v) for k, v in msg.content.metric_records["metrics"].items()}


def require_flower() -> None:
    """Raise a one-line :class:`ConfigError` when Flower is not installed."""
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise ConfigError(
            "Flower is not installed; install the extra: pip install -c constraints.txt 'worldclass[fl]'"
        ) from None


def write_app(
    out: Path,
    cfg: ExperimentConfig,
    *,
    run_out: Path,
    nodes: int,
    wait_seconds: float = 300.0,
    resume: bool = False,
) -> Path:
    """Write a Flower app folder (``pyproject.toml`` naming worldclass's ServerApp and ClientApp, the
    experiment config embedded as run config) that ``flwr run OUT <superlink>`` submits. ``run_out``:
    where the ServerApp writes rounds, checkpoints and its resumable state (on the server's machine);
    ``nodes``: how many SuperNodes the server waits for (at most ``wait_seconds``) before round 1."""
    from worldclass import __version__

    require_flower()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot create the app folder ({exc.strerror}); choose another --out"
        ) from None
    body = f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "worldclass-federation"
version = "{__version__}"
license = "Apache-2.0"
description = "worldclass federated {cfg.task} ({cfg.to_dict().get("federated", {}).get("algorithm")})"
dependencies = []  # worldclass[train,fl] is installed where the SuperLink and SuperNodes run

[tool.flwr.app]
publisher = "worldclass"

[tool.flwr.app.components]
serverapp = "worldclass.training.federated.flower_server:app"
clientapp = "worldclass.training.federated.flower_client:app"

[tool.flwr.app.config]
{CONFIG_KEY} = {json.dumps(json.dumps(cfg.to_dict()))}
out = {json.dumps(str(Path(run_out).absolute()))}
nodes = {int(nodes)}
wait-seconds = {float(wait_seconds)}
resume = {"true" if resume else "false"}
"""
    path = out / "pyproject.toml"
    with atomic_open(path, "w") as f:
        f.write(body)
    return path
