"""The optimizer recipe's options as a person writes them (site.toml's `[recipe]` table), with
their valid values: `RANGES`, and `check_option` / `check_options`, which turn a bad value into a
one-line `FeatvisError` naming where it stood and the valid range. `generator.optvis.recipe`
builds its `Recipe` from the same table, so the config and the optimizer share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.core.errors import FeatvisError, choices_hint

OPTIMIZERS = ("adam", "nadam")
OPTIMIZER_NAMES = {"adam": "Adam", "nadam": "NAdam"}  # as the pages write them
DEFAULT_OPTIMIZER = "nadam"  # the default recipe's (`generator.optvis.recipe.Recipe`)
SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class Range:
    """Valid values of one recipe option: numbers in [low, high], one of `choices`, or (kind
    `bool`) true or false."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        name = "an integer" if self.kind is int else "a number"
        return f"{name} from {self.low:g} to {self.high:g}"

    def accepts(self, value: Any) -> bool:
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        assert self.low is not None and self.high is not None
        return math.isfinite(value) and self.low <= value <= self.high


# The options a site.toml may set, with their valid values.
RANGES: dict[str, Range] = {
    "steps": Range(int, 1, 4096),
    "lr": Range(float, 1e-4, 1.0),
    "schedule": Range(str, choices=SCHEDULES),
    "optimizer": Range(str, choices=OPTIMIZERS),
    "warmup": Range(float, 0.0, 0.5),
    "final_lr": Range(float, 0.0, 1.0),
    "coarse": Range(float, 0.0, 0.9),
    "coarse_scale": Range(float, 0.25, 1.0),
    "patience": Range(int, 0, 4096),
    "min_gain": Range(float, 0.0, 1.0),
    # the Fourier image's spectrum falls as 1/f^decay (`optvis.param.ParamSpec.decay`)
    "decay": Range(float, 0.5, 3.0),
    # false: lucid's 1/f^decay instead of the anchored spectrum (`ParamSpec.anchored`)
    "anchored": Range(bool),
}


def check_option(key: str, value: Any, where: str = "recipe") -> Any:
    """`value` if it is valid for `key`, else a one-line FeatvisError with the valid range."""
    valid = RANGES.get(key)
    if valid is None:
        raise FeatvisError(
            f"{where}: unknown recipe option '{key}' ({choices_hint(key, list(RANGES))})"
        )
    if not valid.accepts(value):
        raise FeatvisError(f"{where}: '{key}' must be {valid.describe()}, not {value!r}")
    return float(value) if valid.kind is float else value


def check_options(options: Mapping[str, Any], where: str = "recipe") -> dict[str, Any]:
    """Every option of `options` checked (see `check_option`), in order."""
    return {key: check_option(key, value, where) for key, value in options.items()}
