"""Every Python snippet of the README runs: its imports and calls are executed on small real data (the
session's synthetic reBEN store stands in for ``/data/reben.store``; training is cut to one batch)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(
    index: int, v2_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = SNIPPETS[index].replace("/data/reben.store", str(v2_store))
    code = code.replace('"configs/', f'"{ROOT}/configs/')
    # CPU-sized training: same call, smaller model and one batch
    code = code.replace(
        '"optim.max_epochs=1"',
        '"optim.max_epochs=1", "model.backbone=resnet10t", "data.batch_size=8", "data.num_workers=0", '
        '"optim.limit_train_batches=1", "optim.limit_val_batches=1", "trainer.progress=false"',
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, f"README.md python snippet {index}", "exec"), namespace)
