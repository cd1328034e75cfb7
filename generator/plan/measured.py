"""The measure stage of a site: after the plan settles, everything its pages show that needs the
network besides the optimizer, measured before anything is rendered so the site renders from data:

- the explorer's inventory (its channels and every other standard channel visualization planned),
- pattern checks, class readings and first-layer filters (`generator.measure.stage`),
- the top classes figures read while planning (`SitePlan.reads`, measured between the rounds),
- the circuits between the explorer's layers and the accentuated top photos
  (`generator.atlas.site`).

`featvis compute` and `featvis build` call `measure_stage(..., compute=True)`: whatever the caches
lack is measured now (under several processes: circuits by rank 0, accentuations shared out).
`featvis render` calls it with `compute=False`: nothing runs the network, and `SiteData.missing`
names what is lacking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from generator.atlas.site import Accents, Circuits, site_accentuations, site_circuits
from generator.cache.store import ArtifactStore
from generator.compute import World
from generator.config.site import Preset, SiteConfig
from generator.core.progress import QUIET, Progress
from generator.figures.channels import single_channel
from generator.figures.context import PlanContext
from generator.jobs import VisJob
from generator.measure.stage import (
    Measurements,
    Unit,
    measure_site,
    measure_top_classes,
    missing_top_classes,
)
from generator.models import LoadedModel
from generator.plan.explorer import explorer_inventory
from generator.plan.site import SitePlan

COMPUTE_HINT = "run `featvis compute` (or `featvis build`) to compute them"


@dataclass(frozen=True)
class SiteData:
    """What the site renders from besides the artifacts themselves."""

    inventory: dict[str, list[VisJob]]
    measures: Measurements
    circuits: Circuits
    accents: Accents
    missing: tuple[str, ...] = ()  # compute=False: what the caches lack, e.g. "3 circuits ..."

    def missing_line(self) -> str:
        return f"not in the cache: {', '.join(self.missing)}; {COMPUTE_HINT}"


def site_inventory(
    config: SiteConfig, model: LoadedModel, preset: Preset, explorer: dict[str, list[VisJob]],
    plan: SitePlan,
) -> dict[str, list[VisJob]]:
    """The explorer's inventory: its channels plus every standard channel visualization of its
    layers that the plan needs (never what else the cache happens to hold)."""
    ctx = PlanContext(config=config, model=model, preset=preset)
    return explorer_inventory(model, explorer, plan.jobs, ctx.channel_job)


def measure_stage(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    store: ArtifactStore,
    *,
    plan: SitePlan,
    explorer: dict[str, list[VisJob]],
    dataset: Any,
    compute: bool,
    world: World | None = None,
    say: Callable[[str], None] | None = None,
    progress: Progress = QUIET,
) -> SiteData:
    """Every measurement the site shows, read from the caches and (with `compute`) measured now
    where missing, counted on `progress` as compute counts; see the module docstring."""
    world = world or World(rank=0, size=1, device=model.device)
    inventory = site_inventory(config, model, preset, explorer, plan)
    jobs = [job for jobs in inventory.values() for job in jobs] + plan.jobs
    units = [Unit(job, *unit) for job in jobs if (unit := single_channel(job))]
    measures = measure_site(
        model, store, dataset, units, list(inventory), world=world, compute=compute,
        progress=progress,
    )
    lacking: list[str] | None = None if compute else list(measures.missing)
    if compute:
        measure_top_classes(model, store, plan.reads, world=world)
    elif absent := missing_top_classes(model, store, plan.reads):
        lacking = [*(lacking or []), f"{len(absent)} top classes"]
    circuits: Circuits = {}
    if world.rank == 0:
        shown: dict[str, set[int]] = {}
        for layer, channel in (unit for job in plan.jobs if (unit := single_channel(job))):
            shown.setdefault(layer, set()).add(channel)  # a figure's channel, e.g. `circuit`
        circuits = site_circuits(
            config, model, store, explorer, dataset, say=say, missing=lacking, rows=shown,
            progress=progress,
        )
    accents = site_accentuations(  # every process takes its share
        config, model, preset, explorer, dataset, missing=lacking,
        share=(world.rank, world.size), barrier=world.barrier, progress=progress,
    )
    world.barrier()
    return SiteData(inventory, measures, circuits, accents, tuple(lacking or ()))
