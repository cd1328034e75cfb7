"""The explorer's inventory: which layers it shows and the visualization jobs of each.
"""

from __future__ import annotations

from collections.abc import Callable

from generator.config.site import Preset, SiteConfig
from generator.core.errors import FeatvisError
from generator.jobs import VisJob
from generator.models import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis.objectives import Objective


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


DIVERSITY_IMAGES = 4  # the diversity set on a channel page (full preset)
DIVERSITY_WEIGHT = 5.0  # the diversity figure's default weight


def negative_job(make: Callable[[list[Objective]], VisJob], layer: str, channel: int) -> VisJob:
    """A channel page's negative: the channel minimized."""
    return make([-obj.channel(layer, channel)])


def diversity_job(make: Callable[[list[Objective]], VisJob], layer: str, channel: int) -> VisJob:
    """A channel page's diversity set: `DIVERSITY_IMAGES` images pushed apart in the layer."""
    o = obj.channel(layer, channel) + DIVERSITY_WEIGHT * obj.diversity(layer)
    return make([o] * DIVERSITY_IMAGES)


def channel_page_jobs(
    preset: Preset,
    make: Callable[[list[Objective]], VisJob],
    layer: str,
    channel: int,
) -> dict[str, VisJob]:
    """What a channel page shows beside its visualization: the negative always, the diversity
    set only with a preset that computes every channel (`full`)."""
    jobs = {"negative": negative_job(make, layer, channel)}
    if preset.explorer_channels is None:
        jobs["diversity"] = diversity_job(make, layer, channel)
    return jobs


def explorer_page_jobs(
    preset: Preset,
    make: Callable[[list[Objective]], VisJob],
    explorer: dict[str, list[VisJob]],
) -> list[VisJob]:
    """`channel_page_jobs` for every channel of the explorer's inventory."""
    return [
        job
        for layer, jobs in explorer.items()
        for channel in range(len(jobs))
        for job in channel_page_jobs(preset, make, layer, _channel_of(jobs[channel])).values()
    ]


def _channel_of(job: VisJob) -> int:
    term = job.objectives[0].terms[0][1]
    assert term.channel is not None
    return int(term.channel)
