"""The build: gather everything, then write, then publish.

A build reads the config and every article (all errors found here stop it before any output
changes), loads the model and checks every figure against it, plans and computes what the cache
lacks (plan -> compute -> plan again while figures choose channels from measurements), renders the
whole site into a temporary folder next to the output, runs `check` on it and only then swaps it
into place. A failed build at any step leaves the last good site untouched.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.atlas.labels import LABELS_FILE, Labels, read_labels
from generator.cache.store import ArtifactStore
from generator.check import check_site, report
from generator.compute import probe_model
from generator.config.site import Preset, SiteConfig
from generator.core.device import device_label, resolve_device
from generator.core.errors import FeatvisError
from generator.core.lock import site_lock
from generator.core.notices import Notices
from generator.core.progress import Progress
from generator.core.publish import OUTPUT_MARKER, publish, staging, sweep
from generator.figures.context import PlanContext
from generator.figures.registry import Article, bind_articles, read_articles
from generator.jobs import VisJob
from generator.models.site import load_spec
from generator.plan.explorer import explorer_jobs
from generator.plan.measured import SiteData, measure_stage
from generator.plan.rounds import compute_site, site_dataset
from generator.plan.site import SitePlan, plan_site
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


@dataclass(frozen=True)
class _Inputs:
    """What a build reads once and hands on: every stage takes it from here."""

    model: Any
    preset: Preset
    store: ArtifactStore
    articles: list[Article]
    dataset: Any
    explorer: dict[str, list[VisJob]]
    labels: Labels = field(default_factory=dict)


def _read(
    config: SiteConfig, preset: Preset | None, quiet: bool, say: Callable[[str], None],
    progress: Progress, compute: bool = True,
) -> _Inputs:
    """The articles first (their errors need no model), then the model, the figures bound to it,
    the dataset and the explorer's jobs: each read or made once. The model is probed only by a
    build that computes (render runs no network: what it shows was computed by a probed one)."""
    progress.stage("planning", f"reading {config.content_dir} and loading {config.model}")
    articles = read_articles(config)
    if len(config.model_specs) > 1:
        raise FeatvisError(
            f"{config.model_specs[1].where}: several models in one site are not built yet "
            f"(models: {', '.join(config.model_ids)}); list one"
        )
    device = resolve_device(config.device)
    preset = preset or config.preset_for(device.type)
    store = ArtifactStore(config.cache_dir, report=lambda m: say(f"warning: {m}"))
    spec = config.model_specs[0]
    model = load_spec(config, spec, device)
    if compute:
        probe_model(model, str(spec.weights or ""))
    bind_articles(articles, model)
    labels = read_labels(
        config.root / LABELS_FILE, {info.name: info.channels for info in model.layers}
    )
    if config.dataset is not None:
        progress.stage("dataset scan", str(config.dataset))
    dataset = site_dataset(config, model, quiet=quiet, articles=articles, compute=compute)
    ctx = PlanContext(config=config, model=model, preset=preset, store=store, dataset=dataset)
    explorer = explorer_jobs(config, model, preset, ctx.channel_job)
    return _Inputs(model, preset, store, articles, dataset, explorer, labels)


def _settle(
    config: SiteConfig, inputs: _Inputs, *, compute: bool, force: bool, quiet: bool,
    say: Callable[[str], None], progress: Progress,
) -> tuple[SitePlan, int]:
    """Plan -> compute -> plan until settled (with compute), then the final plan."""
    computed = 0
    common = {"dataset": inputs.dataset, "articles": inputs.articles, "explorer": inputs.explorer}
    if compute:
        progress.stage(
            "compute", f"preset {inputs.preset.name} on {device_label(inputs.model.device)}"
        )
        _, summary = compute_site(
            config, inputs.model, inputs.preset, inputs.store, batch_size=config.batch_size,
            quiet=quiet, force=force, progress=progress, **common,
        )
        computed = summary.computed
        say(summary.line())
        if summary.failed:
            raise FeatvisError(
                f"{summary.failed} visualizations failed to compute (see above); site not published"
            )
    plan = plan_site(config, inputs.model, inputs.preset, store=inputs.store, **common)
    return plan, computed


def _render(
    config: SiteConfig, inputs: _Inputs, data: SiteData, out: Path, notices: Notices
) -> SiteResult:
    """Draw the whole site into `out` from data only. Missing visualizations are listed, one a
    line, then one line names everything the caches lack and the command that computes it."""
    unchanged = f"{config.output_dir} unchanged"
    try:
        result = SiteRenderer(
            config, inputs.model, inputs.preset, inputs.store, out, articles=inputs.articles,
            explorer=inputs.explorer, inventory=data.inventory, measures=data.measures,
            dataset=inputs.dataset, circuits=data.circuits, accents=data.accents,
            labels=inputs.labels, notices=Notices() if data.missing else notices,
        ).draw()
    except MissingVisualizations as exc:
        absent = [job for job in exc.jobs if inputs.store.get(job) is None]
        if not absent:  # cached, but what a figure reads of them is not measured (a top class)
            raise FeatvisError(f"{data.missing_line()}; {unchanged}") from None
        for line in MissingVisualizations(absent, exc.where).report():
            print(line, file=sys.stderr)
        also = f" (and {', '.join(data.missing)})" if data.missing else ""
        raise MissingVisualizations(absent, exc.where, f"{also}; {unchanged}") from None
    if data.missing:
        raise FeatvisError(f"{data.missing_line()}; {unchanged}")
    return result


def build_site(
    config: SiteConfig,
    *,
    compute: bool = True,
    preset: Preset | None = None,
    force: bool = False,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
    strict: bool | None = None,
    progress: Progress | None = None,
    notices: Notices | None = None,
) -> BuildReport:
    """Build (or with compute=False, render from the cache) and publish the site. One build at a
    time per site (a second one waits for the lock); leftovers of interrupted builds go first.

    Progress goes to `progress` (stage lines in a log, bars on a terminal); warnings go through
    `notices` (printed as they come); a strict build (`strict`, else the config's) fails on any
    of them before anything is published.
    """
    say = log or functools.partial(_say, quiet=quiet)
    progress = progress or Progress(quiet=quiet)
    notices = notices if notices is not None else Notices(report=say)
    notices.strict = config.strict if strict is None else strict
    start = time.perf_counter()
    _check_output_dir(config)
    with site_lock(config.output_dir, say=say):
        sweep(config.output_dir, say=say)
        return _build_locked(
            config, preset, compute=compute, force=force, quiet=quiet, say=say, start=start,
            progress=progress, notices=notices,
        )


def _build_locked(
    config: SiteConfig,
    preset: Preset | None,
    *,
    compute: bool,
    force: bool,
    quiet: bool,
    say: Callable[[str], None],
    start: float,
    progress: Progress,
    notices: Notices,
) -> BuildReport:
    inputs = _read(config, preset, quiet, say, progress, compute)
    warn_dataset(inputs.dataset, notices)
    plan, computed = _settle(
        config, inputs, compute=compute, force=force, quiet=quiet, say=say, progress=progress
    )
    progress.stage("measure", "checks, filters, circuits, accentuations")
    data = measure_stage(
        config, inputs.model, inputs.preset, inputs.store, plan=plan, explorer=inputs.explorer,
        dataset=inputs.dataset, compute=compute, say=say,
    )
    progress.stage("render", f"{len(inputs.articles)} pages")
    with staging(config.output_dir) as tmp:
        result = _render(config, inputs, data, tmp, notices)
        progress.stage("check", str(config.output_dir))
        sources = {a.page.url: (str(a.page.source), a.page.path) for a in inputs.articles}
        problems = check_site(tmp, sources)
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
        seconds=time.perf_counter() - start,
        preset=inputs.preset.name,
        device=device_label(inputs.model.device),
    )


def warn_dataset(dataset: Any, notices: Notices) -> None:
    """A warning for photos the scan could not read."""
    summary = getattr(dataset, "summary", None)
    if summary is not None and summary.images_skipped:
        first = f" (first: {summary.skipped[0]})" if summary.skipped else ""
        notices.warn(
            "dataset", f"{summary.root}: {summary.images_skipped} photos could not be read{first}"
        )
