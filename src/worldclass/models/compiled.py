"""``torch.compile`` of a model in place (parameter names unchanged, so checkpoints stay loadable)."""

from __future__ import annotations

import os

from torch import nn

MODES = ("default", "reduce-overhead", "max-autotune")


def compile_in_place(net: nn.Module, mode: str = "default") -> None:
    """Compile ``net``'s forward with ``mode`` (one of :data:`MODES`). ``WORLDCLASS_COMPILE_BACKEND``
    (default inductor) picks another backend, e.g. ``aot_eager`` to check graph capture where no C++
    compiler is installed (modes then do not apply)."""
    backend = os.environ.get("WORLDCLASS_COMPILE_BACKEND", "inductor")
    net.compile(mode=None if mode == "default" or backend != "inductor" else mode, backend=backend)
