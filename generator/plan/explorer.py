"""The explorer's inventory: the visualization jobs of each layer it shows
(`models.site.explorer_layers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.urls import layer_file
from generator.dataset.index import DatasetIndex
from generator.figures.channels import single_channel
from generator.figures.context import PlanContext
from generator.jobs import VisJob
from generator.measure.living import dead_channels, living_first
from generator.models import LoadedModel
from generator.models.preact import negative_of
from generator.models.site import explorer_layers
from generator.optvis import objectives as obj
from generator.pages.links import explorer_page


def explorer_jobs(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    channel_job: Callable[[str, int], VisJob],
    dataset: DatasetIndex | None = None,
) -> dict[str, dict[int, VisJob]]:
    """Per explorer layer, channel -> `channel_job` of its first explorer_channels channels (all
    when None) in channel order, the living ones first: a dead channel (`measure.living`) is
    shown only when too few live."""
    jobs = {}
    for layer in explorer_layers(config, model):
        channels = model.layer(layer).channels
        wanted = channels if preset.explorer_channels is None else preset.explorer_channels
        order = living_first(channels, dead_channels(model, config.cache_dir, layer, dataset))
        jobs[layer] = {c: channel_job(layer, c) for c in sorted(order[: min(wanted, channels)])}
    return jobs


def explorer_inventory(
    model: LoadedModel,
    explorer: Mapping[str, Mapping[int, VisJob]],
    plan_jobs: Sequence[VisJob],
    channel_job: Callable[[str, int], VisJob],
) -> dict[str, dict[int, VisJob]]:
    """Per explorer layer (model order), channel -> job in channel order: the explorer's channels
    and every standard channel visualization the plan needs of it (a figure's channel, the surveys
    figures chose their channels from): every computed channel has its place. What else the cache
    holds (an earlier build's choice) is not listed, so the site depends on its inputs only. A
    layer outside `explorer_layers` has no page, so none of its channels is listed."""
    out = {info.name: dict(explorer[info.name]) for info in model.layers if info.name in explorer}
    for job in plan_jobs:
        unit = single_channel(job)
        if unit and unit[0] in out and job.key == channel_job(*unit).key:
            out[unit[0]].setdefault(unit[1], job)
    return {layer: dict(sorted(channels.items())) for layer, channels in out.items()}


DIVERSITY_IMAGES = 4  # the diversity set on a channel page
DIVERSITY_WEIGHT = 5.0  # the diversity figure's default weight
# where every preset shows the diversity set (with `full`: every band): where it predicts which
# photos excite a channel better than the one picture (benchmarks/bench_references.py)
DIVERSITY_BANDS = ("objects",)


def channel_page_jobs(ctx: PlanContext, layer: str, channel: int) -> dict[str, VisJob]:
    """What a channel page shows beside its visualization, made by `ctx.job`: the negative (the
    channel minimized where it can move: before the floor of the model's layer, or of the branch
    inside it that makes the channel, `models.preact.negative_of`; none when nothing before it
    can be reached) and the diversity set (`DIVERSITY_IMAGES` images
    pushed apart in the layer, each led while the channel is flat as its picture is:
    `PlanContext.led`) in the model's `DIVERSITY_BANDS` where the preset affords it
    (`Preset.diversity`) and, with a preset that computes every channel (`full`), everywhere.
    The plan, the measurements, the channel page and `featvis status` all make them here, so
    they agree on every key."""
    preset, model = ctx.preset, ctx.model
    at = negative_of(model, layer, channel)
    jobs = {} if at is None else {"negative": ctx.job([-obj.channel(*at)])}
    banded = preset.diversity and model.layer(layer).band in DIVERSITY_BANDS
    if preset.explorer_channels is None or banded:
        diverse = ctx.led(layer, channel) + DIVERSITY_WEIGHT * obj.diversity(layer)
        jobs["diversity"] = ctx.job([diverse] * DIVERSITY_IMAGES)
    return jobs


def explorer_page_jobs(
    ctx: PlanContext, explorer: Mapping[str, Mapping[int, VisJob]]
) -> list[VisJob]:
    """`channel_page_jobs` for every channel of the explorer."""
    return [
        job
        for layer, channels in explorer.items()
        for channel in channels
        for job in channel_page_jobs(ctx, layer, channel).values()
    ]


def linked_jobs(ctx: PlanContext, links: Sequence[tuple[str, str]]) -> list[VisJob]:
    """What the channel pages of `model`'s explorer that `links` (an article's explorer links,
    checked by `pages.links.check_explorer_links`) open need: each channel's visualization and
    its page's other pictures (`channel_page_jobs`), so that a channel beyond the preset's
    explorer channels has its page, as a figure's channel has."""
    config, model = ctx.config, ctx.model
    layers = {layer_file(n).removesuffix(".html"): n for n in explorer_layers(config, model)}
    jobs = []
    for target, _ in links:
        page = explorer_page(target)
        if page is None or page[0] != model.slug or page[2] is None or page[1] not in layers:
            continue
        layer, channel = layers[page[1]], page[2]
        jobs += [ctx.channel_job(layer, channel),
                 *channel_page_jobs(ctx, layer, channel).values()]
    return jobs
