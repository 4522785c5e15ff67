"""Active learning: choose what to annotate next (patches with labels, or image pairs), with a simulated
oracle or a person in the loop (`worldclass al ...`)."""

from worldclass.training.active.loop import init_run, load_pool, run_loop, step
from worldclass.training.active.run import ActiveSettings, Run
from worldclass.training.active.strategies import STRATEGIES, select

__all__ = ["STRATEGIES", "ActiveSettings", "Run", "init_run", "load_pool", "run_loop", "select", "step"]
