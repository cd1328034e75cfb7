"""`featvis compute` and `featvis status`: compute what the site needs; say what is cached.

The pipeline (torch, the models) is imported inside the commands, after the site's config is
read: a bad site.toml or flag answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from generator.commands.common import (
    built_preset,
    config_from_args,
    preset_from_args,
    preset_given,
)
from generator.config.presets import Preset, preset_flags
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.core.progress import say

if TYPE_CHECKING:
    from generator.cache.store import ArtifactStore
    from generator.dataset.index import DatasetIndex
    from generator.figures.registry import Article
    from generator.models import LoadedModel
    from generator.stages.pipeline import ModelSite, Site



def _open_store(config: SiteConfig, *, report: bool = True) -> ArtifactStore:
    from generator.cache.store import ArtifactStore

    return ArtifactStore(
        config.cache_dir, report=(lambda m: say(f"warning: {m}")) if report else (lambda m: None)
    )


def cmd_compute(args: argparse.Namespace) -> int:
    """featvis compute: compute what the site needs and is not cached (the dataset scan, the
    visualizations, then the measure stage: checks, filters, circuits, accentuations), so that
    `featvis render` finds everything; print a summary line per model. With --only, the named
    layers' or pages' visualizations only. Each model of the site in turn, with its own network.
    On a CPU with enough to compute, in `workers` processes (`generator.stages.workers`)."""
    config = config_from_args(args)
    from generator.cache.store import cache_writing
    from generator.compute import distributed
    from generator.models.site import load_site_models
    from generator.stages.pipeline import read_site, scanner
    from generator.stages.workers import (
        compute_in_processes,
        compute_models,
        missing_work,
        processes_for,
    )

    with cache_writing(config.cache_dir), distributed(config.device) as world:
        store = _open_store(config, report=world.rank == 0)
        models = load_site_models(config, world.device)
        preset = preset_from_args(config, args, world.device.type)
        site = read_site(
            config, preset, models=models, store=store,
            datasets=scanner(quiet=args.quiet, world=world),
        )
        only = None if not args.only else _only_by_model(site, args.only)
        workers = 1
        if world.size == 1:  # under torchrun the world is made already
            missing = missing_work(site, force=args.force, only=only)
            workers = processes_for(config, world.device, missing, config.batch_size)
        if workers > 1:
            summaries = compute_in_processes(
                config, preset, workers, batch_size=config.batch_size, quiet=args.quiet,
                force=args.force, only=only,
            )
        else:
            summaries = compute_models(
                site, world=world, quiet=args.quiet, force=args.force, only=only
            )
        if world.rank == 0:
            for one in summaries:
                print(one.line(alone=len(models) == 1))
    return 1 if any(one.summary.failed for one in summaries) else 0


def _only_by_model(site: Site, only: list[str]) -> dict[str, list[str] | None]:
    """`--only`'s names as each model's plan knows them (a layer or page of some models only);
    a name no model's plan knows is an error naming the valid ones."""
    from generator.stages.pipeline import plan as planned

    if len(site.models) == 1:
        return {site.model.id: only}
    known: dict[str, set[str]] = {}
    for one in site.models:
        names = planned(site, one)
        known[one.model.id] = set(names.by_layer) | set(names.by_page)
    every = [name for names in known.values() for name in sorted(names)]
    for name in only:
        if not any(name in names for names in known.values()):
            raise FeatvisError(
                f"--only '{name}': no layer or page of any model's plan "
                f"({choices_hint(name, dict.fromkeys(every))})"
            )
    return {model: [n for n in only if n in names] for model, names in known.items()}


def cmd_status(args: argparse.Namespace) -> int:
    """featvis status: per model, page and layer, how many jobs are cached and how many
    missing, for the preset its first line names (`_status_preset`)."""
    config = config_from_args(args)
    import torch

    from generator.core.device import resolve_device
    from generator.models.site import load_site_models
    from generator.stages.pipeline import read_site

    store = _open_store(config)
    device_type = resolve_device(config.device).type
    preset, line = _status_preset(config, args, device_type)
    print(line, flush=True)
    models = load_site_models(config, torch.device("cpu"))
    site = read_site(  # the photos' statistics from the cache only: status never scans
        config, preset, models=models, store=store, compute=False, datasets=_cached_dataset,
    )
    for i, one in enumerate(site.models):
        if i:
            print()
        _status(site, one, args.only)
    return 0


def _status_preset(
    config: SiteConfig, args: argparse.Namespace, device_type: str
) -> tuple[Preset, str]:
    """The preset status counts against, and the line that says which: the flags' where the
    command line gives any, else that of the site last built into the output folder (what the
    user just built), else the one a plain `featvis build` uses."""
    plain = preset_from_args(config, args, device_type)
    built = built_preset(config, device_type)
    out = config.output_dir

    def flags(preset: Preset) -> str:
        return " ".join(preset_flags(preset))

    if preset_given(args):
        was = f"; the site in {out} was built with {flags(built)}" if built not in (None, plain) \
            else ""
        return plain, f"status of the settings given ({flags(plain)}){was}"
    if built is None:
        return plain, (
            f"status of the settings a plain `featvis build` uses ({flags(plain)}); "
            f"no site built in {out} yet"
        )
    if built == plain:
        return built, (
            f"status of the site in {out}, built with {flags(built)}, the settings a plain "
            "`featvis build` uses"
        )
    return built, (
        f"status of the site in {out}, built with {flags(built)}; a plain `featvis build` "
        f"uses {flags(plain)} (`featvis status {flags(plain)}` counts what it would compute)"
    )


def _cached_dataset(
    config: SiteConfig, model: LoadedModel, articles: Sequence[Article], _compute: bool
) -> DatasetIndex | None:
    """The model's dataset index from the cache (figures choose channels from the photos'
    statistics, as the build did), or None with a line saying what is not counted yet."""
    from generator.stages.pipeline import site_dataset

    try:
        return site_dataset(config, model, quiet=True, articles=articles, compute=False)
    except FeatvisError as exc:
        print(f"{exc}; the jobs of channels chosen from the photos are not counted yet")
        return None


def _status(site: Site, one: ModelSite, only: list[str] | None) -> None:
    from generator.stages.pipeline import plan as planned

    store, model, preset = site.store, one.model, site.preset
    plan = planned(site, one, only)
    cached = {job.key: store.get(job) is not None for job in plan.jobs}
    hits = sum(cached.values())
    channels = "every" if preset.explorer_channels is None else preset.explorer_channels
    print(
        f"{store.root}: {hits} of {len(plan.jobs)} jobs cached, {len(plan.jobs) - hits} missing "
        f"(model {model.id}, preset {preset.name}: {preset.size} px, {preset.steps} steps, "
        f"{channels} channels per explorer layer)"
    )
    if preset.closure > 0:
        rest = len(plan.jobs) - len(plan.closure)
        print(
            f"circuit closure: {len(plan.closure)} of these jobs, the channels the sample's "
            f"circuits name (at most {int(preset.closure * rest)})"
            if plan.closure
            else "circuit closure: none planned (no circuits cached yet, or nothing to close)"
        )
    for title, index in (("page", plan.by_page), ("layer", plan.by_layer)):
        if not index:
            continue
        width = max(len(title), *(len(name) for name in index))
        print(f"\n{title:<{width}}  cached  missing")
        for name, jobs in index.items():
            have = sum(cached[job.key] for job in jobs)
            print(f"{name:<{width}}  {have:>6}  {len(jobs) - have:>7}")
