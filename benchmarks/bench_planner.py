"""Planner benchmark: the site plan in optimizer batches against the same jobs one by one.

In one process, on one device, for the default plan (site.toml at the repository root, the
device's default preset, every explorer layer; figures' jobs too when content/ has articles):

  - the plan: jobs, images, and how the planner packs them (images per optimizer batch) at the
    device's default batch size and at the GPU's;
  - wall time of `compute_jobs` with the planner's batches against `compute_jobs` with a batch
    size of 1, each into its own empty cache (artifacts written, as in a real run), at every
    batch size given, after one warm-up batch; the runs are interleaved chunk by chunk so that
    other load on a shared machine falls on all of them alike.

A full standard plan takes about an hour on a 2-core CPU, so by default the images are smaller and
the steps fewer (`--size`, `--steps`); the jobs, their layers and channels are the plan's.

    python benchmarks/bench_planner.py [--size 64] [--steps 16] [--device cpu] [--threads 1]
        [--batch-sizes 8 16]

Writes benchmarks/results/planner-<device>-<threads>thread.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from generator.cache.store import ArtifactStore
from generator.compute import compute_jobs, job_depth
from generator.config.site import load_config
from generator.core.device import resolve_device
from generator.figures.registry import bind_articles, read_articles
from generator.jobs import default_batch_size, plan_batches
from generator.models import load_model
from generator.optvis import render
from generator.plan.site import plan_site

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def packing(jobs, model, batch_size):
    batches = plan_batches(jobs, batch_size, depth=lambda j: job_depth(model, j))
    sizes = [b.n_images for b in batches]
    return {
        "batch_size": batch_size,
        "batches": len(batches),
        "images_per_batch_mean": statistics.fmean(sizes) if sizes else 0.0,
        "images_per_batch_min": min(sizes, default=0),
        "images_per_batch_max": max(sizes, default=0),
    }


def timed_runs(jobs, model, batch_sizes, chunk):
    """Seconds per batch size (1 = one by one) over `jobs`, interleaved chunk by chunk.

    Each chunk of `chunk` consecutive jobs is computed once per batch size, one right after the
    other, so that load from other processes on a shared machine hits every run alike. With
    `chunk` a multiple of every batch size the batches are exactly the whole plan's.
    """
    seconds = dict.fromkeys(batch_sizes, 0.0)
    batches = dict.fromkeys(batch_sizes, 0)
    finals: dict[int, dict[str, list]] = {bs: {} for bs in batch_sizes}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            bs: ArtifactStore(Path(tmp) / f"cache-{bs}", report=lambda m: None)
            for bs in batch_sizes
        }
        for start in range(0, len(jobs), chunk):
            part = jobs[start : start + chunk]
            for bs in batch_sizes:
                t0 = time.perf_counter()
                summary = compute_jobs(part, model, stores[bs], batch_size=bs, quiet=True)
                seconds[bs] += time.perf_counter() - t0
                batches[bs] += summary.batches
                assert summary.computed == len(part) and summary.failed == 0
        for bs in batch_sizes:
            finals[bs] = {job.key: stores[bs].get(job).sidecar.final for job in jobs}
    return seconds, batches, finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64, help="image size (plan's: preset size)")
    parser.add_argument("--steps", type=int, default=16, help="steps (plan's: preset steps)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=None,
                        help="batched runs to time (default: the device's default batch size)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    config = load_config(ROOT / "site.toml").with_overrides(device=str(device))
    model = load_model(config.model, device=device)
    preset = config.preset_for(device.type)
    with tempfile.TemporaryDirectory() as tmp:
        articles = bind_articles(read_articles(config), model)
        store = ArtifactStore(Path(tmp) / "c")
        plan = plan_site(config, model, preset, store=store, articles=articles)
    full_jobs = plan.jobs
    jobs = [dataclasses.replace(j, size=args.size, steps=args.steps) for j in full_jobs]
    images = sum(j.n_images for j in jobs)
    default = default_batch_size(device.type)
    batch_sizes = args.batch_sizes or [default]
    print(f"plan: {len(jobs)} jobs, {images} images (preset {preset.name}: {preset.size} px, "
          f"{preset.steps} steps); timing at {args.size} px, {args.steps} steps on {device}")

    warm = jobs[0]
    render(model, list(warm.objectives), warm.settings(), seeds=warm.seeds)

    chunk = max(batch_sizes) * 2
    seconds, batches, finals = timed_runs(jobs, model, [1, *batch_sizes], chunk)
    single_s, single_batches = seconds[1], batches[1]
    print(f"one by one: {single_s:.1f} s in {single_batches} batches")
    runs = []
    for bs in batch_sizes:
        drift = max(
            abs(a - b)
            for key in finals[bs]
            for a, b in zip(finals[bs][key], finals[1][key], strict=True)
            if a is not None and b is not None
        )
        assert batches[bs] == packing(jobs, model, bs)["batches"]  # chunks kept the plan's batches
        runs.append({
            **packing(jobs, model, bs), "seconds": seconds[bs], "speedup": single_s / seconds[bs],
            "max_final_objective_difference_vs_one_by_one": drift,
        })
        print(f"batch {bs}: {seconds[bs]:.1f} s in {batches[bs]} batches, "
              f"{single_s / seconds[bs]:.2f}x")

    result = {
        "device": str(device),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "plan": {
            "jobs": len(jobs), "images": images, "preset": preset.name,
            "preset_size": preset.size, "preset_steps": preset.steps,
            "layers": len(plan.by_layer), "pages": len(plan.by_page),
            "packing_default": packing(full_jobs, model, default),
            "packing_gpu": packing(full_jobs, model, default_batch_size("cuda")),
        },
        "timed_at": {"size": args.size, "steps": args.steps, "interleaved_chunk_jobs": chunk},
        "one_by_one": {"seconds": single_s, "batches": single_batches},
        "batched": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"planner-{device.type}-{torch.get_num_threads()}thread"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    p = result["plan"]
    lines = [
        f"Planner benchmark on {device} ({result['machine']}, load average "
        f"{result['load_average'][0]:.1f}), torch {torch.__version__}",
        "",
        f"Default plan: {p['jobs']} jobs, {p['images']} images over {p['layers']} layers and "
        f"{p['pages']} pages (preset {p['preset']}: {p['preset_size']} px, {p['preset_steps']} "
        f"steps). Timed at {args.size} px, {args.steps} steps; same jobs, same seeds, runs "
        f"interleaved {chunk} jobs at a time; artifacts written in every run.",
        "",
        "| run | batch size | batches | images per batch (mean, min-max) | seconds | speedup |",
        "|---|---|---|---|---|---|",
        f"| one by one | 1 | {single_batches} | 1.0 (1-1) | {single_s:.1f} | 1.00x |",
    ]
    for r in runs:
        lines.append(
            f"| planner | {r['batch_size']} | {r['batches']} | {r['images_per_batch_mean']:.1f} "
            f"({r['images_per_batch_min']}-{r['images_per_batch_max']}) | {r['seconds']:.1f} | "
            f"{r['speedup']:.2f}x |"
        )
    g = p["packing_gpu"]
    lines += [
        "",
        f"On a GPU the planner would pack the same plan into {g['batches']} batches of "
        f"{g['images_per_batch_mean']:.1f} images on average (batch size {g['batch_size']}).",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
