"""The warm rebuild after a photo folder gains a few photos: this tree's build against an older
commit's, side by side, and how many measurements each computed again.

One small site (EfficientNet-Lite0, `--preset quick`, a few explorer layers, N photos of the
ImageNet sample linked into a temporary folder): this tree builds it cold, then the older code
builds it warm (adding its own measurements), and the cache is kept as the starting point. Each
round links K more photos into the folder (spread over the sorted list), and each code rebuilds
from its own copy of that cache (the grown scan included), in alternating order (A B, B A); then
the K photos are removed. Per build: the wall time (a separate process, model loading included),
the measurements written (new files under `cache/measures/`) and the counts of its stage lines.

    git worktree add /tmp/old <commit>   (or git archive <commit> | tar -x -C /tmp/old)
    PYTHONPATH=. nice -n 15 python benchmarks/bench_measure_grow.py --old /tmp/old \\
        [--photos 120] [--added 3] [--rounds 2] [--channels 16] [--steps 8] \\
        [--layers blocks.1.0,blocks.3.0,blocks.5.0] [--name measure-grow]

Writes benchmarks/results/<name>.md and .json; the load average at the start and end is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
COUNTERS = ("pattern checks", "two-alternative scores", "accentuations")


def measures(cache: Path) -> set[str]:
    root = cache / "measures"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def build(code: Path, site: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One `featvis build` of `site` with the code at `code`: seconds, output's counters."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "generator", "build", "--steps", str(args.steps),
               "--channels", str(args.channels)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=site, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"build with {code} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    counts = {}
    for name in COUNTERS:
        found = re.findall(rf"{name}: \d+/(\d+)", done.stderr + done.stdout)
        counts[name] = int(found[-1]) if found else 0
    scan = re.findall(r"dataset scan: [^\n]*", done.stderr + done.stdout)
    return {"seconds": seconds, "counts": counts, "scan": scan[-1] if scan else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the older code's tree")
    ap.add_argument("--photos", type=int, default=120)
    ap.add_argument("--added", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--layers", default="blocks.1.0,blocks.3.0,blocks.5.0")
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--name", default="measure-grow")
    args = ap.parse_args()
    load_start = os.getloadavg()
    codes = {"old": args.old.resolve(), "new": ROOT}
    pool = sorted(args.dataset.glob("*.jpg"))[: args.photos + args.added]
    if len(pool) < args.photos + args.added:
        sys.exit(f"{args.dataset}: {len(pool)} photos, fewer than --photos + --added")
    step = max(1, len(pool) // max(args.added, 1))
    added = pool[step // 2 :: step][: args.added]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        (site / "photos").mkdir(parents=True)
        (site / "content").mkdir()
        layers = ", ".join(f'"{name}"' for name in args.layers.split(","))
        (site / "site.toml").write_text(
            f'title = "grow"\nmodel = "efficientnet_lite0"\ndataset = "photos"\n'
            f'explorer_layers = [{layers}]\npreset = "quick"\n', encoding="utf-8")
        for src in pool:
            if src not in added:
                (site / "photos" / src.name).symlink_to(src)
        cache, start = site / ".featvis-cache", Path(tmp) / "start"
        cold = build(codes["new"], site, args)
        warm_old = build(codes["old"], site, args)
        shutil.copytree(cache, start, symlinks=True)
        for r in range(args.rounds):
            for src in added:
                (site / "photos" / src.name).symlink_to(src)
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            row: dict[str, Any] = {"round": r + 1, "order": " ".join(order)}
            for which in order:
                shutil.rmtree(cache)
                shutil.copytree(start, cache, symlinks=True)
                before = measures(cache)
                run = build(codes[which], site, args)
                run["measurements_written"] = len(measures(cache) - before)
                row[which] = run
                print(json.dumps({which: run}), file=sys.stderr)
            rows.append(row)
            for src in added:
                (site / "photos" / src.name).unlink()
        shutil.rmtree(cache)
    median = {w: statistics.median(float(row[w]["seconds"]) for row in rows)
              for w in codes}
    result = {
        "command": " ".join(["python", *sys.argv]),
        "photos": args.photos, "added": args.added, "channels": args.channels,
        "layers": args.layers, "steps": args.steps,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "cold_new": cold, "warm_old": warm_old, "rounds": rows, "median_seconds": median,
        "new_over_old": median["new"] / median["old"],
    }
    out = ROOT / "benchmarks" / "results" / args.name
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Warm rebuild after adding {args.added} photo{'s' if args.added != 1 else ''} to "
        f"a folder of {args.photos} "
        f"(efficientnet_lite0, quick, {args.channels} channels x {args.layers}, "
        f"{args.rounds} rounds)",
        "",
        f"`{result['command']}`; {result['machine']}, load average {load_start[0]:.1f} at the "
        f"start, {result['load_average_end'][0]:.1f} at the end (every build under the same "
        "load, interleaved).",
        "",
        "| round | code | seconds | measurements written | pattern checks | "
        "two-alternative scores | accentuations | scan |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for which in str(row["order"]).split():
            run = row[which]
            c = run["counts"]
            lines.append(
                f"| {row['round']} | {which} | {run['seconds']:.1f} | "
                f"{run['measurements_written']} | {c['pattern checks']} | "
                f"{c['two-alternative scores']} | {c['accentuations']} | {run['scan']} |"
            )
    lines += ["", f"Median: {median['new']:.1f} s (this tree) against {median['old']:.1f} s "
              f"(the older code): {result['new_over_old']:.2f}x."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
