"""What every command shares: site.toml with the command line's flags on top (its model ids
checked first), and the preset.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from generator.config.model_ids import check_model_id
from generator.config.paths import refuse_empty
from generator.config.presets import PRESETS, Preset, preset_flags
from generator.config.schema import CHANNELS, CLOSURE, SIZE, STEPS
from generator.config.site import SiteConfig, load_config
from generator.core.errors import FeatvisError


def model_flag(args: argparse.Namespace) -> str | None:
    """--model's value (None when not given); an empty one is an error, not the default."""
    model = getattr(args, "model", None)
    refuse_empty("--model", model, "a model id such as efficientnet_lite0, torchvision:NAME, "
                 "timm:NAME or python:FILE.py:FUNCTION; leave the flag out for the site's model")
    return model


def check_model(model: str, root: Path, where: str = "--model") -> None:
    """A model id checked before anything loads (`check_model_id`: `python:` files read from
    `root`), its error starting with `where` (`--model`, or site.toml's line)."""
    try:
        check_model_id(model, root)
    except FeatvisError as exc:
        raise FeatvisError(f"{where}: {exc}") from None


def config_from_args(args: argparse.Namespace, *, models: bool = True) -> SiteConfig:
    """site.toml (or the defaults) with the command line's flags on top; with `models`, each of
    its path keys (`SiteConfig.check_inputs`) and model ids (`check_models`) checked before
    anything loads."""
    given = getattr(args, "config", None)
    refuse_empty("--config", given, "a site.toml file, or the folder holding it")
    config = load_config(given)
    config = config.with_overrides(
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
    if config.device.strip().lower() not in ("auto", "cpu"):  # CUDA asked for: is it here?
        from generator.core.device import resolve_device  # torch: only for a CUDA device

        try:
            resolve_device(config.device)
        except FeatvisError as exc:
            raise FeatvisError(f"{config.where('device')}: {exc}") from None
    if models:  # a command that reads the site's inputs: each path and model id checked first
        config.check_inputs()
        check_models(config, flag=model_flag(args) is not None)
    return config


def check_models(config: SiteConfig, *, flag: bool = False) -> None:
    """Each model id of the site checked as `featvis init` checks `--model` (no network, no
    weights, no torch but for a torchvision or timm id), the error naming site.toml's line (or
    `--model` when `flag`: the id came from the command line)."""
    for spec in config.model_specs:
        check_model(spec.id, config.root, "--model" if flag else spec.where)


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


PRESET_FLAGS = ("preset", "size", "steps", "channels", "closure")


def preset_given(args: argparse.Namespace) -> bool:
    """Whether the command line names a preset or changes one (`--preset`, `--size`, ...)."""
    return any(getattr(args, flag, None) is not None for flag in PRESET_FLAGS)


def built_preset(config: SiteConfig, device_type: str) -> Preset | None:
    """The preset of the site last built or rendered into the output folder, as its
    manifest.json records it (`build --preset quick --size 64`: quick at 64 px), with site.toml's
    [recipe] on top as a build applies it; None where there is no such site, or its manifest
    names no preset a build can use (the flags' ranges check its numbers)."""
    try:
        recorded = json.loads((config.output_dir / "manifest.json").read_text(encoding="utf-8"))
        shown = recorded["preset"]
        if shown["name"] not in PRESETS:
            return None
        base = dataclasses.replace(config, preset=shown["name"]).preset_for(device_type)
        changes = {"size": SIZE.parse(shown["size"]), "steps": STEPS.parse(shown["steps"])}
        if "explorer_channels" in shown:  # a manifest of an older featvis lacks these two
            count = shown["explorer_channels"]
            changes["explorer_channels"] = None if count is None else CHANNELS.parse(count)
        if "closure" in shown:
            changes["closure"] = CLOSURE.parse(shown["closure"])
    except (OSError, ValueError, KeyError, TypeError):  # Invalid is a ValueError
        return None
    return dataclasses.replace(base, **changes)


def followed_preset(
    config: SiteConfig, args: argparse.Namespace, device_type: str
) -> tuple[Preset, str | None]:
    """The settings a command that draws the built site follows (`render`, `serve`'s preview):
    the flags' where the command line gives any, else those the site in the output folder was
    built with (`build --preset quick` then `render`: the quick site again, from the cache), else
    a plain build's. With them, a line saying so where they are the built site's and differ from
    a plain build's (None otherwise)."""
    plain = preset_from_args(config, args, device_type)
    built = None if preset_given(args) else built_preset(config, device_type)
    if built is None or built == plain:
        return plain, None
    return built, (
        f"the settings the site in {config.output_dir} was built with "
        f"({' '.join(preset_flags(built))}); a plain `featvis build` uses "
        f"{' '.join(preset_flags(plain))}"
    )
