"""The demo behind ``make demo`` / ``worldclass demo``: embedded data -> stores -> statistics ->
classifier, segmenter, maps, polygons, cross-sensor retrieval -> one HTML report.

Imports: everything; nothing imports it.
"""

from worldclass.demo.pipeline import run_demo

__all__ = ["run_demo"]
