"""What the two-alternative score adds to a build: the same site built with and without it, side by
side (A B A B), each time with its visualizations and dataset scan cached and the measurements
emptied (`measures/`: pattern checks, class readings, filters, the score; with `--cold-atlas` the
circuits and accentuations too), so each build measures them again and renders. The score's own
seconds are timed inside the builds that measure it.

    PYTHONPATH=. python benchmarks/bench_legibility_stage.py --preset quick --runs 2

A first build fills the cache (its seconds are reported: a cold build with the score); `--base
DIR` keeps the site and its cache in DIR (a later run reuses them, and skips that cold build's
number when DIR already held a cache).

`--old TREE` times the score stage alone instead, this tree's code against TREE's (a worktree of
an older commit), each run in its own process (PYTHONPATH set to its tree) on the same site and
cache (filled by a build first unless `--base` holds one), interleaved A B A B: the site is read
and planned, then `measure_legibility` measures every explorer channel's scores into an empty
measures folder, its process CPU seconds timed. Both codes' scores must be equal; the photo files
each opened are counted too.

    git worktree add /tmp/basestage d6551a6
    PYTHONPATH=. python benchmarks/bench_legibility_stage.py --old /tmp/basestage --runs 3 \\
        --base /tmp/stagebench --dataset /tmp/stagebench/photos --name legibility-stage
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from generator.build import build_site
from generator.cache.store import ArtifactStore
from generator.config.presets import PRESETS
from generator.config.site import load_config
from generator.core.memory import keep_freed_memory
from generator.measure import legibility, twoafc
from generator.measure.store import MeasureStore
from generator.stages import measured
from generator.stages.pipeline import plan, read_site

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


def time_stage(config_path: Path, preset: str) -> dict[str, Any]:
    """The score stage alone, in this process (with whichever code PYTHONPATH names): every
    explorer channel's scores measured into an empty measures folder; its process CPU and wall
    seconds, the photo files it opened, the images its judge embedded, and the scores."""
    from PIL import Image

    config = load_config(config_path)
    site_ = read_site(config, PRESETS[preset], store=ArtifactStore(config.cache_dir))
    folder = str(config.dataset)
    opened: Counter[str] = Counter()
    embedded = [0]
    real_open, real_parts = Image.open, twoafc.Judge.parts

    def counting_open(fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(fp).startswith(folder):
            opened[str(fp)] += 1
        return real_open(fp, *args, **kwargs)

    def counting_parts(self, images):  # type: ignore[no-untyped-def]
        embedded[0] += len(images)
        return real_parts(self, images)

    cpu = wall = 0.0
    scores: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as empty:
        legibility.MeasureStore = lambda root: MeasureStore(Path(empty))  # type: ignore[assignment,misc]
        Image.open, twoafc.Judge.parts = counting_open, counting_parts  # type: ignore[method-assign]
        for one in site_.models:
            planned = plan(site_, one)
            inventory = measured.site_inventory(config, one.model, site_.preset,
                                                planned.explorer, planned)
            units = measured.legible_units(config, one.model, site_.preset, inventory)
            judge = legibility.site_judge(one.model, [m.model for m in site_.models])
            cpu0, wall0 = time.process_time(), time.perf_counter()
            verdicts, _ = legibility.measure_legibility(judge, one.dataset, site_.store, units)
            cpu += time.process_time() - cpu0
            wall += time.perf_counter() - wall0
            for (layer, channel), v in sorted(verdicts.items()):
                scores[f"{one.model.id}/{layer}/{channel}"] = [v.pictures, v.photos, v.trials]
    return {"cpu_s": cpu, "wall_s": wall, "channels": len(scores),
            "photo_opens": sum(opened.values()), "photos_opened": len(opened),
            "most_opens_of_a_photo": max(opened.values(), default=0),
            "images_embedded": embedded[0], "scores": scores}


def stage_runs(args: argparse.Namespace, config_path: Path) -> dict[str, Any]:
    """`time_stage` for the old tree and this one, each in its own process, A B A B."""
    trees = {"old": Path(args.old).resolve(), "new": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.runs):
        for name, tree in trees.items():
            proc = subprocess.run(
                [sys.executable, __file__, "--time-stage", str(config_path), "--preset",
                 args.preset], env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree,
                capture_output=True, text=True, check=True)
            runs[name].append(json.loads(proc.stdout.splitlines()[-1]))
            print(name, f"{runs[name][-1]['cpu_s']:.1f} s CPU", file=sys.stderr, flush=True)
    cpu = {name: statistics.median(r["cpu_s"] for r in got) for name, got in runs.items()}
    scores = [r["scores"] for got in runs.values() for r in got]
    return {"runs": runs, "cpu_s": cpu, "ratio": cpu["old"] / cpu["new"],
            "equal_scores": all(s == scores[0] for s in scores)}


def stage_report(args: argparse.Namespace, config_path: Path, load0: float) -> int:
    """Writes the old-against-new timing of the score stage alone (`--old`)."""
    got = stage_runs(args, config_path)
    first = {name: runs[0] for name, runs in got["runs"].items()}
    load = [load0, os.getloadavg()[0]]
    report = {"preset": args.preset, "dataset": args.dataset, "load": load,
              "cores": os.cpu_count(), "command": "python " + " ".join(sys.argv), **got}
    for runs in report["runs"].values():
        for run in runs[1:]:
            run.pop("scores")
    new, old = first["new"], first["old"]
    rows = [
        ("process CPU seconds (median)", *(f"{got['cpu_s'][k]:.1f}" for k in ("old", "new"))),
        *((f"run {i + 1}: CPU / wall seconds", f"{o['cpu_s']:.1f} / {o['wall_s']:.1f}",
           f"{n['cpu_s']:.1f} / {n['wall_s']:.1f}")
          for i, (o, n) in enumerate(zip(got["runs"]["old"], got["runs"]["new"], strict=True))),
        ("photo files opened (distinct photos)", f"{old['photo_opens']} ({old['photos_opened']})",
         f"{new['photo_opens']} ({new['photos_opened']})"),
        ("images the judge embedded", str(old["images_embedded"]), str(new["images_embedded"])),
    ]
    photos = len(list(Path(args.dataset).iterdir()))
    text = (
        f"The two-alternative score stage alone, `{args.preset}` preset, {new['channels']} "
        f"channels, {photos} photos ({report['cores']} cores, load {load[0]:.1f} -> "
        f"{load[1]:.1f}); old: `{args.old}`, new: this tree; each run its own process, "
        f"A B A B:\n\n`{report['command']}`\n\n| | old | new |\n|---|---|---|\n"
        + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
        + f"| ratio (old / new CPU) | | {got['ratio']:.2f}x |\n"
        + f"| scores equal in every run | | {'yes' if got['equal_scores'] else 'NO'} |\n"
    )
    out = ROOT / "benchmarks" / "results"
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(text)
    print(text)
    return 0 if got["equal_scores"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", choices=list(PRESETS))
    ap.add_argument("--runs", type=int, default=2, help="builds of each kind, interleaved")
    ap.add_argument("--dataset", default=str(DATASET))
    ap.add_argument("--name", default="legibility-stage")
    ap.add_argument("--base", help="keep the site and its cache here (default: a temporary folder)")
    ap.add_argument("--cold-atlas", action="store_true", help="empty circuits, accentuations too")
    ap.add_argument("--old", help="time the score stage alone: this tree against this one's")
    ap.add_argument("--time-stage", metavar="SITE_TOML", help=argparse.SUPPRESS)  # one process
    args = ap.parse_args()
    keep_freed_memory()
    if args.time_stage:
        print(json.dumps(time_stage(Path(args.time_stage), args.preset)))
        return 0
    load = [os.getloadavg()[0]]
    base = Path(args.base or tempfile.mkdtemp(prefix="featvis-legibility-stage-"))
    fresh = not (base / "cache").exists()
    config_path = site(base, Path(args.dataset))
    first: list[float] = []
    if args.old:
        try:
            if fresh:  # the pictures and the scan the stage reads
                build(config_path, args.preset, False, first)
            return stage_report(args, config_path, load[0])
        finally:
            if not args.base:
                shutil.rmtree(base, ignore_errors=True)
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
