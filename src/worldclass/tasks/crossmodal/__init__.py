"""Self-supervised cross-modal retrieval task (registered as ``sscm``)."""

from worldclass.tasks.crossmodal.task import CrossModalTask

__all__ = ["CrossModalTask"]
