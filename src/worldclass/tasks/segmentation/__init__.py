"""Semantic segmentation task (registered as ``segmentation``)."""

from worldclass.tasks.segmentation.task import SegmentationTask

__all__ = ["SegmentationTask"]
