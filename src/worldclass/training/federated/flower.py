"""Flower engine for the federated algorithms of :mod:`.algorithms`: what the ServerApp
(:mod:`.flower_server`) and the ClientApp (:mod:`.flower_client`) share, and the app folder that
``flwr run`` submits.

A federation on Flower's own processes (one SuperLink for the server, one SuperNode per client)::

    worldclass fl app configs/federated-reben.yaml --out fl-app --run-out runs/fl-flower --nodes 2
    flower-superlink --insecure --disable-runtime-dependency-installation   # server: HTTP APIs on :8000
    flower-supernode --insecure --superlink SERVER:8000 --port 9094 \\
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError, OutputError
from worldclass.io import atomic_open

#: run-config keys of the app (``[tool.flwr.app.config]``)
CONFIG_KEY = "worldclass-config"
#: set by :func:`simulate_flower`: Flower's own log lines below errors are dropped in the ClientApps
QUIET_ENV = "WORLDCLASS_FLOWER_QUIET"


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


def simulate_flower(
    cfg: ExperimentConfig, *, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """``cfg``'s federation on Flower's simulation engine (Ray): worldclass's ServerApp in this process,
    one virtual SuperNode per client of the manifest (``federated.clients``, else partitioned here),
    each ClientApp reading its client's patches only; every CPU of the machine, one per client at a
    time. Same outputs as :func:`~worldclass.training.federated.simulate.simulate`."""
    import logging
    import os

    require_flower()
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError(
            "Flower's simulation engine needs Ray: pip install -c constraints.txt 'flwr[simulation]'; "
            "or run without --engine flower"
        ) from None
    from flwr.simulation import run_simulation

    from worldclass.tasks import config_from_dict
    from worldclass.tasks.federated import FederatedConfig
    from worldclass.training.federated import flower_client, flower_server
    from worldclass.training.federated.partition import read_manifest
    from worldclass.training.federated.simulate import client_manifest

    fc = cfg.section("federated", FederatedConfig)
    if (Path(cfg.trainer.out) / "fl_state.pt").is_file() and not resume:
        raise ConfigError(
            f"{cfg.trainer.out}: holds a federated run; pass --resume to continue it or choose another trainer.out"
        )
    manifest = client_manifest(cfg, fc, log).absolute()
    n = len(read_manifest(manifest)["clients"])
    cfg = config_from_dict(cfg.to_dict(), [f"federated.clients={manifest}"])
    out = Path(cfg.trainer.out)
    flower_server.LOCAL_RUN_CONFIG.clear()
    flower_server.LOCAL_RUN_CONFIG.update(
        {
            CONFIG_KEY: json.dumps(cfg.to_dict()),
            "out": str(out),
            "nodes": n,
            "wait-seconds": 60.0,
            "resume": resume,
        }
    )
    cpus = os.cpu_count() or 1
    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": cpus, "logging_level": "ERROR", "log_to_driver": True},
    }
    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    flwr_log.setLevel(logging.ERROR)  # Flower's banners and deprecation notes off the console
    os.environ[QUIET_ENV] = "1"  # ClientApps in Ray's workers quiet Flower's logger too
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # no GPU-visibility notice
    try:
        run_simulation(flower_server.app, flower_client.app, num_supernodes=n, backend_config=backend)  # type: ignore[arg-type]
    finally:
        flwr_log.setLevel(level)
    state = out / "fl_state.pt"
    if not state.is_file():
        raise ConfigError(f"{out}: the Flower simulation ended without a round; see the lines above")
    import torch

    saved = torch.load(state, map_location="cpu", weights_only=True)
    return {
        "rounds": saved["history"],
        "best_checkpoint": out / "checkpoints" / "best.ckpt",
        "best_round": int(saved["best"][1]),
        "manifest": manifest,
    }
