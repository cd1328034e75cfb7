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

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.cache.store import ArtifactStore, cache_writing
from generator.check import check_site, report
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.device import device_label
from generator.core.errors import OUT_OF_ROOM, FeatvisError
from generator.core.lock import site_lock
from generator.core.notices import Notices
from generator.core.progress import Progress, say
from generator.core.publish import OUTPUT_MARKER, publish, staging, sweep
from generator.core.tally import Lacking
from generator.core.words import counted
from generator.pages.content import display_path
from generator.site.env import check_templates
from generator.site.render import MissingVisualizations, SiteRenderer, SiteResult
from generator.stages.pipeline import COMPUTE_HINT, Site, read_site, scanner
from generator.stages.settle import settle_site


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
    if out.is_dir() and os.path.ismount(out):
        raise FeatvisError(
            f"{out}: a mount point, which a build cannot swap for the new site; "
            f"choose a folder inside it (output_dir = \"{out / 'site'}\")"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / OUTPUT_MARKER).exists():
        raise FeatvisError(
            f"{out}: folder exists, is not empty and was not built by featvis; "
            "remove it or choose another output with --output"
        )


def _render(site: Site, out: Path, notices: Notices) -> SiteResult:
    """Draw the whole site into `out` from data only. Missing visualizations are listed, one a
    line, then one line names everything the caches lack and the command that computes it."""
    unchanged = f"{site.config.output_dir} unchanged"
    lacking = Lacking.total(one.data.missing for one in site.models if one.data is not None)
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
    tell = log or ((lambda _m: None) if quiet else say)
    progress = progress or Progress(quiet=quiet)
    notices = notices if notices is not None else Notices(report=tell)
    notices.strict = notices.strict or config.strict
    run = _Run(compute, force, quiet, tell, progress, notices, time.perf_counter())
    _check_output_dir(config)
    check_templates(config)  # the site's own templates, before anything is computed
    with site_lock(config.output_dir, say=tell):
        sweep(config.output_dir, say=tell)
        with cache_writing(config.cache_dir, create=compute) as store:
            return _build_locked(config, preset, store, run)


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


def _build_locked(
    config: SiteConfig, preset: Preset | None, store: ArtifactStore, run: _Run
) -> BuildReport:
    """Read the site (every error found here stops the build), settle and measure it, then
    render, check and publish it."""
    ids = ", ".join(config.model_ids)
    run.progress.stage("planning", f"reading {config.content_dir} and loading {ids}")
    site = read_site(
        config, preset, store=store, compute=run.compute,
        datasets=scanner(quiet=run.quiet, progress=run.progress), notices=run.notices,
    )
    computed = settle_site(
        site, compute=run.compute, force=run.force, quiet=run.quiet, say=run.say,
        progress=run.progress,
    )
    return _publish(site, computed, run)


def _publish(site: Site, computed: int, run: _Run) -> BuildReport:
    """Render the site into a staging folder, check it, and swap it into the output folder."""
    output = site.config.output_dir
    sources = {a.page.url: (str(a.page.source), a.page.path) for a in site.articles}
    templates = site_templates(site.config)
    run.progress.stage("render", f"{counted(len(site.articles), 'article')} and the explorer")
    try:
        result = _stage_and_publish(site, run, sources, templates)
    except OSError as exc:
        if exc.errno not in OUT_OF_ROOM:
            raise
        raise FeatvisError(f"{output}: cannot write the site ({exc.strerror}); unchanged") from None
    return BuildReport(
        output=output,
        pages=sum(1 for p in result.pages if p.endswith(".html")),
        files=sum(1 for p in output.rglob("*") if p.is_file()),
        visualizations=result.visualizations,
        computed=computed,
        seconds=time.perf_counter() - run.start,
        preset=site.preset.name,
        device=device_label(site.model.device),
    )


def _stage_and_publish(
    site: Site, run: _Run, sources: dict[str, tuple[str, Path]], templates: dict[str, Path]
) -> SiteResult:
    output = site.config.output_dir
    with staging(output) as tmp:
        result = _render(site, tmp, run.notices)
        run.progress.stage("check", str(output))
        problems = check_site(tmp, sources, templates)
        if problems:
            report(problems)
            raise FeatvisError(
                f"the built site has {counted(len(problems), 'problem')} (listed above); {output} "
                "unchanged"
            )
        run.notices.check_strict(str(output))
        run.progress.stage("publish", str(output))
        kept = publish(tmp, output).line()
        if kept:
            run.say(kept)
    return result


def site_templates(config: SiteConfig) -> dict[str, Path]:
    """The site's own templates (templates_dir), by the name a message shows."""
    folder = config.templates_dir
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []
    return {str(display_path(p, config.root)): p for p in files}
