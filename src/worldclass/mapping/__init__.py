"""Inference products of segmentation models: whole scenes of any size -> COG class maps
(:func:`map_scenes`, :func:`load_predictor`), polygons for GIS (:func:`polygonize`) and the Inria
submission writer. Needs no Lightning.

Heavy modules load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worldclass.registry import lazy_attributes

if TYPE_CHECKING:
    from worldclass.mapping.polygonize import polygonize
    from worldclass.mapping.predictor import Predictor, load_predictor
    from worldclass.mapping.whole_scene import map_scenes

__all__ = ["Predictor", "load_predictor", "map_scenes", "polygonize"]

_WHERE = {
    "map_scenes": "worldclass.mapping.whole_scene",
    "Predictor": "worldclass.mapping.predictor",
    "load_predictor": "worldclass.mapping.predictor",
    "polygonize": "worldclass.mapping.polygonize",
}

__getattr__ = lazy_attributes(_WHERE)
