"""What filling every optimizer batch to the batch size costs (`generator.jobs.Batch.fill`).

In one process, on the CPU:

  - the default plan (site.toml and content/ at the repository root, the CPU's preset): its
    images, and the filler images its batches get at the CPU's default batch size and at the GPU's;
  - wall time of one job rendered alone (a batch of one, as before filling), the same job in a
    batch filled to the default size, and a full batch of that size, interleaved A B C A B C
    (`--rounds`), so other load on a shared machine falls on all of them alike; and whether the
    job's pixels are the same filled and in the full batch (they must be) and alone (they differ).

    python benchmarks/bench_batch_fill.py [--size 64] [--steps 16] [--rounds 3] [--threads 1]

Writes benchmarks/results/batch-fill.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from generator.cache.store import ArtifactStore
from generator.compute import job_depth
from generator.config.site import load_config
from generator.jobs import Batch, default_batch_size, plan_batches
from generator.models.site import load_site_models
from generator.optvis import render
from generator.stages.pipeline import plan, read_site

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(ROOT / "site.toml").with_overrides(device="cpu")
    preset = config.preset_for("cpu")
    model = load_site_models(config, "cpu")[0]
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp) / "c", report=lambda m: None)
        site = read_site(config, preset, models=[model], store=store, compute=False)
        jobs = plan(site, site.models[0]).jobs
    packing = {}
    for bs in (default_batch_size("cpu"), default_batch_size("cuda")):
        batches = plan_batches(jobs, bs, depth=lambda j: job_depth(model, j))
        packing[bs] = {"batches": len(batches), "images": sum(b.n_images for b in batches),
                       "filler": sum(b.fill for b in batches)}
    size = default_batch_size("cpu")
    small = [dataclasses.replace(j, size=args.size, steps=args.steps) for j in jobs[:size]]
    runs = {"alone": Batch(small[:1]), "filled": plan_batches(small[:1], size)[0],
            "full": plan_batches(small, size)[0]}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    pixels: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for name, batch in runs.items():
            start = time.perf_counter()
            result = render(model, batch.objectives(), batch.settings(), seeds=batch.seeds(),
                            groups=batch.groups())
            seconds[name].append(time.perf_counter() - start)
            pixels[name] = batch.split(result)[0].images
    best = {name: min(s) for name, s in seconds.items()}
    out = {
        "load_average": os.getloadavg(), "threads": args.threads, "torch": torch.__version__,
        "plan": {"jobs": len(jobs), "preset": preset.name, "packing": packing},
        "timed_at": {"size": args.size, "steps": args.steps, "rounds": args.rounds},
        "seconds": seconds,
        "filled_over_alone": best["filled"] / best["alone"],
        "full_over_alone": best["full"] / best["alone"],
        "same_pixels_filled_and_full": torch.equal(pixels["filled"], pixels["full"]),
        "same_pixels_alone_and_full": torch.equal(pixels["alone"], pixels["full"]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch-fill.json").write_text(json.dumps(out, indent=2) + "\n")
    cpu, gpu = packing[size], packing[default_batch_size("cuda")]
    lines = [
        f"Filled batches on the CPU ({args.threads} thread(s), load average "
        f"{out['load_average'][0]:.1f}), torch {torch.__version__}",
        "",
        f"Default plan: {len(jobs)} jobs, {cpu['images']} images (preset {preset.name}). "
        f"Batch size {size}: {cpu['batches']} batches, {cpu['filler']} filler images "
        f"({cpu['filler'] / cpu['images']:.1%}); batch size {default_batch_size('cuda')} (GPU): "
        f"{gpu['batches']} batches, {gpu['filler']} filler images "
        f"({gpu['filler'] / gpu['images']:.1%}).",
        "",
        f"One job at {args.size} px, {args.steps} steps, best of {args.rounds} interleaved rounds:",
        "",
        "| run | images rendered | seconds (best) | vs alone | pixels as in the full batch |",
        "|---|---|---|---|---|",
    ]
    for name, batch in runs.items():
        same = torch.equal(pixels[name], pixels["full"])
        lines.append(f"| {name} | {batch.n_images + batch.fill} | {best[name]:.2f} | "
                     f"{best[name] / best['alone']:.2f}x | {'yes' if same else 'no'} |")
    lines += ["", "    PYTHONPATH=. python benchmarks/bench_batch_fill.py "
              f"--size {args.size} --steps {args.steps} --rounds {args.rounds} "
              f"--threads {args.threads}"]
    (RESULTS / "batch-fill.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
