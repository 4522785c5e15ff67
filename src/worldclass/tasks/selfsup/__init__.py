"""Self-supervised pretraining tasks on N-channel S1 + S2 input: ``sscl``, ``simsiam``, ``moco``."""

from worldclass.tasks.selfsup.task import MoCoTask, SimSiamTask, SSCLTask

__all__ = ["MoCoTask", "SSCLTask", "SimSiamTask"]
