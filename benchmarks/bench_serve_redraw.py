"""The preview's drawing while its background compute fills the cache, two source trees side by
side (ABAB...): how often `featvis serve` draws while computing, how long those drawings take in
all, and how long the compute takes until `computing done`.

Each run copies SITE (a folder with site.toml and content/; its `cache_dir` is replaced) and
starts `python -m generator serve --port 0` with PYTHONPATH set to one tree, over a cache that
holds only the dataset scans of SEED (so the visualizations, circuits, measurements and
accentuations are computed in the background, as on a first serve, without the scan); it reads
the serve log until `computing done`. Writes results/<name>.json and .md.

    PYTHONPATH=. python3 benchmarks/bench_serve_redraw.py SITE SEED --tree old=/tmp/old \\
        --tree new=. --rounds 2 --flags "--preset quick --channels 6" --name serve-redraw
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DRAWN = re.compile(r"rendered (.*) in ([\d.]+) s( \((new visualizations|computing done)\))?")


def one_run(site: Path, seed: Path, tree: Path, flags: list[str], limit: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-redraw-"))
    shutil.copytree(site / "content", root / "content")
    if (site / "photos").is_dir():
        os.symlink((site / "photos").resolve(), root / "photos")
    text = (site / "site.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^cache_dir *=.*$', f'cache_dir = "{root / "cache"}"', text)
    (root / "site.toml").write_text(text, encoding="utf-8")
    (root / "cache").mkdir()
    for name in ("featvis-cache.json", "dataset"):
        if (seed / name).is_dir():
            shutil.copytree(seed / name, root / "cache" / name)
        elif (seed / name).is_file():
            shutil.copy(seed / name, root / "cache" / name)
    argv = [sys.executable, "-m", "generator", "serve", "--port", "0", *flags]
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    start = time.monotonic()
    process = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic() - start, line.rstrip()))
            if "computing done" in line or time.monotonic() - start > limit:
                break
    finally:
        process.terminate()
        process.wait(timeout=120)
        shutil.rmtree(root, ignore_errors=True)
    drawings = [(t, m.group(1), float(m.group(2)), m.group(4))
                for t, line in lines if (m := DRAWN.search(line))]
    landed = [d for d in drawings if d[3] == "new visualizations"]
    began = next((t for t, line in lines if "in the background" in line), 0.0)
    done = next((t for t, line in lines if "computing done" in line), None)
    return {
        "compute_seconds": None if done is None else done - began,
        "landed_drawings": len(landed),
        "landed_whole": sum(d[1].startswith("the site") for d in landed),
        "landed_drawing_seconds": sum(d[2] for d in landed),
        "log": [f"{t:7.1f} {line}" for t, line in lines],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("seed", type=Path, help="a cache whose dataset scans are reused")
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--flags", default="--preset quick")
    parser.add_argument("--limit", type=float, default=900.0, help="seconds a run may take")
    parser.add_argument("--name", default="serve-redraw")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, path in trees.items():
            runs[name].append(one_run(args.site, args.seed, Path(path), args.flags.split(),
                                      args.limit))
            print(name, {k: v for k, v in runs[name][-1].items() if k != "log"}, flush=True)
    result = {"flags": args.flags, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "trees": trees, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    table = ["| tree | drawings while computing (whole) | their seconds | compute seconds |",
             "| --- | --- | --- | --- |"]
    for name, done in runs.items():
        counts = ", ".join(f"{r['landed_drawings']} ({r['landed_whole']})" for r in done)
        seconds = ", ".join(f"{r['landed_drawing_seconds']:.1f}" for r in done)
        computed = ", ".join(f"{r['compute_seconds']:.0f}" for r in done if r["compute_seconds"])
        table.append(f"| {name} | {counts} | {seconds} | {computed} |")
    medians = {name: statistics.median(r["landed_drawing_seconds"] for r in done)
               for name, done in runs.items()}
    (RESULTS / f"{args.name}.md").write_text(
        f"`featvis serve {args.flags}` from a cache holding the dataset scans only, until "
        f"`computing done`; runs interleaved, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Median drawing seconds while computing: "
        + ", ".join(f"{n} {v:.1f}" for n, v in medians.items()) + ".\n\n" + "\n".join(table)
        + "\n"
    )
    print("\n".join(table))


if __name__ == "__main__":
    main()
