"""Class pictures per second: featvis' class-picture recipe against lucent's `render_vis`, side by
side in one run.

featvis renders the classes as a site's job would (`generator.optvis.recipe.job_options` with an
empty `[recipe]` table: the class pictures' steps and schedule), one batch per round; lucent 0.1.8
renders the same classes at its defaults (`bench_legibility.lucent_images`: 512 steps, the
standard transforms, the model seeing 224 px), one batch per round. Rounds alternate (featvis,
lucent, lucent, featvis, ...) so a change of load falls on both; each side's time is the process
CPU time of its renders, in one torch thread.

    python benchmarks/bench_class_speed.py [--classes 12] [--rounds 2]

Writes benchmarks/results/<name>.md and .json (default name class-speed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_legibility import CLASSES, lucent_images
from generator.core.memory import keep_freed_memory
from generator.metrics import clipped_fraction
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.recipe import DEFAULT_STEPS, Recipe, job_options

ROOT = Path(__file__).resolve().parent.parent
SIZE = 224  # lucent's class pictures' size and model input


def featvis_settings(model, objectives: list, size: int) -> RenderSettings:
    """The settings a site's job gives these class pictures (no `[recipe]` table)."""
    options = job_options(objectives, {}, DEFAULT_STEPS, seen=size, native=model.input_size)
    steps = options.pop("steps")
    return RenderSettings(size=size, steps=steps, recipe=Recipe(**options))


def run_featvis(model, classes: list[int], size: int) -> tuple[list[torch.Tensor], float]:
    objectives = [obj.class_logit(k) for k in classes]
    settings = featvis_settings(model, objectives, size)
    start = time.process_time()
    result = render(model, objectives, settings, seeds=[0] * len(classes))
    return list(result.images), time.process_time() - start


def run_lucent(model, classes: list[int], steps: int, size: int) -> tuple[list, float]:
    from lucent.optvis import objectives as lobj

    start = time.process_time()
    images = lucent_images(
        model, [lobj.channel("classifier", k, batch=i) for i, k in enumerate(classes)],
        steps, size,
    )
    return images, time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=len(CLASSES), help="the bench's first n")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each side (alternating)")
    ap.add_argument("--lucent-steps", type=int, default=512)
    ap.add_argument("--lucent-path", default="/tmp/lucentenv",
                    help="a folder with kornia 0.4.1 (pip install --target)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="class-speed")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    sys.path.insert(0, args.lucent_path)
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    classes = list(CLASSES[: args.classes])
    folded = load_model(device="cpu")  # what a build renders with
    as_loaded = load_model(device="cpu", fold_norms=False)  # what lucent is given
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {"featvis": [], "lucent": []}
    images: dict[str, list[torch.Tensor]] = {}
    order = ["featvis", "lucent"]
    for r in range(args.rounds):
        for side in order if r % 2 == 0 else order[::-1]:
            if side == "featvis":
                pics, cpu = run_featvis(folded, classes, SIZE)
            else:
                pics, cpu = run_lucent(as_loaded, classes, args.lucent_steps, SIZE)
            times[side].append(cpu / len(classes))
            images[side] = pics
            print(f"round {r + 1} {side}: {cpu / len(classes):.2f} CPU s per picture",
                  file=sys.stderr, flush=True)
    settings = featvis_settings(folded, [obj.class_logit(k) for k in classes], SIZE)
    median = {side: statistics.median(t) for side, t in times.items()}
    ratios = [lt / ft for ft, lt in zip(times["featvis"], times["lucent"], strict=True)]
    report = {
        "classes": classes,
        "size": SIZE,
        "threads": torch.get_num_threads(),
        "machine": f"{os.cpu_count()} cores",
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "featvis_steps": settings.steps,
        "featvis_recipe": repr(settings.recipe),
        "lucent_steps": args.lucent_steps,
        "cpu_s_per_picture": times,
        "median": median,
        "ratio_per_round": ratios,
        "speedup": median["lucent"] / median["featvis"],
        "clipped": {side: float(clipped_fraction(torch.stack(p).clamp(0, 1)).mean())
                    for side, p in images.items()},
        "command": "python " + " ".join(sys.argv),
    }
    lines = [
        f"Class pictures, {len(classes)} classes at {SIZE} px, one batch per side and round, "
        f"{args.rounds} alternating rounds, {report['threads']} thread, {report['machine']}, "
        f"load {load_before:.1f} -> {report['load_after']:.1f}.",
        f"featvis: {settings.steps} steps, {settings.recipe!r}; lucent: {args.lucent_steps} steps.",
        "",
        "| side | CPU s per picture (each round) | median | clipped pixels |",
        "|---|---|---|---|",
    ]
    for side, t in times.items():
        lines.append(f"| {side} | {', '.join(f'{v:.2f}' for v in t)} | {median[side]:.2f} | "
                     f"{100 * report['clipped'][side]:.2f} % |")
    lines += ["", f"featvis' class pictures per second over lucent's: {report['speedup']:.2f}x "
              f"(rounds: {', '.join(f'{v:.2f}x' for v in ratios)})", "",
              f"`{report['command']}`"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
