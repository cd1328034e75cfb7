"""The explorer's inventory: which layers it shows and the visualization jobs of each.
"""

from __future__ import annotations

from collections.abc import Callable

from generator.config.site import Preset, SiteConfig
from generator.core.errors import FeatvisError
from generator.jobs import VisJob
from generator.models import LoadedModel


def explorer_layers(config: SiteConfig, model: LoadedModel) -> list[str]:
    """The layers the explorer shows (config.explorer_layers or every layer), checked."""
    if config.explorer_layers is None:
        return list(model.layer_names)
    for name in config.explorer_layers:
        try:
            model.layer(name)
        except FeatvisError as exc:
            raise FeatvisError(f"{config.source or 'config'}: explorer_layers: {exc}") from None
    return list(config.explorer_layers)


def explorer_jobs(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    channel_job: Callable[[str, int], VisJob],
) -> dict[str, list[VisJob]]:
    """Per explorer layer, `channel_job` of channels 0..explorer_channels-1 (all when None)."""
    jobs = {}
    for layer in explorer_layers(config, model):
        channels = model.layer(layer).channels
        wanted = channels if preset.explorer_channels is None else preset.explorer_channels
        jobs[layer] = [channel_job(layer, c) for c in range(min(wanted, channels))]
    return jobs
