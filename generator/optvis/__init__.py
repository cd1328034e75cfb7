"""The science of feature visualization, with no knowledge of pages.

`param` makes images from parameters, `transforms` makes them robust, `objectives` says what to
maximize, `recipe` says how the steps are spent, `steps` runs them (eager or graph-captured) and
`render` runs the batched optimizer. Device and seeds are always explicit arguments.
"""

from generator.optvis.objectives import Objective
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import Recipe
from generator.optvis.render import RenderResult, RenderSettings, render
from generator.optvis.transforms import TransformSpec

__all__ = [
    "Objective", "ParamSpec", "Recipe", "RenderResult", "RenderSettings", "TransformSpec", "render",
]
