"""`featvis build`, `render`, `serve` and `clean`: gather everything, then write, then publish.

A build reads the config and every article (all errors found here stop it before any output
changes), loads the model and checks every figure against it, plans and computes what the cache
lacks (plan -> compute -> plan again while figures choose channels from measurements), renders the
whole site into a temporary folder next to the output, runs `check` on it and only then swaps it
into place. A failed build at any step leaves the last good site untouched.

`render` does the same from the cache only and lists what is missing; `serve` previews the built
site on 127.0.0.1; `clean` removes the site (and with --all, the cache).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.check import check_site, report
from generator.config import Preset, SiteConfig
from generator.content import Page, load_pages
from generator.core.lock import site_lock
from generator.core.publish import MARKER as OUTPUT_MARKER
from generator.core.publish import publish, removable, remove_site, staging, sweep
from generator.errors import FeatvisError
from generator.figures import FigureContext, page_figures


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


def read_site(config: SiteConfig, model: Any) -> list[Page]:
    """Every page, checked, with every figure bound to the model (layers, channels, classes)."""
    pages = load_pages(config)
    for page in pages:
        page_figures(page, model)
    return pages


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


def build_site(
    config: SiteConfig,
    *,
    compute: bool = True,
    preset: Preset | None = None,
    force: bool = False,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build (or with compute=False, render from the cache) and publish the site."""
    say = log or functools.partial(_say, quiet=quiet)
    start = time.perf_counter()
    _check_output_dir(config)
    with site_lock(config.output_dir, say=say):
        sweep(config.output_dir, say=say)
        return _build_locked(config, compute, preset, force, quiet, say, start)


def _build_locked(
    config: SiteConfig,
    compute: bool,
    preset: Preset | None,
    force: bool,
    quiet: bool,
    say: Callable[[str], None],
    start: float,
) -> BuildReport:
    from generator.artifacts import ArtifactStore
    from generator.device import resolve_device
    from generator.models import load_model
    from generator.pipeline import compute_site, device_label, probe_model, site_dataset
    from generator.plan import explorer_jobs, plan_site
    from generator.site import MissingVisualizations, SiteRenderer

    load_pages(config)  # the articles first: their errors need no model
    device = resolve_device(config.device)
    preset = preset or config.preset_for(device.type)
    store = ArtifactStore(config.cache_dir, report=lambda m: say(f"warning: {m}"))
    model = load_model(config.model, weights=config.weights, device=device, seed=config.seed)
    probe_model(model, str(config.weights or ""))
    pages = read_site(config, model)
    dataset = site_dataset(config, model, quiet=quiet, pages=pages)
    computed = 0
    if compute:
        plan, summary = compute_site(
            config,
            model,
            preset,
            store,
            dataset=dataset,
            batch_size=config.batch_size,
            quiet=quiet,
            force=force,
        )
        computed = summary.computed
        say(summary.line())
        if summary.failed:
            raise FeatvisError(
                f"{summary.failed} visualizations failed to compute (see above); site not published"
            )
    plan = plan_site(config, model, preset, store=store, dataset=dataset)
    ctx = FigureContext(config=config, model=model, preset=preset, store=store, dataset=dataset)
    explorer = explorer_jobs(config, model, preset, ctx.channel_job)
    with staging(config.output_dir) as tmp:
        try:
            result = SiteRenderer(
                config,
                model,
                preset,
                store,
                tmp,
                pages=pages,
                explorer=explorer,
                plan_jobs=plan.jobs,
                dataset=dataset,
            ).draw()
        except MissingVisualizations as exc:
            for line in exc.report():
                print(line, file=sys.stderr)
            raise
        problems = check_site(tmp, {p.url: (str(p.source), p.path) for p in pages})
        if problems:
            report(problems)
            raise FeatvisError(
                f"the built site has {len(problems)} problems (listed above); "
                f"{config.output_dir} unchanged"
            )
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
        preset=preset.name,
        device=device_label(device),
    )


# Commands ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> SiteConfig:
    from generator.pipeline import config_from_args

    if getattr(args, "only", None):
        raise FeatvisError(
            "--only restricts `featvis compute` and `status`; a build renders the whole site"
        )
    return config_from_args(args)


def _preset(config: SiteConfig, args: argparse.Namespace) -> Preset:
    from generator.device import resolve_device
    from generator.pipeline import preset_from_args

    return preset_from_args(config, args, resolve_device(config.device).type)


def cmd_build(args: argparse.Namespace) -> int:
    config = _config(args)
    result = build_site(config, preset=_preset(config, args), force=args.force, quiet=args.quiet)
    print(f"featvis: built {result.line()}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    config = _config(args)
    result = build_site(config, compute=False, preset=_preset(config, args), quiet=args.quiet)
    print(f"featvis: rendered {result.line()}")
    return 0


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        sys.stderr.write(f"featvis serve: {format % args}\n")


def cmd_serve(args: argparse.Namespace) -> int:
    from generator.pipeline import config_from_args

    root = config_from_args(args).output_dir
    if not (root / "index.html").is_file():
        raise FeatvisError(f"{root}: no built site (run `featvis build` first)")
    handler = functools.partial(_QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(
            f"featvis: serving {root} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C "
            "stops)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove the built site (and with --all, the cache): everything is checked first, so a
    refusal removes nothing. Files a person put into the site folder are kept and named."""
    from generator.artifacts import FORMAT_FILE
    from generator.pipeline import config_from_args

    config = config_from_args(args)
    out, cache = config.output_dir, config.cache_dir
    with site_lock(out, say=_say):
        sweep(out, say=_say)
        site = removable(out)
        wipe_cache = bool(getattr(args, "all", False)) and cache.is_dir()
        if wipe_cache and any(cache.iterdir()) and not (cache / FORMAT_FILE).exists():
            raise FeatvisError(f"{cache}: not a featvis cache; nothing removed")
        removed = []
        if site is not None:
            kept = remove_site(site)
            removed.append(str(out))
            if kept:
                _say(kept)
        if wipe_cache:
            shutil.rmtree(cache)
            removed.append(str(cache))
    print(f"featvis: removed {', '.join(removed)}" if removed else "featvis: nothing to remove")
    return 0
