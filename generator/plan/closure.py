"""The circuit closure of a model's site: the channels its sample's circuits name, visualized too.

A channel page's circuit names the strongest inputs and outputs of its channel; most of them are
not in the explorer's sample. The closure adds their standard channel visualization to the plan
(the same job, so the same cache entry, as anywhere else: a neighbour that is also sampled costs
nothing), strongest links first, at most `Preset.closure` times as many jobs as the rest of the
plan. A closed channel of an explorer layer is in the explorer's inventory, so it has a page of its
own (its circuit shows what it feeds; its own inputs are not measured). A neighbour the preset
cannot afford shows its top photo; only without photos it is named in words.

The closure reads the circuits from the cache, so planning never runs the network: the rounds
(`stages.rounds.settle`) measure the circuits after computing the sample and plan again. The rows
those circuits measure are the sample's (`circuit_rows`: the plan's channels, never the
closure's), so the closure does not change the circuits it was read from.
"""

from __future__ import annotations

from generator.atlas.closure import closure_units
from generator.atlas.site import site_circuits
from generator.cache.store import ArtifactStore
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.tally import Lacking
from generator.dataset.index import DatasetIndex
from generator.figures.channels import single_channel
from generator.figures.context import PlanContext
from generator.jobs import SitePlan, VisJob
from generator.models import LoadedModel


def circuit_rows(planned: SitePlan) -> dict[str, set[int]]:
    """The channels whose circuit rows the site measures besides the explorer's: every
    one-channel job of the plan (a figure's channel, e.g. `circuit`'s) but the closure's."""
    closure = {job.key for job in planned.closure}
    rows: dict[str, set[int]] = {}
    for job in planned.jobs:
        unit = single_channel(job)
        if unit is not None and job.key not in closure:
            rows.setdefault(unit[0], set()).add(unit[1])
    return rows


def closure_jobs(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    store: ArtifactStore,
    dataset: DatasetIndex | None,
    planned: SitePlan,
) -> list[VisJob]:
    """The closure of `planned` (planned without one) from the circuits the cache holds: the
    standard visualization of each neighbour in an explorer layer, strongest links first, at most
    `preset.closure` times the plan's jobs ([] before the circuits are measured)."""
    explorer = planned.explorer
    budget = int(preset.closure * len(planned.jobs))
    if budget < 1 or not explorer:
        return []
    rows = circuit_rows(planned)
    circuits = site_circuits(  # read only: `missing` given, nothing is computed
        config, model, store, explorer, dataset, missing=Lacking(), rows=rows
    )
    if not circuits:
        return []
    sample = {layer: rows.get(layer, set()) | set(channels) for layer, channels in explorer.items()}
    units = [u for u in closure_units(circuits, sample) if u[0] in explorer][:budget]
    ctx = PlanContext(config=config, model=model, preset=preset)
    return [ctx.channel_job(layer, channel) for layer, channel in units]
