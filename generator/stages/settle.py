"""The build's stages after reading, one function of the `Site`: compute what the caches lack
(in several CPU processes when the work pays for them, `stages.workers`), the plan -> compute ->
plan rounds per model (`stages.rounds`), the final plan, and the measure stage (`stages.measured`).
`featvis render` runs the same stages without computing: the plan, then the measurements read
from the caches, what they lack named on each model's `SiteData.missing`.
"""

from __future__ import annotations

from collections.abc import Callable

from generator.core.device import device_label
from generator.core.errors import FeatvisError
from generator.core.progress import Progress
from generator.stages.measured import measure
from generator.stages.pipeline import Site, plan
from generator.stages.rounds import settle
from generator.stages.workers import compute_in_processes, missing_work, processes_for


def settle_site(
    site: Site, *, compute: bool, force: bool, quiet: bool, say: Callable[[str], None],
    progress: Progress,
) -> int:
    """Every model planned, computed (with `compute`) and measured; how many visualizations were
    computed. A failed visualization stops the build before anything is measured."""
    elsewhere = None
    if compute:
        elsewhere = _in_processes(site, force=force, quiet=quiet, say=say, progress=progress)
    computed = elsewhere or 0
    for one in site.models:
        if compute:
            if elsewhere is None:
                progress.stage(
                    "compute", f"{one.model.id}: preset {site.preset.name} on "
                    f"{device_label(one.model.device)}",
                )
            summary = settle(site, one, quiet=quiet, force=force and elsewhere is None,
                             progress=progress)
            computed += summary.computed
            if summary.computed or summary.failed or elsewhere is None:
                line = summary.line()
                say(line if len(site.models) == 1 else f"{one.model.id}: {line}")
            if summary.failed:
                raise FeatvisError(
                    f"{summary.failed} visualizations of {one.model.id} failed to compute "
                    "(see above); site not published"
                )
        plan(site, one)
    progress.stage("measure", "checks, filters, circuits, accentuations")
    for one in site.models:
        measure(site, one, compute=compute, progress=progress)
    return computed


def _in_processes(
    site: Site, *, force: bool, quiet: bool, say: Callable[[str], None], progress: Progress,
) -> int | None:
    """On a CPU with enough to compute, every model's compute and measure stage in `workers`
    processes (`generator.stages.workers`), after this process scanned the photos; how many
    visualizations they computed, or None when this process computes alone (after them,
    whatever is left is computed here, quietly)."""
    config = site.config
    missing = missing_work(site, force=force)
    workers = processes_for(config, site.model.device, missing, config.batch_size)
    if workers == 1:
        return None
    progress.stage(
        "compute", f"preset {site.preset.name} on {device_label(site.model.device)} "
        f"in {workers} processes",
    )
    summaries = compute_in_processes(
        config, site.preset, workers, batch_size=config.batch_size, quiet=quiet, force=force
    )
    for one in summaries:
        say(one.line(alone=len(site.models) == 1))
    return sum(one.summary.computed for one in summaries)
