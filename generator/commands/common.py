"""What every command shares: site.toml with the command line's flags on top, and the preset.
"""

from __future__ import annotations

import argparse
import dataclasses

from generator.config.site import Preset, SiteConfig, load_config
from generator.core.errors import FeatvisError


def model_flag(args: argparse.Namespace) -> str | None:
    """--model's value (None when not given); an empty one is an error, not the default."""
    model = getattr(args, "model", None)
    if model is not None and not model.strip():
        raise FeatvisError(
            "--model is empty (valid: a model id such as efficientnet_lite0, torchvision:NAME, "
            "timm:NAME or python:FILE.py:FUNCTION; leave the flag out for the site's model)"
        )
    return model


def config_from_args(args: argparse.Namespace) -> SiteConfig:
    """site.toml (or the defaults) with the command line's flags on top."""
    config = load_config(getattr(args, "config", None))
    return config.with_overrides(
        model=model_flag(args),
        weights=getattr(args, "weights", None),
        random_weights=True if getattr(args, "random_weights", False) else None,
        device=getattr(args, "device", None),
        seed=getattr(args, "seed", None),
        preset=getattr(args, "preset", None),
        dataset=getattr(args, "dataset", None),
        cache_dir=getattr(args, "cache", None),
        output_dir=getattr(args, "output", None),
        batch_size=getattr(args, "batch_size", None),
        workers=getattr(args, "workers", None),
        strict=True if getattr(args, "strict", False) else None,
    )


def preset_from_args(config: SiteConfig, args: argparse.Namespace, device_type: str) -> Preset:
    """The config's preset for this device, with --size, --steps, --channels and --closure
    applied."""
    preset = config.preset_for(device_type)
    changes = {
        name: value
        for name, value in (
            ("size", getattr(args, "size", None)),
            ("steps", getattr(args, "steps", None)),
            ("explorer_channels", getattr(args, "channels", None)),
            ("closure", getattr(args, "closure", None)),
        )
        if value is not None
    }
    return dataclasses.replace(preset, **changes)
