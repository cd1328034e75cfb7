"""The build: gather everything, then write, then publish.

A build reads the config and every article (all errors found here stop it before any output
changes), loads each model of the site once and checks every figure against its model, plans and
computes per model what the cache lacks (plan -> compute -> plan again while figures choose
channels from measurements), measures per model what the pages show, renders the whole site
into a temporary folder next to the output, runs `check` on it and only then swaps it into place.
A failed build at any step leaves the last good site untouched.

With `compute=False` (`featvis render`) it does the same from the caches only: nothing runs the
network (no optimization, no measurement, no scan, no model probe) and anything missing (a
visualization, a measurement, a circuit, an accentuated photo, a dataset scan) is named with the
command that computes it; nothing is published.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.cache.store import ArtifactStore, cache_writing
from generator.check import check_site, report
from generator.compute import load_models
from generator.config.site import Preset, SiteConfig
from generator.core.device import device_label, resolve_device
from generator.core.errors import FeatvisError
from generator.core.lock import site_lock
from generator.core.notices import Notices
from generator.core.progress import Progress
from generator.core.publish import OUTPUT_MARKER, publish, staging, sweep
from generator.dataset.index import DatasetIndex
from generator.figures.registry import read_articles
from generator.pages.content import display_path, unread_articles
from generator.plan.measured import measure
from generator.plan.pipeline import COMPUTE_HINT, Site, plan, read_site, scanner, site_lacking
from generator.plan.rounds import settle
from generator.plan.workers import (
    compute_in_processes,
    missing_work,
    processes_for,
)
from generator.site.env import check_templates
from generator.site.render import MissingVisualizations, SiteRenderer, SiteResult


@dataclass
class BuildReport:
    output: Path
    pages: int
    files: int
    visualizations: int
    computed: int
    seconds: float
    preset: str
    device: str

    def line(self) -> str:
        return (
            f"{self.output}: {self.pages} pages, {self.visualizations} visualizations, "
            f"{self.files} files ({self.computed} computed) in {self.seconds:.1f} s "
            f"on {self.device}, preset {self.preset}"
        )


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"featvis: {message}", file=sys.stderr)


def _check_output_dir(config: SiteConfig) -> None:
    out = config.output_dir
    for name, path in (
        ("content", config.content_dir),
        ("cache", config.cache_dir),
        ("site root", config.root),
    ):
        if out.resolve() == path.resolve() or path.resolve().is_relative_to(out.resolve()):
            raise FeatvisError(
                f"output folder {out} would replace the {name} folder {path}; choose another output"
            )
    if out.exists() and not out.is_dir():
        raise FeatvisError(f"{out}: output path exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / OUTPUT_MARKER).exists():
        raise FeatvisError(
            f"{out}: folder exists, is not empty and was not built by featvis; "
            "remove it or choose another output with --output"
        )


def _read(
    config: SiteConfig, preset: Preset | None, quiet: bool, say: Callable[[str], None],
    progress: Progress, compute: bool = True,
) -> Site:
    """The articles first (their errors need no model), then every model of the site, the
    figures bound to theirs, the labels, and per model the dataset and the explorer's jobs:
    each read or made once. A model is probed only by a build that computes (render runs no
    network: what it shows was computed by a probed one)."""
    ids = ", ".join(config.model_ids)
    progress.stage("planning", f"reading {config.content_dir} and loading {ids}")
    articles = read_articles(config)
    check_templates(config)
    device = resolve_device(config.device)
    preset = preset or config.preset_for(device.type)
    store = ArtifactStore(config.cache_dir)  # damaged entries: a CacheWarning, even if quiet
    models = load_models(config, device, probe=compute)
    if config.dataset is not None:
        progress.stage("dataset scan", str(config.dataset))
    return read_site(
        config, preset, store, articles, models, compute=compute, datasets=scanner(quiet=quiet)
    )


def _in_processes(
    site: Site, *, force: bool, quiet: bool, say: Callable[[str], None], progress: Progress,
) -> int | None:
    """On a CPU with enough to compute, every model's compute and measure stage in `workers`
    processes (`generator.plan.workers`), after this process scanned the photos; how many
    visualizations they computed, or None when this process computes alone."""
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


def _settle(
    site: Site, *, compute: bool, force: bool, quiet: bool, say: Callable[[str], None],
    progress: Progress, elsewhere: bool = False,
) -> int:
    """Per model: plan -> compute -> plan until settled (with compute), then the final plan;
    how many visualizations were computed. Each model's jobs are computed with its own network
    (batches never mix models). After `elsewhere` (processes computed the site) whatever is
    left is computed here, quietly."""
    computed = 0
    for one in site.models:
        if compute:
            if not elsewhere:
                progress.stage(
                    "compute", f"{one.model.id}: preset {site.preset.name} on "
                    f"{device_label(one.model.device)}",
                )
            summary = settle(site, one, quiet=quiet, force=force, progress=progress)
            computed += summary.computed
            if summary.computed or summary.failed or not elsewhere:
                line = summary.line()
                say(line if len(site.models) == 1 else f"{one.model.id}: {line}")
            if summary.failed:
                raise FeatvisError(
                    f"{summary.failed} visualizations of {one.model.id} failed to compute "
                    "(see above); site not published"
                )
        plan(site, one)
    return computed


def _render(site: Site, out: Path, notices: Notices) -> SiteResult:
    """Draw the whole site into `out` from data only. Missing visualizations are listed, one a
    line, then one line names everything the caches lack and the command that computes it."""
    unchanged = f"{site.config.output_dir} unchanged"
    lacking = site_lacking(site)
    what = ", ".join(lacking.phrases())
    line = f"not in the cache: {what}; {COMPUTE_HINT}; {unchanged}"
    try:
        result = SiteRenderer(site, out, notices=Notices() if lacking else notices).draw()
    except MissingVisualizations as exc:
        absent = [job for job in exc.jobs if site.store.get(job) is None]
        if not absent:  # cached, but what a figure reads of them is not measured (a top class)
            raise FeatvisError(line) from None
        for row in MissingVisualizations(absent, exc.where).report():
            print(row, file=sys.stderr)
        also = f" (and {what})" if lacking else ""
        raise MissingVisualizations(absent, exc.where, f"{also}; {unchanged}") from None
    if lacking:
        raise FeatvisError(line)
    return result


def build_site(
    config: SiteConfig,
    *,
    compute: bool = True,
    preset: Preset | None = None,
    force: bool = False,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    notices: Notices | None = None,
) -> BuildReport:
    """Build (or with compute=False, render from the cache) and publish the site. One build at a
    time per site (a second one waits for the lock); leftovers of interrupted builds go first.

    Progress goes to `progress` (stage lines in a log, bars on a terminal); warnings go through
    `notices` (printed as they come); a strict build (the config's `strict`, `--strict`) fails on
    any of them before anything is published.
    """
    say = log or functools.partial(_say, quiet=quiet)
    progress = progress or Progress(quiet=quiet)
    notices = notices if notices is not None else Notices(report=say)
    notices.strict = notices.strict or config.strict
    run = _Run(compute, force, quiet, say, progress, notices, time.perf_counter())
    _check_output_dir(config)
    with site_lock(config.output_dir, say=say), cache_writing(config.cache_dir, create=compute):
        sweep(config.output_dir, say=say)
        return _build_locked(config, preset, run)


@dataclass(frozen=True)
class _Run:
    """How a build runs: the flags and where its messages go."""

    compute: bool
    force: bool
    quiet: bool
    say: Callable[[str], None]
    progress: Progress
    notices: Notices
    start: float


def _build_locked(config: SiteConfig, preset: Preset | None, run: _Run) -> BuildReport:
    compute, force, quiet, say = run.compute, run.force, run.quiet, run.say
    progress, notices = run.progress, run.notices
    site = _read(config, preset, quiet, say, progress, compute)
    warn_dataset(site.models[0].dataset, notices)
    warn_unread(config, notices)
    elsewhere = None
    if compute:
        elsewhere = _in_processes(site, force=force, quiet=quiet, say=say, progress=progress)
    computed = _settle(
        site, compute=compute, force=force and elsewhere is None, quiet=quiet, say=say,
        progress=progress, elsewhere=elsewhere is not None,
    )
    computed += elsewhere or 0
    progress.stage("measure", "checks, filters, circuits, accentuations")
    for one in site.models:
        measure(site, one, compute=compute, say=say, progress=progress)
    progress.stage("render", f"{len(site.articles)} pages")
    with staging(config.output_dir) as tmp:
        result = _render(site, tmp, notices)
        progress.stage("check", str(config.output_dir))
        sources = {a.page.url: (str(a.page.source), a.page.path) for a in site.articles}
        problems = check_site(tmp, sources, site_templates(config))
        if problems:
            report(problems)
            raise FeatvisError(
                f"the built site has {len(problems)} problems (listed above); "
                f"{config.output_dir} unchanged"
            )
        notices.check_strict(str(config.output_dir))
        progress.stage("publish", str(config.output_dir))
        kept = publish(tmp, config.output_dir).line()
        if kept:
            say(kept)
    files = sum(1 for p in config.output_dir.rglob("*") if p.is_file())
    return BuildReport(
        output=config.output_dir,
        pages=sum(1 for p in result.pages if p.endswith(".html")),
        files=files,
        visualizations=result.visualizations,
        computed=computed,
        seconds=time.perf_counter() - run.start,
        preset=site.preset.name,
        device=device_label(site.model.device),
    )


def site_templates(config: SiteConfig) -> dict[str, Path]:
    """The site's own templates (templates_dir), by the name a message shows."""
    folder = config.templates_dir
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []
    return {str(display_path(p, config.root)): p for p in files}


def warn_unread(config: SiteConfig, notices: Notices) -> None:
    """One warning for Markdown files in subfolders of content/, which are not articles."""
    unread = unread_articles(config)
    if unread:
        shown = display_path(unread[0], config.root)
        more = f" and {len(unread) - 1} more" if len(unread) > 1 else ""
        notices.warn(
            "content",
            f"{shown}{more}: not read, articles are the .md files directly in "
            f"{config.content_dir.name}/ (move them there to publish them)",
        )


def warn_dataset(dataset: DatasetIndex | None, notices: Notices) -> None:
    """A warning for photos the scan could not read."""
    summary = None if dataset is None else dataset.summary
    if summary is not None and summary.images_skipped:
        first = f" (first: {summary.skipped[0]})" if summary.skipped else ""
        notices.warn(
            "dataset", f"{summary.root}: {summary.images_skipped} photos could not be read{first}"
        )
