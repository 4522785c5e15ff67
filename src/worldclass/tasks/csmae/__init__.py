"""Cross-sensor masked autoencoder task (registered as ``csmae``, alias ``ssl``)."""

from worldclass.tasks.csmae.task import CSMAETask

__all__ = ["CSMAETask"]
