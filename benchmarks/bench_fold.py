"""Batch norms folded into their convolutions, against the network as loaded: side by side.

Loads EfficientNet-Lite0 twice, with its batch norms folded (`load_model`'s default,
`generator.models.fold`) and without (`fold_norms=False`), and times the same work on both,
interleaved A B B A per round so that drift in the machine's speed falls on both alike:

- floor: bare forward+backward of the network truncated after one layer per band, at the batch
  and size a visualization uses;
- visualizations: the engine benchmark's 12 channels (`bench_engine.UNITS`), rendered with the
  default recipe at `--steps`, in batches of `--batch` ordered by depth as the planner packs them;
- accentuations (with `--dataset`): one photo per channel of three layers, with the site's
  accentuation settings (`generator.atlas.site`);
- scan: forward passes (no gradient) capturing every layer, at the model's input size, batches of
  16, as the dataset scan runs them.

Reports each one's seconds for both, their ratio (folded / as loaded), and how close the results
are: the largest logit difference on random images, and the mean activation the visualizations
and accentuations reach with each.

    PYTHONPATH=. python benchmarks/bench_fold.py --dataset ../shared/datasets/imagenet-sample

Writes benchmarks/results/fold*.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import UNITS, floor_seconds, measure  # noqa: E402

from generator.atlas.accentuation import accent_job, accentuate  # noqa: E402
from generator.atlas.site import ACCENT_LR, ACCENT_RECIPE  # noqa: E402
from generator.config.presets import PRESETS  # noqa: E402
from generator.dataset.folder import load_view  # noqa: E402
from generator.models import LoadedModel, load_model  # noqa: E402
from generator.optvis import RenderSettings, render  # noqa: E402
from generator.optvis import objectives as obj  # noqa: E402
from generator.optvis.render import truncated_forward  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FLOOR_LAYERS = ("blocks.1.1", "blocks.2.1", "blocks.3.2", "blocks.5.3", "conv_head")
ACCENT_LAYERS = ("blocks.1.1", "blocks.3.2", "blocks.5.3")


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = work()
    return time.perf_counter() - start, out


def floor(model: LoadedModel, batch: int, size: int, steps: int) -> float:
    return sum(floor_seconds(model, layer, batch, size, steps, model.device)
               for layer in FLOOR_LAYERS)


def visualizations(model: LoadedModel, batch: int, size: int, steps: int) -> tuple[float, list]:
    settings = RenderSettings(size=size, steps=steps)
    ordered = sorted(UNITS, key=lambda u: model.layer(u[0]).depth)
    images, seconds = {}, 0.0
    for start in range(0, len(ordered), batch):
        chunk = ordered[start : start + batch]
        took, result = timed(lambda chunk=chunk: render(
            model, [obj.channel(name, c) for name, c in chunk], settings, seeds=[0] * len(chunk)
        ))
        seconds += took
        images.update(zip(chunk, result.images, strict=True))  # type: ignore[attr-defined]
    return seconds, measure(model, UNITS, [images[u] for u in UNITS], size)


def accentuations(model: LoadedModel, photos: torch.Tensor, size: int) -> tuple[float, list]:
    seconds, values = 0.0, []
    settings = {"steps": PRESETS["standard"].accent_steps, "size": size, "lr": ACCENT_LR,
                "recipe": ACCENT_RECIPE}
    for layer in ACCENT_LAYERS:
        jobs = [accent_job(model, layer, i, photos[i], **settings) for i in range(len(photos))]
        took, results = timed(lambda jobs=jobs: accentuate(model, jobs, photos))
        seconds += took
        values += [r.image_activation for r in results]  # type: ignore[attr-defined]
    return seconds, values


def scan(model: LoadedModel, photos: torch.Tensor) -> float:
    names = [info.name for info in model.layers]
    start = time.perf_counter()
    with torch.no_grad(), truncated_forward(model, names) as (acts, run):
        for i in range(0, len(photos), 16):
            run(photos[i : i + 16])
            for name in names:
                acts[name].mean(dim=(2, 3))
    return time.perf_counter() - start


def work_arguments(description: str) -> argparse.ArgumentParser:
    """The options of the work this benchmark (and `bench_alloc.py`) times."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a CPU process's: 1)")
    ap.add_argument("--batch", type=int, default=4, help="images per batch (the CPU's: 4)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=64, help="visualization steps")
    ap.add_argument("--floor-steps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dataset", type=Path, default=None, help="photos for accentuation and scan")
    return ap


def main() -> None:
    ap = work_arguments(__doc__.splitlines()[0])
    ap.add_argument("--name", default="fold")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = {"as loaded": load_model(fold_norms=False), "folded": load_model()}
    probe = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = [m.net(probe) for m in models.values()]
    logit_diff = float((logits[0] - logits[1]).abs().max())
    photos = None
    if args.dataset is not None:
        paths = sorted(p for p in args.dataset.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"})
        size = models["folded"].input_size
        photos = torch.stack([load_view(p, size).float() / 255 for p in paths[:32]])
    seconds: dict[str, dict[str, list[float]]] = {}
    quality: dict[str, dict[str, list[float]]] = {}

    def record(task: str, name: str, took: float, values: list | None = None) -> None:
        seconds.setdefault(task, {}).setdefault(name, []).append(took)
        if values is not None:
            quality.setdefault(task, {})[name] = values
        print(f"{task:15s} {name:9s} {took:7.2f} s", file=sys.stderr)

    for round_ in range(args.rounds):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for name in order + order[::-1]:
            model = models[name]
            record("floor", name, floor(model, args.batch, args.size, args.floor_steps))
            took, values = visualizations(model, args.batch, args.size, args.steps)
            record("visualizations", name, took, values)
            if photos is not None:
                took, values = accentuations(model, photos[: args.batch], args.size)
                record("accentuations", name, took, values)
                record("scan", name, scan(model, photos))
    rows = []
    for task, by in seconds.items():
        before, after = statistics.median(by["as loaded"]), statistics.median(by["folded"])
        row = {"task": task, "as_loaded_s": before, "folded_s": after, "ratio": after / before,
               "runs": len(by["folded"])}
        if task in quality:
            row["mean_activation"] = {n: statistics.fmean(v) for n, v in quality[task].items()}
        rows.append(row)
    result = {
        "machine": platform.processor() or platform.machine(), "threads": args.threads,
        "batch": args.batch, "size": args.size, "steps": args.steps, "rounds": args.rounds,
        "max_logit_difference": logit_diff, "rows": rows, "seconds": seconds,
    }
    cells = []
    for row in rows:
        act = row.get("mean_activation")
        cells.append([row["task"], f"{row['as_loaded_s']:.2f}", f"{row['folded_s']:.2f}",
                      f"{row['ratio']:.2f}x",
                      f"{act['as loaded']:.2f}, {act['folded']:.2f}" if act else "-"])
    write_results(
        args.name, result,
        f"Batch norms folded ({args.threads} thread(s), batch {args.batch}, {args.size} px, "
        f"{args.rounds} rounds A B B A; largest logit difference {logit_diff:.2e})",
        ["work", "as loaded (s, median)", "folded (s, median)", "folded / as loaded",
         "mean activation as loaded, folded"], cells,
    )


def write_results(name: str, result: dict, title: str, header: list[str],
                  cells: list[list[str]], notes: tuple[str, ...] = ()) -> None:
    """results/<name>.json, and results/<name>.md: the title, a table, notes (also printed)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    lines += [*([""] if notes else []), *notes]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
