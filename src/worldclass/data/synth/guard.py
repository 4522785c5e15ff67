"""One synthetic archive per folder: a generator claims its output folder with a small marker file
(``.worldclass-synth.json``: generator and parameters). Writing into a folder that is not empty is
refused unless the marker names the very same archive (an interrupted run being completed: generation
is deterministic, so the rewritten files are identical), so two archives are never mixed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldclass.errors import ConfigError
from worldclass.io import write_json_atomic

MARKER = ".worldclass-synth.json"


def claim(root: Path, params: dict[str, Any]) -> None:
    """Create ``root`` (if needed) for the archive described by ``params``, or refuse a foreign folder."""
    marker = root / MARKER
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: is a file; give a folder for the synthetic archive")
    if root.is_dir() and any(root.iterdir()):
        try:
            previous = json.loads(marker.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != params:
            what = f"a synthetic archive made with {previous}" if previous else "other files"
            raise ConfigError(
                f"{root}: already holds {what}; writing {params} there would mix two archives: choose an "
                "empty or new folder"
            )
        return
    write_json_atomic(marker, params)
