"""`featvis build`, `render` and `clean`.
"""

from __future__ import annotations

import argparse
import shutil

from generator.build import build_site
from generator.cache.store import FORMAT_FILE
from generator.commands.common import config_from_args, preset_from_args
from generator.config.site import Preset, SiteConfig
from generator.core.device import resolve_device
from generator.core.errors import FeatvisError
from generator.core.publish import OUTPUT_MARKER


def _config(args: argparse.Namespace) -> SiteConfig:

    if getattr(args, "only", None):
        raise FeatvisError(
            "--only restricts `featvis compute` and `status`; a build renders the whole site"
        )
    return config_from_args(args)


def _preset(config: SiteConfig, args: argparse.Namespace) -> Preset:

    return preset_from_args(config, args, resolve_device(config.device).type)


def cmd_build(args: argparse.Namespace) -> int:
    config = _config(args)
    result = build_site(
        config, preset=_preset(config, args), force=args.force, quiet=args.quiet,
        strict=True if args.strict else None,
    )
    print(f"featvis: built {result.line()}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    config = _config(args)
    result = build_site(
        config, compute=False, preset=_preset(config, args), quiet=args.quiet,
        strict=True if args.strict else None,
    )
    print(f"featvis: rendered {result.line()}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:

    config = config_from_args(args)
    out = config.output_dir
    removed = []
    if out.is_dir():
        if any(out.iterdir()) and not (out / OUTPUT_MARKER).exists():
            raise FeatvisError(
                f"{out}: not a folder featvis built (no {OUTPUT_MARKER}); not removing it"
            )
        shutil.rmtree(out)
        removed.append(str(out))
    if getattr(args, "all", False) and config.cache_dir.is_dir():

        if any(config.cache_dir.iterdir()) and not (config.cache_dir / FORMAT_FILE).exists():
            raise FeatvisError(f"{config.cache_dir}: not a featvis cache; not removing it")
        shutil.rmtree(config.cache_dir)
        removed.append(str(config.cache_dir))
    print(f"featvis: removed {', '.join(removed)}" if removed else "featvis: nothing to remove")
    return 0
