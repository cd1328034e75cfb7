"""Rendering channel pages from a warm cache: how long the explorer (layer pages, a page per
channel, the search index) takes to render when every artifact is already in the cache.

The cache is filled with STAND-IN artifacts (seeded noise images with the full preset's size and
image counts: the channel image, its negative, its diversity set of 4), written through the real
`ArtifactStore`, for the layers named; the timing is only of rendering, which reads and places
those files exactly as it would real ones. Circuits come from the real attribution step over the
stand-ins (cached before the timed renders). Run:

    PYTHONPATH=. python3 benchmarks/bench_atlas_render.py --layers conv_stem blocks.0.0 blocks.1.0

and it prints the seconds per render (two renders, the second with warm OS caches), the channel
pages written, and the extrapolation to the 3120 channels of the embedded model's full preset.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from generator.atlas.site import site_circuits
from generator.cache.store import ArtifactStore
from generator.config.site import PRESETS, SiteConfig
from generator.figures.context import FigureContext
from generator.measure.stage import Measurements
from generator.models import load_model
from generator.optvis.render import RenderResult
from generator.plan.explorer import explorer_jobs, explorer_page_jobs
from generator.site.render import SiteRenderer

FULL_CHANNELS = 3120


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["conv_stem", "blocks.0.0", "blocks.1.0"])
    args = ap.parse_args()
    preset = PRESETS["full"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = SiteConfig(
            root=root, cache_dir=root / "cache", explorer_layers=tuple(args.layers), device="cpu"
        )
        model = load_model(config.model, device="cpu", seed=config.seed)
        store = ArtifactStore(config.cache_dir)
        ctx = FigureContext(config=config, model=model, preset=preset, store=store)
        explorer = explorer_jobs(config, model, preset, ctx.channel_job)
        jobs = [j for js in explorer.values() for j in js]
        jobs += explorer_page_jobs(preset, ctx.job, explorer)
        gen = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for job in jobs:
            n, s = job.n_images, job.size
            images = torch.rand(n, 3, s, s, generator=gen)
            fake = RenderResult(images, {}, torch.zeros(2, n), torch.ones(n))
            store.put(job, fake, device="stand-in", extra={"stand_in": True})
        print(f"filled {len(jobs)} stand-in artifacts in {time.perf_counter() - start:.1f} s")
        circuits = site_circuits(config, model, store, explorer, None)
        channels = sum(len(js) for js in explorer.values())
        for attempt in (1, 2):
            out = root / f"out{attempt}"
            start = time.perf_counter()
            SiteRenderer(
                config, model, preset, store, out, articles=[], explorer=explorer,
                inventory=explorer, measures=Measurements(), circuits=circuits,
            ).draw()
            seconds = time.perf_counter() - start
            pages = len(list((out / "explorer").rglob("*/*/*.html")))
            per = seconds / channels
            print(
                f"render {attempt}: {seconds:.2f} s for {channels} channels ({pages} channel "
                f"pages), {per * 1000:.1f} ms a channel -> {per * FULL_CHANNELS:.0f} s for "
                f"{FULL_CHANNELS} channels (target 60 s)"
            )


if __name__ == "__main__":
    main()
