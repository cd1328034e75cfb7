"""Several models in one site: a two-model quick site against the Lite0-only quick site, side by
side in one run.

Both sites have this repository's articles (content/) and the same explorer layers; the second
also lists a model with a local checkpoint (`torchvision:resnet18` by default, random weights
saved here, at its 224 px input), so it adds that model's explorer, channel pages, circuits and
the compare page. Each build is a separate `featvis build --preset quick` process into its own
empty cache (cold), interleaved A B A B ... (`--runs` each); the wall time of each process, model
loading included. The ratio is the two-model build's median over the Lite0-only build's.

    PYTHONPATH=. python benchmarks/bench_multimodel.py --steps 8 --runs 1 \\
        [--explorer-layers "edges[-1],textures[-1],patterns[-1],parts[-1],objects[-1]"] \\
        [--second torchvision:resnet18] [--dataset PATH]

`--steps` sets the quick preset's optimizer steps (the full 96 take long on a 2-core CPU; the
ratio is what matters, and both builds run the same steps). `--explorer-layers` (band references,
which every model resolves) narrows the explorer of both: the circuits between consecutive explorer
layers dominate a cold build of every layer. Writes benchmarks/results/multimodel.json and .md.
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

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUMMARY = re.compile(
    r"^featvis: (?:(\S+): )?computed (\d+), cached (\d+), failed (\d+) in ([\d.]+) s", re.M
)


def checkpoint(model: str, folder: Path) -> Path:
    """Random weights of a torchvision model saved as a local checkpoint (seeded)."""
    import torchvision

    name = model.split(":", 1)[1]
    torch.manual_seed(0)
    path = folder / f"{name}.pth"
    torch.save(getattr(torchvision.models, name)().state_dict(), path)
    return path


def site(folder: Path, models: str, layers: list[str], dataset: str | None) -> Path:
    """A site with this repository's articles and the given `models` line of site.toml."""
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "content", folder / "content")
    lines = [models, 'device = "cpu"', 'preset = "quick"']
    if layers:
        lines.append("explorer_layers = [" + ", ".join(json.dumps(x) for x in layers) + "]")
    if dataset:
        lines.append(f"dataset = {json.dumps(str(Path(dataset).resolve()))}")
    (folder / "site.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "site.toml"


def build(config: Path, steps: int | None) -> tuple[float, str]:
    """One cold build in its own process: (wall seconds, stderr)."""
    cache = config.parent / ".featvis-cache"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(config.parent / "site_output", ignore_errors=True)
    cmd = [sys.executable, "-m", "generator", "build", "--config", str(config)]
    cmd += ["--steps", str(steps)] if steps else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr


def computed(log: str) -> dict[str, int]:
    """Visualizations computed per model, from the build's summary lines."""
    out: dict[str, int] = {}
    for m in SUMMARY.finditer(log):
        out[m.group(1) or "efficientnet_lite0"] = int(m.group(2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default: quick's 96)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--second", default="torchvision:resnet18")
    ap.add_argument("--explorer-layers", default="")
    ap.add_argument("--dataset", default=None)
    args = ap.parse_args()
    layers = [x for x in args.explorer_layers.split(",") if x]
    work = Path(tempfile.mkdtemp(prefix="featvis-bench-multimodel-"))
    try:
        weights = checkpoint(args.second, work)
        one = site(work / "one", 'model = "efficientnet_lite0"', layers, args.dataset)
        two = site(
            work / "two",
            f'models = ["efficientnet_lite0", {{model = "{args.second}", '
            f'weights = {json.dumps(str(weights))}}}]',
            layers,
            args.dataset,
        )
        times: dict[str, list[float]] = {"one": [], "two": []}
        counts: dict[str, dict[str, int]] = {}
        for run in range(args.runs):
            for name, config in (("one", one), ("two", two)):
                seconds, log = build(config, args.steps)
                times[name].append(seconds)
                counts[name] = computed(log)
                print(f"run {run + 1} {name}: {seconds:.1f} s, computed {counts[name]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(times["one"]), statistics.median(times["two"])
    result = {
        "command": "PYTHONPATH=. python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "steps": args.steps or 96,
        "second": args.second,
        "explorer_layers": layers or "all",
        "dataset": args.dataset,
        "seconds": times,
        "computed": counts,
        "ratio": b / a,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "multimodel.json").write_text(json.dumps(result, indent=1) + "\n")
    md = (
        f"| site | builds | median wall s | computed |\n|---|---|---|---|\n"
        f"| Lite0 only | {len(times['one'])} | {a:.1f} | {counts['one']} |\n"
        f"| Lite0 + {args.second} | {len(times['two'])} | {b:.1f} | {counts['two']} |\n\n"
        f"ratio {b / a:.2f}x (target <= 2.2x); {result['machine']}; steps {result['steps']}\n"
    )
    (RESULTS / "multimodel.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
