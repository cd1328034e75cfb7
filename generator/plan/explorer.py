"""The explorer's inventory: which layers it shows and the visualization jobs of each.
"""

from __future__ import annotations

from collections.abc import Callable

from generator.config.site import Preset, SiteConfig, where_key
from generator.core.errors import FeatvisError
from generator.jobs import VisJob
from generator.models import LoadedModel, resolve_layer_ref


def explorer_layers(config: SiteConfig, model: LoadedModel) -> list[str]:
    """The layers the explorer shows (config.explorer_layers, layer names or band references
    such as `parts[-1]`, or every layer), checked, in the model's order."""
    if config.explorer_layers is None:
        return list(model.layer_names)
    names = set()
    for ref in config.explorer_layers:
        try:
            names.add(resolve_layer_ref(ref, model.layers + model.optional_layers, model.id))
        except FeatvisError as exc:
            where = where_key(config.source, "explorer_layers")
            raise FeatvisError(f"{where}: explorer_layers: {exc}") from None
    order = [info.name for info in model.optional_layers + model.layers]
    return sorted(names, key=lambda n: (model.layer(n).depth, order.index(n)))


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
