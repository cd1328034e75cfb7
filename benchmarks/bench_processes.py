"""CPU processes and batch size: cold `featvis build`s of one site, side by side.

Each configuration (`--configs`, named `wNbM`: N processes, batches of M) builds the same site into
its own empty cache, interleaved A B C ... A B C (`--rounds`), as separate processes with this
tree's code. The dataset scan is done once beforehand and copied into every cache (it runs in the
build's own process either way), so the builds differ only in how the visualizations, the
measurements and the accentuated photos are computed. Reports each build's wall time (model
loading included), the compute stage's seconds from its summary line, and each configuration's
median against the first one's.

    PYTHONPATH=. python benchmarks/bench_processes.py --site /tmp/site \\
        --dataset ../shared/datasets/imagenet-sample --configs w1b8,w2b4,w1b4,w2b8 --rounds 2

Without `--site` it builds a site of its own: no articles, the explorer over `--layers` (four
layers from edges to objects), the standard preset. Writes benchmarks/results/processes*.json and
.md.
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CONFIG = re.compile(r"w(\d+)b(\d+)")
SUMMARY = re.compile(r"computed (\d+), cached (\d+), failed (\d+) in ([\d.]+) s")
LAYERS = "blocks.1.1,blocks.2.1,blocks.3.0,blocks.5.2"


def make_site(root: Path, layers: str) -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "index.md").write_text("---\ntitle: processes\n---\n\nA bench site.\n")
    names = ", ".join(f'"{name}"' for name in layers.split(","))
    (root / "site.toml").write_text(f'title = "processes"\nexplorer_layers = [{names}]\n')
    return root


def featvis(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "generator", *args, "--config", str(site / "site.toml")],
        cwd=site, env=env, capture_output=True, text=True, check=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=None, help="a site folder (default: a new one)")
    ap.add_argument("--layers", default=LAYERS, help="the new site's explorer layers")
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--preset", default="standard")
    ap.add_argument("--configs", default="w1b8,w2b4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp one)")
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    configs = args.configs.split(",")
    for name in configs:
        if not CONFIG.fullmatch(name):
            ap.error(f"--configs: '{name}' is not wNbM")
    work = args.work or Path(tempfile.mkdtemp(prefix="featvis-processes-"))
    site = args.site or make_site(work / "site", args.layers)
    # not --quiet: the summary line (the compute stage's seconds) is printed only without it
    common = ("--dataset", str(args.dataset.resolve()), "--preset", args.preset)
    scan = work / "scan"
    proc = featvis(site, "scan", "--quiet", "--dataset", str(args.dataset.resolve()),
                   "--cache", str(scan))
    if proc.returncode:
        sys.exit(proc.stderr)
    rows: list[dict] = []
    for round_ in range(args.rounds):
        for name in configs:
            workers, batch = CONFIG.fullmatch(name).groups()  # type: ignore[union-attr]
            cache, out = work / f"cache-{name}-{round_}", work / f"out-{name}-{round_}"
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(scan, cache)
            start = time.perf_counter()
            proc = featvis(site, "build", *common, "--workers", workers, "--batch-size", batch,
                           "--cache", str(cache), "--output", str(out))
            seconds = time.perf_counter() - start
            if proc.returncode:
                sys.exit(f"{name}: {proc.stderr[-2000:]}")
            m = SUMMARY.search(proc.stderr + proc.stdout)
            row = {"config": name, "round": round_, "seconds": round(seconds, 1),
                   "computed": int(m[1]) if m else None,
                   "compute_seconds": float(m[4]) if m else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
    first = statistics.median(r["seconds"] for r in rows if r["config"] == configs[0])
    lines = [
        f"Processes benchmark on {platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; cold `featvis build --preset {args.preset}` with the "
        f"photos' scan copied in; `python benchmarks/bench_processes.py {' '.join(sys.argv[1:])}`",
        "",
        "| configuration | builds (s) | compute stage (s) | median / " + configs[0] + " |",
        "|---|---|---|---|",
    ]
    for name in configs:
        mine = [r for r in rows if r["config"] == name]
        median = statistics.median(r["seconds"] for r in mine)
        lines.append(
            f"| {name} | {', '.join(str(r['seconds']) for r in mine)} | "
            f"{', '.join(str(r['compute_seconds']) for r in mine)} | {median / first:.2f}x |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"processes{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / f"processes{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
