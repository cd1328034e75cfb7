"""`featvis build`, `render` and `clean`.

The pipeline (torch, the models) is imported inside the commands, after the site's config is
read: a bad site.toml or flag answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from generator.commands.common import config_from_args, followed_preset, preset_from_args
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.core.lock import CACHE_LOCK, cache_lock, site_lock
from generator.core.progress import say
from generator.core.publish import removable, remove_site, sweep
from generator.pages.content import content_files


def _config(args: argparse.Namespace) -> SiteConfig:
    return config_from_args(args)


def _preset(config: SiteConfig, args: argparse.Namespace) -> Preset:
    from generator.core.device import resolve_device

    return preset_from_args(config, args, resolve_device(config.device).type)


def _site_config(args: argparse.Namespace) -> SiteConfig:
    """The config, with the content folder looked at too, before the pipeline is imported."""
    config = _config(args)
    content_files(config)
    return config


def cmd_build(args: argparse.Namespace) -> int:
    config = _site_config(args)
    from generator.build import build_site

    result = build_site(
        config, preset=_preset(config, args), force=args.force, quiet=args.quiet
    )
    print(f"featvis: built {result.line()}")
    return 0


def _render_preset(config: SiteConfig, args: argparse.Namespace) -> Preset:
    """What `render` draws (`followed_preset`: a render computes nothing, so it draws what the
    last build computed unless the flags say otherwise)."""
    from generator.core.device import resolve_device

    preset, followed = followed_preset(config, args, resolve_device(config.device).type)
    if followed and not args.quiet:
        print(f"featvis: rendering with {followed}", file=sys.stderr)
    return preset


def cmd_render(args: argparse.Namespace) -> int:
    config = _site_config(args)
    from generator.build import build_site

    result = build_site(
        config, compute=False, preset=_render_preset(config, args), quiet=args.quiet
    )
    print(f"featvis: rendered {result.line()}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove the built site (and with --all, the cache): everything is checked first, so a
    refusal removes nothing. Files a person put into the site folder are kept and named. With
    --unused, the cache entries the site no longer reads instead (`commands.unused`)."""
    if getattr(args, "unused", False):
        from generator.commands.unused import cmd_clean_unused

        return cmd_clean_unused(args)
    for flag in ("preset", "size", "steps", "channels", "closure"):
        if getattr(args, flag, None) is not None:
            raise FeatvisError(
                f"--{flag} is for `clean --unused` (the site as that preset reads it); "
                "`clean` and `clean --all` take --config, --cache and --output"
            )
    config = config_from_args(args, models=False)
    out, cache = config.output_dir, config.cache_dir
    wipe_cache = bool(getattr(args, "all", False)) and cache.is_dir()
    # a running compute holds the cache's lock: --all refuses rather than delete from under it
    guard = cache_lock(cache, exclusive=True) if wipe_cache else contextlib.nullcontext()
    with site_lock(out, say=say), guard:
        sweep(out, say=say)
        site = removable(out)
        own = [p for p in cache.iterdir() if p.name != CACHE_LOCK] if wipe_cache else []
        if own and not _is_cache(cache):
            raise FeatvisError(f"{cache}: not a featvis cache; nothing removed")
        removed = []
        if site is not None:
            kept = remove_site(site)
            removed.append(str(out))
            if kept:
                say(kept)
        if wipe_cache:
            shutil.rmtree(cache)
            removed.append(str(cache))
    print(f"featvis: removed {', '.join(removed)}" if removed else "featvis: nothing to remove")
    return 0


def _is_cache(folder: Path) -> bool:
    from generator.cache.store import FORMAT_FILE  # the store imports torch: only for --all

    return (folder / FORMAT_FILE).exists()

