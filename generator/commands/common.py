"""What every command shares: site.toml with the command line's flags on top, and the preset.
"""

from __future__ import annotations

import argparse
import dataclasses

from generator.config.site import Preset, SiteConfig, load_config


def config_from_args(args: argparse.Namespace) -> SiteConfig:
    """site.toml (or the defaults) with the command line's flags on top."""
    config = load_config(getattr(args, "config", None))
    return config.with_overrides(
        model=getattr(args, "model", None),
        weights=getattr(args, "weights", None),
        device=getattr(args, "device", None),
        seed=getattr(args, "seed", None),
        preset=getattr(args, "preset", None),
        dataset=getattr(args, "dataset", None),
        cache_dir=getattr(args, "cache", None),
        output_dir=getattr(args, "output", None),
        batch_size=getattr(args, "batch_size", None),
        workers=getattr(args, "workers", None),
    )


def preset_from_args(config: SiteConfig, args: argparse.Namespace, device_type: str) -> Preset:
    """The config's preset for this device, with --size, --steps and --channels applied."""
    preset = config.preset_for(device_type)
    changes = {
        name: value
        for name, value in (
            ("size", getattr(args, "size", None)),
            ("steps", getattr(args, "steps", None)),
            ("explorer_channels", getattr(args, "channels", None)),
        )
        if value is not None
    }
    return dataclasses.replace(preset, **changes)
