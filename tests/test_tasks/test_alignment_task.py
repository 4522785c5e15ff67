"""Alignment task configuration errors are one line (learning: the contract tests' LEARNING entry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worldclass.datasets import get_dataset
from worldclass.errors import ConfigError
from worldclass.tasks import load_config


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return get_dataset("scenes").make_fake(tmp_path_factory.mktemp("alignscenes"), seed=5)


def test_alignment_config_errors(scenes: list[str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.map_classes"):
        from worldclass.tasks import get_task

        cfg = load_config(
            None, ["task=alignment", *scenes, "model.map_classes=[roof]", f"trainer.out={tmp_path}"]
        )
        get_task("alignment").setup(cfg)
    with pytest.raises(ConfigError, match="misalign"):
        load_config(None, ["task=alignment", *scenes, "misalign.scale=0"])
