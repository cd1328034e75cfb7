"""What the two-alternative score adds to a build: the same site built with and without it, side by
side (A B A B), each time with its visualizations and dataset scan cached and the measurements
emptied (`measures/`: pattern checks, class readings, filters, the score; with `--cold-atlas` the
circuits and accentuations too), so each build measures them again and renders. The score's own
seconds are timed inside the builds that measure it.

    PYTHONPATH=. python benchmarks/bench_legibility_stage.py --preset quick --runs 2

A first build fills the cache (its seconds are reported: a cold build with the score); `--base
DIR` keeps the site and its cache in DIR (a later run reuses them, and skips that cold build's
number when DIR already held a cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from generator.build import build_site
from generator.config.site import PRESETS, load_config
from generator.core.memory import keep_freed_memory
from generator.measure import legibility
from generator.plan import measured

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
MEASURE_CACHES = ("measures",)
ATLAS_CACHES = ("circuits", "accentuation")


def site(base: Path, dataset: Path) -> Path:
    root = base / "site"
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "a.md").write_text("---\ntitle: A\n---\n\nThe explorer.\n", "utf-8")
    (root / "site.toml").write_text(
        f'cache_dir = "{base / "cache"}"\ndevice = "cpu"\ndataset = "{dataset}"\n', "utf-8")
    return root / "site.toml"


def build(config_path: Path, preset: str, score: bool, timed: list[float]) -> float:
    """One build's wall seconds; with `score`, the score's own seconds appended to `timed`."""
    real = legibility.measure_legibility

    def timer(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        out = real(*args, **kwargs)
        timed.append(time.perf_counter() - start)
        return out

    measured.measure_legibility = timer if score else (lambda *a, **k: ({}, 0))  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        build_site(load_config(config_path), preset=PRESETS[preset], quiet=True)
        return time.perf_counter() - start
    finally:
        measured.measure_legibility = real


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", choices=list(PRESETS))
    ap.add_argument("--runs", type=int, default=2, help="builds of each kind, interleaved")
    ap.add_argument("--dataset", default=str(DATASET))
    ap.add_argument("--name", default="legibility-stage")
    ap.add_argument("--base", help="keep the site and its cache here (default: a temporary folder)")
    ap.add_argument("--cold-atlas", action="store_true", help="empty circuits, accentuations too")
    args = ap.parse_args()
    keep_freed_memory()
    load = [os.getloadavg()[0]]
    base = Path(args.base or tempfile.mkdtemp(prefix="featvis-legibility-stage-"))
    fresh = not (base / "cache").exists()
    config_path = site(base, Path(args.dataset))
    first: list[float] = []
    cold: float | None = build(config_path, args.preset, True, first)
    if not fresh:
        cold, first = None, []
    caches = MEASURE_CACHES + (ATLAS_CACHES if args.cold_atlas else ())
    times: dict[str, list[float]] = {"with": [], "without": []}
    scored: list[float] = []
    for _ in range(args.runs):
        for kind in ("with", "without"):
            for name in caches:
                shutil.rmtree(base / "cache" / name, ignore_errors=True)
            times[kind].append(build(config_path, args.preset, kind == "with", scored))
            print(kind, f"{times[kind][-1]:.1f} s", file=sys.stderr, flush=True)
            if kind == "with":  # the channels the score reached
                manifest = json.loads((config_path.parent / "site_output" / "manifest.json")
                                      .read_text())
                n = sum("legibility" in c for c in manifest["channels"])
    load.append(os.getloadavg()[0])
    if not args.base:
        shutil.rmtree(base, ignore_errors=True)
    with_, without = statistics.median(times["with"]), statistics.median(times["without"])
    report = {
        "preset": args.preset, "channels_scored": n, "cold_build_s": cold, "emptied": caches,
        "score_s_in_cold_build": first[0] if first else None, "builds_s": times,
        "score_s": scored, "ratio": with_ / without, "load": load,
        "threads": torch.get_num_threads(), "cores": os.cpu_count(),
        "command": "python " + " ".join(sys.argv),
    }
    text = (
        f"Two-alternative score in the `{args.preset}` build ({n} channels scored, "
        f"{report['cores']} cores, load {load[0]:.1f} -> {load[1]:.1f}):\n\n"
        f"`{report['command']}`\n\n"
        "| | seconds (median, A B A B) |\n|---|---|\n"
        f"| build with the score ({', '.join(caches)} emptied, visualizations cached) | "
        f"{with_:.1f} |\n"
        f"| the same build without it | {without:.1f} |\n"
        f"| ratio | {with_ / without:.3f} |\n"
        f"| the score itself, in the builds with it | {statistics.median(scored):.1f} |\n"
    )
    if cold is not None:
        text += f"| a cold build with the score (first run) | {cold:.1f}" + (
            f", the score {first[0]:.1f} |\n" if first else " (scored by its processes) |\n")
    out = ROOT / "benchmarks" / "results"
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
