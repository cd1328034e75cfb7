"""Build benchmark: this tree's `featvis build` against an older commit's, side by side.

Both codes build the same site (the older commit's site.toml and content/, which both can build,
with a photo folder) as separate processes, each with its own PYTHONPATH and output folder:

  - warm: one shared cache filled first (the old build cold, then the new build, which adds what
    only it computes), then warm rebuilds interleaved A B B A ... (`--runs` each), nothing to
    compute; the wall time of each process, model loading included;
  - cold (`--cold-preset`, `--cold-runs`): each build into its own empty cache, interleaved. The
    new build does more (channel pages' negatives, circuits, accentuated photos), so beside the
    totals it reports the like-for-like parts: the seconds per visualization of the compute phase
    (from each build's summary line, same engine) and the new build's measure stage (from its
    stage lines, timestamped here as they arrive).

    git worktree add /tmp/old 07889ec
    PYTHONPATH=. python benchmarks/bench_build.py --old /tmp/old --steps 8 --runs 3 \\
        --dataset ../shared/datasets/imagenet-sample --cold-preset quick --cold-runs 1 \\
        [--explorer-layers conv_stem,blocks.0.0,blocks.1.0]

`--explorer-layers` narrows the explorer of both builds (the new build also computes the circuits
between consecutive explorer layers), for a cache that is quicker to fill.

`--steps` lowers the optimizer steps of the warm site's preset only (set in the preset table by a
small launcher, as the old build has no --steps flag): its cache is cheap to fill, and a warm
rebuild optimizes nothing, so the steps change nothing it does. Writes
benchmarks/results/build.json and build.md.
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
RESULTS = ROOT / "benchmarks" / "results"
# `featvis ARGS` with every preset's steps set to argv[1] (0: unchanged), for either code (the
# old build has no --steps flag; its presets live in generator.config, the new in .config.site).
LAUNCH = """
import dataclasses, importlib, sys
steps = int(sys.argv[1])
config = importlib.import_module("generator.config")
presets = getattr(config, "site", config).PRESETS
for name, preset in list(presets.items()):
    presets[name] = dataclasses.replace(preset, steps=steps) if steps else preset
from generator.cli import main
sys.exit(main(sys.argv[2:]))
"""
SUMMARY = re.compile(r"computed (\d+), cached (\d+), failed (\d+) in ([\d.]+) s")


def make_site(folder: Path, old: Path, cache: Path, args: argparse.Namespace) -> Path:
    folder.mkdir(parents=True)
    shutil.copytree(old / "content", folder / "content")
    lines = ['title = "featvis"', 'content_dir = "content"', f'cache_dir = "{cache}"',
             'device = "cpu"', "seed = 0"]
    if args.dataset:
        lines.append(f'dataset = "{Path(args.dataset).resolve()}"')
    if args.explorer_layers:
        layers = ", ".join(f'"{name}"' for name in args.explorer_layers.split(","))
        lines.append(f"explorer_layers = [{layers}]")
    (folder / "site.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def run_build(tree: Path, site: Path, out: str, preset: str, steps: int | None,
              cache: Path | None = None) -> dict[str, Any]:
    """One `featvis build` of `site` by the code in `tree`; wall time and timestamped stderr."""
    argv = [sys.executable, "-c", LAUNCH, str(steps or 0), "build", "--config",
            str(site / "site.toml"), "--preset", preset, "--output", str(site / out)]
    argv += ["--cache", str(cache)] if cache else []
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=site, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdout is not None
    lines = [(time.perf_counter() - start, line.rstrip()) for line in proc.stderr]
    stdout = proc.stdout.read()
    code = proc.wait()
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{tree}: build failed ({code}):\n" + "\n".join(t for _, t in lines[-20:]))
    return {"wall": wall, "stderr": lines, "stdout": stdout.strip()}


def phases(run: dict[str, Any]) -> dict[str, Any]:
    """The compute summary (visualizations, seconds) and the stage lines' offsets."""
    out: dict[str, Any] = {"wall": run["wall"]}
    for _, line in run["stderr"]:
        if m := SUMMARY.search(line):
            out["computed"], out["compute_s"] = int(m[1]), float(m[4])
    stages = {line.split("stage ", 1)[1].split(":")[0]: t for t, line in run["stderr"]
              if line.startswith("featvis: stage ")}
    # every stage's seconds, to the next stage's line (the last one to the process's end)
    order = sorted(stages.items(), key=lambda kv: kv[1])
    out["stages"] = {name: round((order[k + 1][1] if k + 1 < len(order) else run["wall"]) - t, 1)
                     for k, (name, t) in enumerate(order)}
    out["log"] = [f"{t:7.1f} {line}" for t, line in run["stderr"][-400:]]
    if "measure" in stages and "render" in stages:
        out["measure_s"] = stages["render"] - stages["measure"]
    if "compute" in stages and "measure" in stages:
        out["compute_stage_s"] = stages["measure"] - stages["compute"]
    if out.get("computed"):
        out["s_per_vis"] = out["compute_s"] / out["computed"]
    return out


def warm(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cache = work / "warm-cache"
    site = make_site(work / "warm", args.old, cache, args)
    trees = {"old": args.old.resolve(), "new": ROOT}
    for name in ("old", "new"):  # fill the cache: each computes what it needs
        first = phases(run_build(trees[name], site, f"out-{name}", args.preset, args.steps))
        print(f"fill {name}: {first}", flush=True)
    times: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(args.runs):  # A B B A ...: a load that rises or falls favours neither
        for name in ("old", "new") if i % 2 == 0 else ("new", "old"):
            got = phases(run_build(trees[name], site, f"out-{name}", args.preset, args.steps))
            if got.get("computed"):
                raise SystemExit(f"warm {name} run {i} computed {got['computed']} visualizations")
            times[name].append(got["wall"])
            print(f"warm {name} {i}: {got['wall']:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"runs": times, "median": med, "ratio": med["new"] / med["old"]}


def cold(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    site = make_site(work / "cold", args.old, work / "unused", args)
    trees = {"old": args.old.resolve(), "new": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for i in range(args.cold_runs):
        for name in ("old", "new"):
            cache = work / f"cold-cache-{name}-{i}"
            got = phases(run_build(trees[name], site, f"out-{name}-{i}", args.cold_preset,
                                   args.cold_steps, cache=cache))
            runs[name].append(got)
            shutil.rmtree(cache, ignore_errors=True)
            print(f"cold {name} {i}: {got}", flush=True)
    return {"runs": runs}


def table(result: dict[str, Any]) -> str:
    w = result["warm"]
    rows = [
        f"Build benchmark on {result['machine']}; old = {result['old_commit']}, new = this tree; "
        f"{result['command']}",
        "",
        "| measure | old | new | new / old |",
        "|---|---|---|---|",
    ]
    if w:
        rows.append(f"| warm rebuild, {result['preset']} (median of {len(w['runs']['old'])}, s) "
                    f"| {w['median']['old']:.1f} | {w['median']['new']:.1f} | {w['ratio']:.2f}x |")
    c = result.get("cold")
    if c:
        for i, (o, n) in enumerate(zip(c["runs"]["old"], c["runs"]["new"], strict=True)):
            rows.append(f"| cold build, {result['cold_preset']}, run {i + 1} (s) | {o['wall']:.1f}"
                        f" | {n['wall']:.1f} | {n['wall'] / o['wall']:.2f}x |")
            rows.append(f"| visualizations computed | {o.get('computed')} | {n.get('computed')}"
                        " | |")
            if o.get("s_per_vis") and n.get("s_per_vis"):
                rows.append(f"| compute phase, s per visualization | {o['s_per_vis']:.2f} | "
                            f"{n['s_per_vis']:.2f} | {n['s_per_vis'] / o['s_per_vis']:.2f}x |")
            for stage, seconds in n.get("stages", {}).items():
                rows.append(f"| new build's stage '{stage}' (s) | | {seconds:.1f} | |")
            if n.get("measure_s") is not None:
                rows.append(f"| measure stage (checks, circuits, accentuations; s) | (in render)"
                            f" | {n['measure_s']:.1f} | |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="a worktree of the older commit")
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--steps", type=int, default=None, help="warm site's steps (cheap fill)")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--explorer-layers", default=None,
                        help="comma-separated explorer layers (default: every layer)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-preset", default="quick")
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--cold-steps", type=int, default=None, help="cold builds' steps")
    parser.add_argument("--name", default="", help="suffix of the result files")
    parser.add_argument("--work", type=Path, default=None, help="keep the sites here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="featvis-bench-build-"))
    old_commit = subprocess.run(["git", "-C", str(args.old), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "old_commit": old_commit, "preset": args.preset, "steps": args.steps,
        "explorer_layers": args.explorer_layers,
        "cold_preset": args.cold_preset, "command": "python " + " ".join(sys.argv),
        "warm": warm(args, work) if args.runs else None,
    }
    result["cold_steps"] = args.cold_steps
    if args.cold_runs:
        result["cold"] = cold(args, work)
    result["machine"] += f" (load at the end {os.getloadavg()[0]:.1f})"
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=1, default=str) + "\n"
    (RESULTS / f"build{args.name}.json").write_text(text)
    (RESULTS / f"build{args.name}.md").write_text(table(result))
    print(table(result))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
