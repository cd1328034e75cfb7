"""Plan -> compute -> measure -> plan: figures may choose channels and classes from what earlier
rounds computed and measured, so a model's site is planned, its missing jobs computed, the top
classes the figures read measured (`SitePlan.reads`) and, for a preset with a circuit closure,
the circuits (`plan.closure`), and planned again until nothing new is asked for. Planning itself
never runs the network.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.atlas.site import site_circuits
from generator.compute import Summary, World, compute_jobs
from generator.core.progress import Progress
from generator.measure.stage import measure_top_classes, missing_top_classes
from generator.plan.closure import circuit_rows
from generator.stages.pipeline import ModelSite, Site, plan

# Figures may choose channels from what earlier rounds measured: plan, compute, plan again.
# A chain is at most: survey -> channel image -> its top class -> the jobs that use the class,
# then the circuit closure of the channels chosen.
MAX_ROUNDS = 5


def settle(
    site: Site,
    one: ModelSite,
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    quiet: bool = False,
    world: World | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Plan `one`, compute what is missing, plan again while figures ask for new jobs (a few
    rounds, each with its own network); the settled plan becomes `one.plan`. The channels the
    explorer leaves out (dead) were measured when the site was read."""
    model, store = one.model, site.store
    seen: set[str] = set()
    total: Summary | None = None
    for round_ in range(MAX_ROUNDS):
        planned = plan(site, one, only)
        new = [job for job in planned.jobs if job.key not in seen]
        # a figure that reads a cached image's top class asks for its jobs once it is measured
        unread = [j for j in missing_top_classes(model, store, planned.reads)
                  if store.path(j.key).is_dir()]
        if not new and not unread and total is not None:
            break
        summary = compute_jobs(
            new, model, store, batch_size=site.config.batch_size, quiet=quiet,
            force=force and round_ == 0, world=world, progress=progress,
        )
        measure_top_classes(model, store, planned.reads, world=world)
        if site.preset.closure > 0 and not only:  # the circuits the closure is planned from
            here = world or World(rank=0, size=1, device=model.device)
            if here.rank == 0:
                site_circuits(
                    site.config, model, store, planned.explorer, one.dataset,
                    rows=circuit_rows(planned),
                )
            here.barrier()
        total = summary if total is None else total + summary
        seen.update(job.key for job in new)
    assert total is not None
    return total
