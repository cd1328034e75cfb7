"""`featvis clean --unused`: remove the cache entries the site no longer reads.

The site is read, planned, measured and drawn as `featvis render` draws it (from the caches only,
what they lack drawn as a placeholder, into a temporary folder) while the stores record every
entry they look up (`generator.cache.reads`); then every other entry goes
(`generator.cache.sweep`). A site that cannot be read is refused before anything is removed. The
cache's lock is held exclusively throughout: it refuses while a build or compute runs, and one
that starts meanwhile waits. What is kept is what THIS site with ITS preset reads (the flags'
preset, else the one the site in the output folder was built with): a cache shared by other
sites or presets loses their entries.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from generator.commands.common import (
    built_preset,
    config_from_args,
    preset_from_args,
    preset_given,
)
from generator.config.presets import Preset, preset_flags
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.core.lock import cache_lock
from generator.pages.content import content_files

if TYPE_CHECKING:
    from generator.dataset.index import DatasetIndex
    from generator.figures.registry import Article
    from generator.models import LoadedModel


def cmd_clean_unused(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # a bad site.toml or content folder: nothing removed
    content_files(config)
    cache = config.cache_dir
    if not cache.is_dir():
        print(f"featvis: nothing to remove ({cache} does not exist)")
        return 0
    import torch

    from generator.cache.reads import recording
    from generator.cache.store import ArtifactStore
    from generator.cache.sweep import sweep_unused
    from generator.core.device import resolve_device
    from generator.core.notices import Notices
    from generator.models.site import load_site_models
    from generator.site.render import SiteRenderer
    from generator.stages.measured import measure
    from generator.stages.pipeline import plan, read_site

    preset = _kept_preset(config, args, resolve_device(config.device).type)
    store = ArtifactStore(cache, report=lambda m: None)  # not a featvis cache: refused, no lock
    with cache_lock(cache, exclusive=True):
        models = load_site_models(config, torch.device("cpu"))
        with recording() as read, tempfile.TemporaryDirectory(prefix="featvis-unused-") as tmp:
            site = read_site(
                config, preset, models=models, store=store, compute=False, datasets=_cached_scan,
                notices=Notices(report=lambda m: None),
            )
            for one in site.models:
                for job in plan(site, one).jobs:
                    store.path(job.key)  # every planned visualization, drawn or not
                measure(site, one, compute=False)
            SiteRenderer(site, Path(tmp) / "site", notices=Notices(report=lambda m: None),
                         pending=True).draw()
        swept = sweep_unused(cache, read)
    print(f"featvis: {swept.line()}")
    return 0


def _kept_preset(config: SiteConfig, args: argparse.Namespace, device_type: str) -> Preset:
    """The preset whose entries stay: the flags' where the command line gives any, else that of
    the site last built into the output folder (a plain `build` after `build --preset quick`
    would otherwise lose the quick site's whole cache), else a plain build's; a line says
    which when it is the built site's."""
    if preset_given(args):
        return preset_from_args(config, args, device_type)
    built = built_preset(config, device_type)
    if built is None:
        return preset_from_args(config, args, device_type)
    print(
        f"featvis: keeping what the site in {config.output_dir} reads, built with "
        f"{' '.join(preset_flags(built))} (give --preset for another)", flush=True,
    )
    return built


def _cached_scan(
    config: SiteConfig, model: LoadedModel, articles: Sequence[Article], _compute: bool
) -> DatasetIndex | None:
    """The model's dataset index from the cache; None when it cannot be read from there, and then
    every scan in the cache is kept (a later build may go on from one of them)."""
    from generator.cache.reads import note
    from generator.cache.store import DATASET_DIR
    from generator.stages.pipeline import site_dataset

    try:
        return site_dataset(config, model, quiet=True, articles=articles, compute=False)
    except FeatvisError:
        scans = config.cache_dir / DATASET_DIR
        note(*(scans.iterdir() if scans.is_dir() else ()))
        return None
