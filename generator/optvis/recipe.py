"""The optimizer recipe: which optimizer, how the learning rate moves, coarse-to-fine, early stop.

A `Recipe` is a frozen spec that travels inside `RenderSettings` (and a job's key). With the
step count and the peak learning rate it decides, for every step, the learning rate
(`lr_at`), the model-input size and the low-pass cutoff of the Fourier image (`phase_at`), and
whether an image has plateaued (`plateaued`). `Recipe()` is the default the recipe study
(`benchmarks/bench_recipe.py`, `benchmarks/bench_legibility.py`) chose; `Recipe.legacy()` the
recipe before it: Adam at a constant rate.

`RANGES` (in `generator.config.recipe`, re-exported here) is the table of valid values for the
options site.toml's `[recipe]` table may set (steps, lr, schedule, ...); a `Recipe` checks its
fields against it, so the config and the optimizer share one table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from generator.config.recipe import (
    DEFAULT_OPTIMIZER,
    OPTIMIZERS,
    RANGES,
    SCHEDULES,
    Range,
    check_option,
    check_options,
)
from generator.optvis.objectives import Objective

# The default recipe: NAdam, a 5 % warm-up to a peak rate of 0.30, cosine decay to 10 % of it,
# 128 steps, with the anchored Fourier spectrum at decay 1.4 (`ParamSpec`): pictures without
# clipped colour at the objective of the recipe before it (benchmarks/results/legibility*.md).
# The recipe before the study (`benchmarks/bench_recipe.py`), Adam at a constant 0.025 for 256
# steps with lucid's spectrum at decay 1.5, is `Recipe.legacy()` and `LEGACY_*`.
DEFAULT_STEPS = 128
DEFAULT_LR = 0.30
LEGACY_STEPS = 256
LEGACY_LR = 0.025
LEGACY_DECAY = 1.5  # the Fourier spectrum's (`ParamSpec.decay`) in the recipe before
# Class pictures (`class_picture`): twice the steps of the channels' recipe; at its step count
# they are a pale, blurred haze. Where the network sees the picture at its own input size or
# larger, the first half of the steps is coarse (the network sees it at half that size, low
# frequencies only): coarse-to-fine lays out one large object before its detail, and a coarse
# step costs a quarter of a full one. Smaller pictures stay fine from the start: at half of
# them the network barely recognizes a class. Chosen by the contact sheets beside lucent's and
# the two-alternative task of `benchmarks/bench_legibility_classes.py`
# (benchmarks/results/legibility-classes*.md).
CLASS_STEPS = 2  # times the channels' steps (the preset's, site.toml's or --steps)
CLASS_COARSE = 0.5  # the share of a class picture's steps at `Recipe.coarse_scale`
CLASS_COARSE_FLOOR = 0.5  # the coarse phase's input, at least this share of the network's own

__all__ = [
    "CLASS_COARSE", "CLASS_COARSE_FLOOR", "CLASS_STEPS", "DEFAULT_LR", "DEFAULT_STEPS",
    "LEGACY_DECAY", "LEGACY_LR", "LEGACY_STEPS", "OPTIMIZERS", "RANGES", "SCHEDULES", "Phase",
    "Range", "Recipe", "check_option", "check_options", "class_picture", "job_options",
    "make_optimizer",
]


@dataclass(frozen=True)
class Phase:
    """What one step does besides the update: the model's input size and the Fourier cutoff."""

    input_scale: float = 1.0
    lowpass: float | None = None  # cycles/pixel above which the Fourier image is held at zero


@dataclass(frozen=True)
class Recipe:
    """How `steps` steps at peak rate `lr` are spent (see the module docstring).

    - `optimizer`: Adam or NAdam.
    - `schedule`: `constant`; `cosine` from the peak down to `final_lr` x peak; `step`: the peak
      until two thirds of the steps, then `final_lr` x peak. `warmup`: the first fraction of the
      steps ramps linearly up to the peak.
    - `coarse`: the first fraction of the steps shows the model the image at `coarse_scale` of
      its input size, with the Fourier image's frequencies above that size's Nyquist limit held
      at zero (low frequencies first, then the whole image).
    - `patience`: when > 0, an image (a whole group) stops once the mean objective of its last
      `patience` steps gained less than `min_gain` (relative) over the `patience` steps before;
      its parameters are frozen from then on and a batch whose images have all stopped ends.
    """

    optimizer: Literal["adam", "nadam"] = DEFAULT_OPTIMIZER  # type: ignore[assignment]
    schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup: float = 0.05
    final_lr: float = 0.1
    coarse: float = 0.0
    coarse_scale: float = 0.5
    patience: int = 0
    min_gain: float = 0.005

    def __post_init__(self) -> None:
        for key in RANGES:
            if hasattr(self, key):
                check_option(key, getattr(self, key))

    @classmethod
    def legacy(cls) -> Recipe:
        """Adam at a constant rate, full resolution, no early stop: the recipe before the study,
        run with `LEGACY_STEPS` steps at `LEGACY_LR` and the spectrum's `LEGACY_DECAY`."""
        return cls(optimizer="adam", schedule="constant", warmup=0.0, final_lr=1.0)

    # -- per step ---------------------------------------------------------------------------
    def lr_at(self, step: int, steps: int, peak: float) -> float:
        """The learning rate of step `step` (0-based) of `steps`."""
        warm = round(self.warmup * steps)
        if step < warm:
            return peak * (step + 1) / warm
        if self.schedule == "constant":
            return peak
        t = (step - warm) / max(steps - warm - 1, 1)
        if self.schedule == "step":
            return peak if step < round(2 * steps / 3) else peak * self.final_lr
        return peak * (self.final_lr + (1 - self.final_lr) * 0.5 * (1 + math.cos(math.pi * t)))

    def lrs(self, steps: int, peak: float) -> list[float]:
        return [self.lr_at(s, steps, peak) for s in range(steps)]

    def coarse_steps(self, steps: int) -> int:
        return round(self.coarse * steps) if self.coarse_scale < 1.0 else 0

    def phase_at(self, step: int, steps: int) -> Phase:
        if step < self.coarse_steps(steps):
            return Phase(self.coarse_scale, 0.5 * self.coarse_scale)
        return Phase()

    def plateaued(self, history: torch.Tensor, step: int) -> torch.Tensor | None:
        """After step `step` (0-based), per image: has its objective plateaued? None: not a
        checking step. `history` is (steps, n); only its rows up to `step` are read."""
        p, done = self.patience, step + 1
        if p <= 0 or done % p or done < 2 * p:
            return None
        recent = history[done - p : done].mean(dim=0)
        before = history[done - 2 * p : done - p].mean(dim=0)
        return (recent - before) < self.min_gain * before.abs().clamp(min=1e-6)


def make_optimizer(
    recipe: Recipe,
    params: list[torch.Tensor],
    lr: float,
    device: torch.device,
    *,
    capturable: bool = False,
) -> torch.optim.Optimizer:
    """Adam (fused on a GPU: one kernel for the whole update) or NAdam (foreach on a GPU).
    `capturable` (CUDA graphs): the learning rate is a device tensor the loop refills."""
    cuda = device.type == "cuda"
    rate: float | torch.Tensor = torch.tensor(lr, device=device) if capturable else lr
    if recipe.optimizer == "nadam":
        return torch.optim.NAdam(params, lr=rate, foreach=cuda, capturable=capturable)
    return torch.optim.Adam(params, lr=rate, fused=cuda, capturable=capturable)


def class_picture(objectives: Sequence[Objective]) -> bool:
    """Is every image's objective a class's (a logit or probability term, no layer's term)? A
    job that mixes a class term with a channel's, a neuron's or any layer's is not: it keeps the
    channels' recipe, the one measured on units inside the network."""
    return bool(objectives) and all(o.needs_logits and not o.layers for o in objectives)


def job_options(
    objectives: Sequence[Objective],
    options: Mapping[str, Any],
    steps: int,
    *,
    seen: int = 0,
    native: int = 0,
) -> dict[str, Any]:
    """The recipe options a job with `objectives` is made with, given site.toml's `[recipe]`
    table (`options`) and the channels' step count: `steps` among them. Class pictures take
    `CLASS_STEPS` times the steps (within the steps' range), and, unless the table sets
    `coarse`, the first `CLASS_COARSE` of them coarse where the network sees the picture at
    `seen` px and that phase's input is at least `CLASS_COARSE_FLOOR` of the network's own input
    size `native`. Every other option is the table's for every job."""
    if not class_picture(objectives):
        return {**options, "steps": steps}
    most = int(RANGES["steps"].high or steps)
    made = {**options, "steps": min(CLASS_STEPS * steps, most)}
    scale = float(options.get("coarse_scale", Recipe.coarse_scale))
    if "coarse" not in options and native and scale * seen >= CLASS_COARSE_FLOOR * native:
        made["coarse"] = CLASS_COARSE
    return made
