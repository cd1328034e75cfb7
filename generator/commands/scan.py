"""`featvis scan`: scan the dataset folder for dataset examples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.commands.common import config_from_args
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError


def cmd_scan(args: argparse.Namespace) -> int:
    """`featvis scan`: scan (or confirm cached) dataset examples for the site's layers, for
    every model of the site."""
    config = config_from_args(args)
    if config.dataset is None:
        raise FeatvisError(
            f"{config.source or 'config'}: no dataset configured; set dataset = \"PATH\" in "
            f"site.toml or pass --dataset PATH"
        )
    from generator.cache.store import cache_writing  # torch: after the config is read
    from generator.dataset.folder import list_images

    list_images(Path(config.dataset))  # bad folders fail before the model loads
    with cache_writing(config.cache_dir):
        _scan(config, args)
    return 0


def _scan(config: SiteConfig, args: argparse.Namespace) -> None:
    from generator.dataset.scan import load_or_scan
    from generator.models.site import explorer_layers, load_spec

    several = len(config.model_specs) > 1
    for spec in config.model_specs:  # each model of the site scans its own layers
        model = load_spec(config, spec, config.device)
        layers = args.only or explorer_layers(config, model)
        index = load_or_scan(
            config, model, layers, top_k=config.dataset_top_k, progress=not args.quiet,
            force=args.force, batch_size=args.batch_size,
        )
        assert index is not None
        print(f"{model.id}: {index.summary.describe()}" if several else index.summary.describe())
        for line in index.summary.skipped:
            print(f"  skipped {line}")
        kept = min(index.top_k, index.summary.images_read)  # a folder may hold fewer photos
        print(f"{len(index.layer_names)} layers, top/bottom {kept} per channel")
