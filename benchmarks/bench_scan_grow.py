"""Scanning a grown photo folder: the scan of the new photos alone against a full scan.

In one process, for each round: a full scan of N photos into a fresh cache ("full N"); K photos
added, spread over the sorted list (their ids fall between the old ones'); the scan of the grown
folder from that cache ("grown", reading the K new photos only); and a full scan of the grown
folder into another fresh cache ("full N+K", what a scan of the grown folder costs without an
earlier one). The grown scan's tables are checked against the full N+K scan's (ids and positions
equal, values within 1e-4). Rounds alternate the order of the two N+K scans (A B, B A).

    PYTHONPATH=. nice -n 15 python benchmarks/bench_scan_grow.py [--photos 200] [--added 5]
        [--rounds 2] [--model efficientnet_lite0] [--dataset PATH] [--name scan-grow]

Every layer of the model is scanned (the explorer's layers by default). Writes
benchmarks/results/<name>.md and .json; the load average at the start and end is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from generator.dataset import load_or_scan
from generator.dataset.index import DatasetIndex
from generator.models import load_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"


def timed_scan(model, folder: Path, cache: Path, top_k: int) -> tuple[float, int, DatasetIndex]:
    """(seconds, photos this scan went through, index) of one `load_or_scan` of every layer."""
    start = time.perf_counter()
    index = load_or_scan(SimpleNamespace(dataset=folder, cache_dir=cache), model,
                         model.layer_names, top_k=top_k, progress=False)
    seconds = time.perf_counter() - start
    assert index is not None
    summary = index.summary
    return seconds, summary.images_read + summary.images_skipped - summary.cached, index


def largest_difference(a: DatasetIndex, b: DatasetIndex) -> tuple[bool, float]:
    """(ids and positions equal everywhere, largest difference of any value or mean)."""
    same, worst = True, 0.0
    for layer in b.layer_names:
        x, y = a._layers[layer], b._layers[layer]
        for kind in ("top", "bottom"):
            same &= torch.equal(x[kind]["ids"], y[kind]["ids"])
            same &= torch.equal(x[kind]["pos"], y[kind]["pos"])
            worst = max(worst, float((x[kind]["values"] - y[kind]["values"]).abs().max()))
        for key in ("mean", "pattern", "best_mean"):
            worst = max(worst, float((x[key] - y[key]).abs().max()))
        same &= torch.equal(x["sample_ids"], y["sample_ids"])
    return same, worst


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--added", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=8)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--name", default="scan-grow")
    args = ap.parse_args()
    load_start = os.getloadavg()
    model = load_model(args.model, device="cpu")
    pool = sorted(args.dataset.glob("*.jpg"))[: args.photos + args.added]
    step = max(1, len(pool) // max(args.added, 1))
    added = set(pool[step // 2 :: step][: args.added])  # spread over the sorted list
    old = [p for p in pool if p not in added]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            work = Path(tmp) / f"round{r}"
            folder = work / "photos"
            folder.mkdir(parents=True)
            for src in old:
                shutil.copy2(src, folder / src.name)
            full_n = timed_scan(model, folder, work / "cache", args.top_k)
            for src in added:
                shutil.copy2(src, folder / src.name)
            order = ("grown", "full") if r % 2 == 0 else ("full", "grown")
            runs = {}
            for which in order:
                cache = work / ("cache" if which == "grown" else "fresh")
                runs[which] = timed_scan(model, folder, cache, args.top_k)
            same, worst = largest_difference(runs["grown"][2], runs["full"][2])
            scans = list((work / "cache" / "dataset").iterdir())
            rows.append({
                "round": r + 1, "order": " ".join(order),
                "full_n_seconds": full_n[0], "full_n_read": full_n[1],
                "grown_seconds": runs["grown"][0], "grown_read": runs["grown"][1],
                "full_grown_seconds": runs["full"][0], "full_grown_read": runs["full"][1],
                "tables_equal": same, "largest_value_difference": worst,
                "scans_left_in_cache": len(scans),
                "cache_mb": folder_bytes(work / "cache" / "dataset") / 1e6,
                "state_mb": folder_bytes(scans[0] / "state") / 1e6,
            })
            print(json.dumps(rows[-1]), file=sys.stderr)
            shutil.rmtree(work)
    median = {key: statistics.median(row[key] for row in rows)
              for key in ("full_n_seconds", "grown_seconds", "full_grown_seconds")}
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.model, "layers": len(model.layer_names), "photos": args.photos,
        "added": args.added, "top_k": args.top_k, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "rounds": rows, "median": median,
        "grown_over_full": median["grown_seconds"] / median["full_grown_seconds"],
    }
    out = ROOT / "benchmarks" / "results" / args.name
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Scanning a grown folder ({args.model}, {len(model.layer_names)} layers, "
        f"{args.photos} photos + {args.added}, top_k {args.top_k}, {args.rounds} rounds)",
        "",
        f"`{result['command']}`; {result['machine']}, {result['threads']} threads, load average "
        f"{load_start[0]:.1f} at the start, {result['load_average_end'][0]:.1f} at the end.",
        "",
        "| round (order) | full scan of N (s) | grown: the K new photos (s, photos read) "
        "| full scan of N+K (s, photos read) | tables equal (largest difference) | scans left "
        "| state (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['round']} ({row['order']}) | {row['full_n_seconds']:.2f} | "
            f"{row['grown_seconds']:.2f}, {row['grown_read']} | "
            f"{row['full_grown_seconds']:.2f}, {row['full_grown_read']} | "
            f"{row['tables_equal']} ({row['largest_value_difference']:.1e}) | "
            f"{row['scans_left_in_cache']} | {row['state_mb']:.0f} |"
        )
    lines += ["", f"Median: the grown scan takes {median['grown_seconds']:.2f} s against "
              f"{median['full_grown_seconds']:.2f} s for a full scan of the grown folder "
              f"({result['grown_over_full']:.2f}x)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
