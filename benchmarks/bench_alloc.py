"""The C allocator keeping freed blocks (`generator.core.memory`) against glibc's defaults.

The setting is per process and cannot be undone, so each variant runs in a process of its own,
started A B B A per round so that drift in the machine's speed falls on both alike. Each process
loads EfficientNet-Lite0 (folded, as `load_model` gives it) and times the work of
`bench_fold.py`: the bare forward+backward floor at one layer per band, the engine benchmark's 12
visualizations, accentuations of photos at three layers, and the dataset scan's forward passes
(no gradient, every layer captured, the model's input size). It also counts the minor page
faults and the peak resident memory of each process.

    PYTHONPATH=. python benchmarks/bench_alloc.py --dataset ../shared/datasets/imagenet-sample

Writes benchmarks/results/alloc*.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fold import (  # noqa: E402
    accentuations,
    floor,
    scan,
    visualizations,
    work_arguments,
    write_results,
)

from generator.core.memory import keep_freed_memory  # noqa: E402
from generator.dataset.folder import load_view  # noqa: E402
from generator.models import load_model  # noqa: E402

VARIANTS = ("glibc defaults", "freed kept")


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def child(args: argparse.Namespace) -> dict:
    """One variant's measurements, in this process."""
    applied = keep_freed_memory() if args.child == VARIANTS[1] else False
    torch.set_num_threads(args.threads)
    model = load_model()
    out: dict = {"applied": applied, "seconds": {}, "faults": {}, "values": {}}

    def record(task: str, work) -> None:
        before = faults()
        took, values = work()
        out["seconds"][task] = took
        out["faults"][task] = faults() - before
        if values is not None:
            out["values"][task] = values

    record("floor", lambda: (floor(model, args.batch, args.size, args.floor_steps), None))
    record("visualizations", lambda: visualizations(model, args.batch, args.size, args.steps))
    if args.dataset is not None:
        paths = sorted(p for p in args.dataset.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"})
        photos = torch.stack([load_view(p, model.input_size).float() / 255
                              for p in paths[: args.photos]])
        record("accentuations", lambda: accentuations(model, photos[: args.batch], args.size))
        record("scan", lambda: (scan(model, photos), None))
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = work_arguments(__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=64, help="photos the scan reads")
    ap.add_argument("--name", default="alloc")
    ap.add_argument("--child", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args)))
        return
    passed = sys.argv[1:]
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds):
        order = list(VARIANTS) if round_ % 2 == 0 else list(reversed(VARIANTS))
        for variant in order + order[::-1]:
            done = subprocess.run([sys.executable, __file__, *passed, "--child", variant],
                                  check=True, capture_output=True, text=True)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs[variant].append(run)
            print(variant, {k: round(v, 2) for k, v in run["seconds"].items()},
                  f"{run['max_rss_mb']:.0f} MB", file=sys.stderr)
    base, kept = (runs[v] for v in VARIANTS)
    if not all(r["applied"] for r in kept):
        raise SystemExit("the allocator settings did not take in this process (not glibc?)")
    rows = []
    for task in base[0]["seconds"]:
        b = statistics.median(r["seconds"][task] for r in base)
        k = statistics.median(r["seconds"][task] for r in kept)
        row = {"task": task, "defaults_s": b, "kept_s": k, "ratio": k / b,
               "faults": [statistics.median(r["faults"][task] for r in rs) for rs in (base, kept)]}
        if task in base[0]["values"]:
            row["mean_value"] = [statistics.fmean(rs[0]["values"][task]) for rs in (base, kept)]
        rows.append(row)
    rss = [statistics.median(r["max_rss_mb"] for r in rs) for rs in (base, kept)]
    result = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
              "batch": args.batch, "size": args.size, "steps": args.steps,
              "rounds": args.rounds, "rows": rows, "max_rss_mb": rss, "runs": runs}
    cells = []
    for row in rows:
        val = row.get("mean_value")
        cells.append([row["task"], f"{row['defaults_s']:.2f}", f"{row['kept_s']:.2f}",
                      f"{row['ratio']:.2f}x", f"{row['faults'][0]:.0f}, {row['faults'][1]:.0f}",
                      f"{val[0]:.3f}, {val[1]:.3f}" if val else "-"])
    write_results(
        args.name, result,
        f"Freed blocks kept against glibc's defaults ({args.threads} thread(s), batch "
        f"{args.batch}, {args.size} px, {args.rounds} rounds A B B A, a process per run)",
        ["work", "defaults (s, median)", "freed kept (s, median)", "kept / defaults",
         "page faults (defaults, kept)", "mean activation (defaults, kept)"], cells,
        (f"Peak resident memory (median): {rss[0]:.0f} MB with the defaults, "
         f"{rss[1]:.0f} MB with freed blocks kept.",),
    )

if __name__ == "__main__":
    main()
