"""The measure stage of a site: after the plan settles, everything its pages show that needs the
network besides the optimizer, measured before anything is rendered so the site renders from data:

- the explorer's inventory (its channels and every other standard channel visualization planned),
- pattern checks, class readings and first-layer filters (`generator.measure.stage`),
- each explorer channel's two-alternative scores, its pictures' and its photos', judged by one of
  the site's networks (`generator.measure.legibility`),
- the top classes figures read while planning (`SitePlan.reads`, measured between the rounds),
- the circuits between the explorer's layers and the accentuated top photos
  (`generator.atlas.site`).

`featvis compute` and `featvis build` call `measure(site, one, compute=True)`: whatever the caches
lack is measured now (under several processes: circuits by rank 0, accentuations shared out).
`featvis render` calls it with `compute=False`: nothing runs the network, and `SiteData.missing`
names what is lacking.
"""

from __future__ import annotations

from generator.atlas.site import Circuits, site_accentuations, site_circuits
from generator.compute import World
from generator.core.progress import QUIET, Progress
from generator.core.tally import Lacking
from generator.figures.channels import single_channel
from generator.figures.context import PlanContext
from generator.jobs import VisJob
from generator.measure.legibility import LegibleUnit, measure_legibility, site_judge
from generator.measure.stage import (
    Unit,
    measure_site,
    measure_top_classes,
    missing_top_classes,
)
from generator.plan.closure import circuit_rows
from generator.plan.explorer import channel_page_jobs, explorer_inventory
from generator.stages.pipeline import ModelSite, Site, SiteData, plan


def legible_units(
    ctx: PlanContext, inventory: dict[str, dict[int, VisJob]]
) -> list[LegibleUnit]:
    """Each explorer channel with its pictures: its visualization and diversity set as positive
    references, its negative as the negative (`channel_page_jobs`, its jobs made by `ctx`)."""
    units = []
    for layer, channels in inventory.items():
        for channel, job in channels.items():
            extras = channel_page_jobs(ctx, layer, channel)
            positives = (job, *([extras["diversity"]] if "diversity" in extras else []))
            negatives = (extras["negative"],) if "negative" in extras else ()
            units.append(LegibleUnit(layer, channel, positives, negatives))
    return units


def measure(
    site: Site,
    one: ModelSite,
    *,
    compute: bool,
    world: World | None = None,
    progress: Progress = QUIET,
) -> SiteData:
    """Every measurement `one`'s pages show, over its plan (planned now when no stage planned it
    yet), read from the caches and (with `compute`) measured now where missing, counted on
    `progress` as compute counts; see the module docstring. The result becomes `one.data`."""
    config, model, store, dataset = site.config, one.model, site.store, one.dataset
    planned = one.plan if one.plan is not None else plan(site, one)
    explorer = planned.explorer
    world = world or World(rank=0, size=1, device=model.device)
    # what to measure, from the plan alone
    ctx = PlanContext(config=config, model=model, preset=site.preset)
    inventory = explorer_inventory(model, explorer, planned.jobs, ctx.channel_job)
    units = [Unit(job, layer, c) for layer, jobs in inventory.items() for c, job in jobs.items()]
    units += [Unit(job, *unit) for job in planned.jobs if (unit := single_channel(job))]
    legible = legible_units(ctx, inventory)
    rows = circuit_rows(planned)
    # measured now, or read from the caches
    measures = measure_site(
        model, store, dataset, units, list(inventory), world=world, compute=compute,
        progress=progress,
    )
    lacking = None if compute else measures.missing.copy()
    judge = site_judge(model, [m.model for m in site.models]) if dataset is not None else None
    measures.legibility, absent = measure_legibility(
        judge, dataset, store, legible, world=world, compute=compute, progress=progress,
    )
    if lacking is not None:
        lacking.add("{} two-alternative score{s}", absent)
    if lacking is None:
        measure_top_classes(model, store, planned.reads, world=world)
    else:
        lacking.add("{} top class{es}", len(missing_top_classes(model, store, planned.reads)))
    circuits: Circuits = {}
    if world.rank == 0:
        circuits = site_circuits(
            config, model, store, explorer, dataset, missing=lacking,
            rows=rows, progress=progress,
        )
    accents = site_accentuations(  # every process takes its share
        config, model, site.preset, explorer, dataset, missing=lacking,
        world=world, progress=progress,
    )
    world.barrier()
    one.data = SiteData(inventory, measures, circuits, accents, lacking or Lacking())
    return one.data
