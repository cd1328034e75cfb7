"""One refresh of the preview when one layer's channels land, against a whole drawing of the same
site, side by side in one process (ABAB...), no compute running.

SITE is a site whose cache holds everything (`featvis build` with the same preset). Each round
takes LAYER's explorer channels out of the cache, draws the site as `featvis serve` does (with
placeholders), puts them back and times (a) the refresh a landing makes and (b) a whole drawing
of the same cache. Writes results/<name>.json and .md.

    PYTHONPATH=. python3 benchmarks/bench_serve_refresh.py SITE --layer blocks.3.2 \\
        --flags "--preset quick --channels 6" --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from generator.cli import build_parser, check_flags
from generator.commands.build import _config
from generator.commands.common import preset_from_args
from generator.serve.preview import Preview

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--layer", required=True)
    parser.add_argument("--flags", default="--preset quick")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="serve-refresh")
    args = parser.parse_args()
    os.chdir(args.site)
    flags = check_flags(build_parser().parse_args(["serve", *args.flags.split()]))
    said: list[str] = []

    def preview() -> Preview:
        return Preview(flags, read_config=lambda: _config(flags), say=said.append,
                       read_preset=lambda c, d: preset_from_args(c, flags, d), compute=False)

    first = preview()
    assert first.refresh() and first._renderer is not None
    jobs = list(first._renderer.states[0].inventory[args.layer].values())
    folders = [first._renderer.store.path(job.key) for job in jobs]
    first.close()
    aside = args.site / "bench-aside"
    aside.mkdir(exist_ok=True)
    landing: list[float] = []
    whole: list[float] = []
    lines: list[str] = []
    for _ in range(args.rounds):
        for folder in folders:
            folder.rename(aside / folder.name)
        one = preview()
        try:
            assert one.refresh()
            for folder in folders:
                (aside / folder.name).rename(folder)
            one._drawn_at = 0.0
            start = time.perf_counter()
            assert one.refresh(landed=True)
            landing.append(time.perf_counter() - start)
            lines.append(said[-1])
            start = time.perf_counter()
            assert one.refresh()
            whole.append(time.perf_counter() - start)
            lines.append(said[-1])
        finally:
            one.close()
            for folder in folders:
                if (aside / folder.name).exists():
                    (aside / folder.name).rename(folder)
    shutil.rmtree(aside, ignore_errors=True)
    ratio = statistics.median(whole) / statistics.median(landing)
    result = {"flags": args.flags, "layer": args.layer, "channels": len(jobs),
              "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "landing_seconds": landing, "whole_seconds": whole, "ratio": ratio, "log": lines}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = (
        f"`featvis serve {args.flags}`: the refresh when the {len(jobs)} channels of "
        f"{args.layer} land, against a whole drawing of the same cache, {args.rounds} rounds "
        f"interleaved in one process, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end.\n\n"
        "| drawing | median (s) | each round (s) |\n| --- | --- | --- |\n"
        f"| a landing's refresh | {statistics.median(landing):.2f} | "
        f"{', '.join(f'{v:.2f}' for v in landing)} |\n"
        f"| the whole site | {statistics.median(whole):.2f} | "
        f"{', '.join(f'{v:.2f}' for v in whole)} |\n\nRatio (whole / landing): {ratio:.1f}\n"
    )
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
