"""Engine-side commands: `featvis layers` (the layer catalog) and `featvis demo`.

The demo optimizes a few channels from a few layers of a model in one batch and writes one PNG per
image plus an overview sheet, so a newcomer sees the progression from edges to objects without
building a site.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from generator.commands.common import config_from_args
from generator.config.paths import refuse_empty
from generator.core.errors import FeatvisError
from generator.core.words import counted

if TYPE_CHECKING:  # the models and the optimizer (torch) are imported by the commands
    import torch

    from generator.jobs import VisJob
    from generator.models import LoadedModel

# A spread through the embedded model: one layer per band and a few channels each.
DEMO_UNITS = (
    ("blocks.1.1", (0, 9)),
    ("blocks.2.1", (2, 7)),
    ("blocks.3.2", (1, 13)),
    ("blocks.5.0", (4, 99)),
    ("blocks.6.0", (12, 90)),
)


def _site_model(args: argparse.Namespace) -> tuple[LoadedModel, int]:
    """The site's first model as site.toml (or --config) loads it, with its weights, input size,
    normalization and classes, and the site's seed; --model, --weights, --random-weights and
    --seed on top. Without a site.toml, the embedded default."""
    config = config_from_args(args)  # each model id checked before torch loads
    from generator.models.site import load_spec

    model = load_spec(config, config.model_specs[0], args.device or config.device)
    return model, config.seed


def cmd_layers(args: argparse.Namespace) -> int:
    """The layers of every model of the site (site.toml, or --config, with --model, --weights
    and --input-size on top), as the site's options load it."""
    config = config_from_args(args)
    if args.input_size is not None:  # an error about it names the flag
        config = dataclasses.replace(config, flags=(*config.flags, "input_size"))
    from generator.models.site import explorer_layers, load_spec

    for spec in config.model_specs:
        if args.input_size is not None:
            spec = dataclasses.replace(spec, input_size=args.input_size)
        model = load_spec(config, spec, args.device or config.device)
        height, width = model.input_shape
        seen = (f"{height}px" if height == width else f"{height}x{width}px only") + (
            " grey" if model.grey else "")
        print(f"# {model.id}  weights: {model.weights_source}  input: {seen}")
        # explorer_layers (band references resolved against this model): its rows marked
        shown = set(explorer_layers(config, model))
        marks = config.explorer_layers_of(model.id)[0] is not None
        if marks:
            count = sum(layer.name in shown for layer in model.layers)
            print(f"# explorer: {count} of its {len(model.layers)} layers (explorer_layers)")
        wide = max([24, *(len(layer.name) for layer in model.layers)])  # the columns align
        print(f"{'layer':<{wide}} {'channels':>8} {'size':>9} {'depth':>5}  band"
              + ("      shown in" if marks else ""))
        for layer in model.layers:
            size = f"{layer.height}x{layer.width}"
            mark = f"{layer.band:<8}  explorer" if marks and layer.name in shown else layer.band
            print(f"{layer.name:<{wide}} {layer.channels:>8} {size:>9} {layer.depth:>5}  {mark}")
    return 0


def parse_unit(text: str) -> tuple[str, int]:
    layer, sep, channel = text.rpartition(":")
    if not sep or not channel.isdigit():
        raise FeatvisError(f"--unit '{text}': expected LAYER:CHANNEL, e.g. blocks.2.1:7")
    return layer, int(channel)


def demo_units(model: LoadedModel, requested: list[str] | None) -> list[tuple[str, int]]:
    from generator.models import DEFAULT_MODEL

    if requested:
        units = [parse_unit(u) for u in requested]
    elif model.id == DEFAULT_MODEL:
        units = [(layer, c) for layer, chans in DEMO_UNITS for c in chans]
    else:  # another model: two channels from the middle layer of each band
        from generator.models import BANDS, resolve_layer_ref

        picks = dict.fromkeys(resolve_layer_ref(band, model.layers) for band in BANDS)
        units = [(name, c) for name in picks for c in range(min(2, model.layer(name).channels))]
    for layer, channel in units:
        model.check_channel(layer, channel)
    return units


def cmd_demo(args: argparse.Namespace) -> int:
    refuse_empty("--out", args.out, "a folder for the PNGs, made when missing")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FeatvisError(f"--out {out}: a file, not a folder (name a folder for the PNGs)")
    for unit in getattr(args, "unit", None) or ():  # its form, before the model loads
        parse_unit(unit)
    model, seed = _site_model(args)  # each model id checked before torch is imported
    from PIL import Image

    from generator.compute import job_depth
    from generator.core.images import to_pil
    from generator.jobs import VisJob, default_batch_size, plan_batches
    from generator.optvis import RenderSettings, render
    from generator.optvis import objectives as obj
    from generator.optvis.recipe import DEFAULT_STEPS

    units = demo_units(model, getattr(args, "unit", None))
    settings = RenderSettings(size=args.size or 128, steps=args.steps or DEFAULT_STEPS)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [
        VisJob(
            model.id,
            model.digest,
            (obj.channel(layer, c),),
            size=settings.size,
            steps=settings.steps,
            seed=seed,
        )
        for layer, c in units
    ]
    # Batches by depth, as the pipeline packs them: each forward pass stops at its deepest layer.
    finals: dict[VisJob, tuple[torch.Tensor, float]] = {}
    for batch in plan_batches(
        jobs, default_batch_size(model.device.type), depth=lambda j: job_depth(model, j)
    ):
        result = render(
            model, batch.objectives(), batch.settings(), seeds=batch.seeds(), groups=batch.groups()
        )
        for job, part in zip(batch.jobs, batch.per_job(result), strict=True):
            finals[job] = (part.images[0], float(part.final[0]))
    per_row = max(len([u for u in units if u[0] == units[0][0]]), 1)
    sheet = Image.new(
        "RGB", (settings.size * per_row, settings.size * -(-len(units) // per_row)), "white"
    )
    for i, ((layer, channel), job) in enumerate(zip(units, jobs, strict=True)):
        pil = to_pil(finals[job][0])
        pil.save(out / f"{layer}_{channel}.png")
        sheet.paste(pil, ((i % per_row) * settings.size, (i // per_row) * settings.size))
    sheet.save(out / "overview.png")
    seconds = time.perf_counter() - start
    where = f"{seconds:.1f}s on {model.device}"
    print(f"demo: {counted(len(units), 'visualization')} of {model.id} in {where} -> {out}/")
    wide = max(len(f"{layer}:{channel}") for layer, channel in units)  # the columns align
    for (layer, channel), job in zip(units, jobs, strict=True):
        unit = f"{layer}:{channel}"
        print(f"  {unit:<{wide}} {model.layer(layer).band:<9} objective {finals[job][1]:8.2f}")
    return 0
