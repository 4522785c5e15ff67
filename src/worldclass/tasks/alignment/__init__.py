"""Image-to-map alignment (``task: alignment``)."""

from worldclass.tasks.alignment import task  # noqa: F401  (registers the task)
