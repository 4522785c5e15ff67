"""Joint compression and hashing task (registered as ``codec``)."""

from worldclass.tasks.codec.task import CodecTask

__all__ = ["CodecTask"]
