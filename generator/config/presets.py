"""How much a build computes: the presets (`quick`, `standard`, `full`) and the flags that give
one on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.config.recipe import DEFAULT_OPTIMIZER, OPTIMIZER_NAMES


@dataclass(frozen=True)
class Preset:
    """How much to compute: image size, optimizer steps, explorer channels per layer, and how
    much of the circuit closure (the channels the sample's circuits name, visualized too)."""

    name: str
    size: int
    steps: int
    explorer_channels: int | None  # None: every channel of every layer
    figure_scale: float  # fraction of a figure's channels/strengths to keep (1.0 = all)
    # the recipe's other options (lr, optimizer, schedule, ...; `generator.config.recipe`) as
    # (key, value) pairs, from site.toml's [recipe] table; () : the optimizer's defaults
    recipe: tuple[tuple[str, Any], ...] = ()
    # the circuit closure's visualizations, at most this fraction of the rest of the plan's
    # (strongest links first; `generator.plan.closure`); 0: none, a neighbour shows its top photo
    closure: float = 0.0
    # the objects band's diversity set on its channel pages (`generator.plan.explorer`); a preset
    # that computes every channel shows it everywhere
    diversity: bool = True
    # the optimizer steps of each accentuated photo on a channel page, at most (`steps` when it is
    # fewer; `generator.atlas.site`): it starts from the photo, so it needs fewer than a picture
    # from noise does
    accent_steps: int = 48

    @property
    def optimizer(self) -> str:
        """The optimizer's name as the pages write it: the [recipe] table's, else the default."""
        return OPTIMIZER_NAMES[dict(self.recipe).get("optimizer", DEFAULT_OPTIMIZER)]


PRESETS: dict[str, Preset] = {
    # a draft: its visualizations in 3/8 of the standard steps, its accentuations in a third
    "quick": Preset(
        "quick", size=96, steps=48, explorer_channels=2, figure_scale=0.5, accent_steps=16
    ),
    "standard": Preset(
        "standard", size=128, steps=128, explorer_channels=6, figure_scale=1.0, closure=0.1,
        diversity=False,
    ),
    "full": Preset(
        "full", size=128, steps=256, explorer_channels=None, figure_scale=1.0, closure=0.5
    ),
}


def preset_flags(preset: Preset) -> list[str]:
    """The command-line flags that give `preset`: `--preset NAME`, then `--size`, `--steps`,
    `--channels` and `--closure` where it differs from the named preset (a build's overrides)."""
    flags = ["--preset", preset.name]
    base = PRESETS.get(preset.name)
    if base is None:
        return flags
    for flag, ours, theirs in (
        ("--size", preset.size, base.size),
        ("--steps", preset.steps, base.steps),
        ("--channels", preset.explorer_channels, base.explorer_channels),
        ("--closure", preset.closure, base.closure),
    ):
        if ours is not None and ours != theirs:
            flags += [flag, f"{ours:g}" if isinstance(ours, float) else str(ours)]
    return flags
