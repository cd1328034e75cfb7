"""The floor of a finished build's optimizer work: what its steps cost as bare network passes.

Reads every visualization job (the artifact sidecars) and every accentuation job (the
accentuation sidecars) in a build's cache, packs them into batches as the build does (the
visualizations with `plan_batches`, deepest layer last, batches of the device's default size;
the accentuations by batch signature, in layer order), and times the bare forward+backward pass
of the network truncated after each batch's deepest layer at the batch's size (`bench_engine.
floor_seconds`, the same timing the engine benchmark's floor uses). A batch's floor is that
time per step times its steps. The sum, divided by the number of processes that share the work,
is the least any engine could spend on these steps with this network on this machine, before
the parameterization, the transforms, the objective, the optimizer and the accentuations' anchor
pass.

    PYTHONPATH=. python benchmarks/bench_build_floor.py --cache SITE/.featvis-cache --processes 2

Writes benchmarks/results/build-floor*.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import floor_seconds  # noqa: E402
from bench_fold import write_results  # noqa: E402

from generator.atlas.accentuation import batch_signature  # noqa: E402
from generator.cache.store import META_FILE  # noqa: E402
from generator.compute import job_depth  # noqa: E402
from generator.core.memory import keep_freed_memory  # noqa: E402
from generator.jobs import VisJob, default_batch_size, plan_batches  # noqa: E402
from generator.models import load_model  # noqa: E402


def vis_batches(cache: Path, model, batch_size: int) -> list[tuple[str, int, int, int]]:
    """(deepest layer, images, steps, size) per batch of the cache's visualization jobs."""
    jobs = []
    for meta in sorted(cache.glob(f"??/*/{META_FILE}")):
        job = VisJob.from_dict(json.loads(meta.read_text())["job"])
        if job.model == model.id:
            jobs.append(job)
    out = []
    for batch in plan_batches(jobs, batch_size, depth=lambda j: job_depth(model, j)):
        deepest = max(batch.jobs, key=lambda j: job_depth(model, j))
        layer = max((name for o in deepest.objectives for name in o.layers),
                    key=lambda name: model.layer(name).depth,
                    default=model.layers[-1].name)  # the logits: the last layer's (+ a linear)
        out.append((layer, batch.n_images, deepest.steps, deepest.size))
    return out


def accent_batches(cache: Path, model, batch_size: int) -> list[tuple[str, int, int, int]]:
    """The same for the accentuation jobs (`<cache>/accentuation/`)."""
    by_signature: dict[str, list[dict]] = {}
    for meta in sorted((cache / "accentuation").glob("??/*.json")):
        job = json.loads(meta.read_text())["job"]
        if job["model"] == model.id:
            by_signature.setdefault(batch_signature(job), []).append(job)
    out = []
    for jobs in by_signature.values():
        jobs.sort(key=lambda j: model.layer(j["layer"]).depth)
        for start in range(0, len(jobs), batch_size):
            part = jobs[start : start + batch_size]
            out.append((part[-1]["layer"], len(part), part[-1]["steps"], part[-1]["size"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="a built site's cache folder")
    ap.add_argument("--processes", type=int, default=2, help="processes that shared the work")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--timing-steps", type=int, default=8, help="steps timed per (layer, size)")
    ap.add_argument("--name", default="build-floor")
    args = ap.parse_args()
    keep_freed_memory()  # as the command line's processes run
    torch.set_num_threads(args.threads)
    model = load_model()
    batch_size = default_batch_size(model.device.type)
    work = {"visualizations": vis_batches(args.cache, model, batch_size),
            "accentuations": accent_batches(args.cache, model, batch_size)}
    per_step: dict[tuple[str, int, int], float] = {}
    for batches in work.values():
        for shape in sorted(Counter((layer, n, size) for layer, n, _, size in batches)):
            layer, n, size = shape
            if shape not in per_step:
                per_step[shape] = floor_seconds(
                    model, layer, n, size, args.timing_steps, model.device) / args.timing_steps
    rows, cells = [], []
    for task, batches in work.items():
        images = sum(n for _, n, _, _ in batches)
        seconds = sum(per_step[(layer, n, size)] * steps for layer, n, steps, size in batches)
        rows.append({"task": task, "batches": len(batches), "images": images,
                     "floor_s": seconds, "floor_wall_s": seconds / args.processes})
        cells.append([task, str(len(batches)), str(images), f"{seconds:.1f}",
                      f"{seconds / args.processes:.1f}"])
    result = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
              "processes": args.processes, "batch_size": batch_size, "rows": rows,
              "per_step_s": {f"{k[0]} x{k[1]} {k[2]}px": v for k, v in per_step.items()}}
    write_results(
        args.name, result,
        f"The floor of a build's optimizer work ({args.cache}; {args.threads} thread(s) a "
        f"process, {args.processes} processes, batches of {batch_size})",
        ["work", "batches", "images", "floor (s, one process)",
         f"floor (s, {args.processes} processes)"], cells,
    )


if __name__ == "__main__":
    main()
