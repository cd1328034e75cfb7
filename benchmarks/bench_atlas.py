"""Atlas benchmark: circuits cost, accentuation honesty, search speed.

    python benchmarks/bench_atlas.py circuits [--photos 16] [--sample-targets 8] [--full LAYERS]
    python benchmarks/bench_atlas.py accent   [--per-layer 2] [--steps 128] [--weights 1,4]
    python benchmarks/bench_atlas.py search   [--keystrokes ...]
    common: [--dataset PATH] [--cache DIR] (the dataset scan is kept there and reused)

(a) circuits: for every consecutive pair of the embedded model's 18 layers, the attribution
    method's time for `--sample-targets` target channels over `--photos` photos (seeded sample of
    the folder, at the model's input size), both strategies (loop, batched) interleaved; scaled to
    all target channels (the cost is one forward per image batch plus one backward per target) and
    checked against a full computation of the layers in `--full`. Beside it, in the same run and
    interleaved, one optimizer step of a batch of 8 channel visualizations at the full preset's
    settings (128 px), scaled to the full preset: 3120 channels x 512 steps, one visualization per
    channel (the full preset also computes negatives and diversity sets, so this undercounts it and
    the ratio is an upper bound).
(b) accent: channels sampled (seeded) from every layer, each with its top photo from the folder's
    scan; the channel's free visualization (the standard preset: 128 px, 256 steps) and the
    accentuated photo (AccentJob defaults); per channel the pattern agreement (the cosine of
    check_patterns, standardized by the scan's channel statistics) of each image with the photo,
    and the accentuated image's activation over the photo's.
(c) search: the index of all 3120 channels of the embedded model (real top-photo class names from
    the scan, content-hash-style thumbnail paths, a few labels), its size, and in headless Chromium
    from file:// the time from an input event to the updated results list for every keystroke of a
    few queries, each typed 5 times (the first pass builds the result cards; the best of the
    passes per keystroke separates the work from other processes' load on the machine).

Writes benchmarks/results/atlas-<part>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
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
from typing import Any

import torch

from generator import dataset as ds
from generator.atlas.accentuation import accent_job, accentuate, pattern_agreement, standardizer
from generator.atlas.circuits import attribution_matrix, layer_pairs, pick_photos
from generator.atlas.search import model_entries, search_index_js
from generator.dataset.checks import layer_vectors
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
RESULTS = ROOT / "benchmarks" / "results"


def context() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "command": " ".join(sys.argv),
    }


def scan(model: Any, args: argparse.Namespace) -> Any:
    config = SimpleNamespace(dataset=Path(args.dataset), cache_dir=Path(args.cache))
    return ds.load_or_scan(config, model, model.layer_names, top_k=8, progress=False)


def load_photos(paths: list[Path], size: int) -> torch.Tensor:
    return torch.stack([ds.load_view(p, size) for p in paths]).float() / 255


# -- (a) circuits --------------------------------------------------------------------------------


def vis_step_seconds(model: Any, steps: int) -> float:
    """Seconds per image-step of a batch of 8 channel visualizations at the full preset."""
    layer = model.layer("blocks.4.0")
    objectives = [obj.channel(layer.name, c) for c in range(8)]
    result = render(model, objectives, RenderSettings(size=128, steps=steps), seeds=0)
    return result.seconds / (steps * 8)


def bench_circuits(args: argparse.Namespace) -> dict[str, Any]:
    model = load_model("efficientnet_lite0")
    files = ds.list_images(Path(args.dataset))
    chosen = pick_photos(files, args.photos, seed=0)
    photos = load_photos([Path(args.dataset) / f for f in chosen], model.input_size)
    pairs = layer_pairs(model, model.layer_names)
    vis_step_seconds(model, 2)  # warm up
    vis: list[float] = []
    rows = []
    for source, target in pairs:
        channels = model.layer(target).channels
        k = min(args.sample_targets, channels)
        targets = torch.linspace(0, channels - 1, k).round().long().tolist()
        timing = {}
        for strategy in ("loop", "batched", "loop", "batched"):
            start = time.perf_counter()
            attribution_matrix(model, source, target, photos, strategy=strategy, targets=targets)
            timing.setdefault(strategy, []).append(time.perf_counter() - start)
        vis.append(vis_step_seconds(model, args.vis_steps))
        row = {"source": source, "target": target, "targets": channels, "sampled": k,
               **{f"{s}_sample_s": min(t) for s, t in timing.items()}}
        for s in ("loop", "batched"):
            row[f"{s}_all_s"] = row[f"{s}_sample_s"] * channels / k
        print(f"{source} -> {target}: {row}", file=sys.stderr, flush=True)
        rows.append(row)
    checks = []
    for target in [t for t in args.full.split(",") if t]:
        source = next(s for s, t in pairs if t == target)
        row = next(r for r in rows if r["target"] == target)
        strategy = "loop" if row["loop_all_s"] <= row["batched_all_s"] else "batched"
        start = time.perf_counter()
        attribution_matrix(model, source, target, photos, strategy=strategy)
        checks.append({"target": target, "strategy": strategy,
                       "measured_s": time.perf_counter() - start,
                       "extrapolated_s": row[f"{strategy}_all_s"]})
        print(f"full {target}: {checks[-1]}", file=sys.stderr, flush=True)
    step = statistics.median(vis)
    full_vis = 3120 * 512 * step
    total = {s: sum(r[f"{s}_all_s"] for r in rows) for s in ("loop", "batched")}
    best = sum(min(r["loop_all_s"], r["batched_all_s"]) for r in rows)
    return {
        "context": context(),
        "photos": args.photos,
        "pairs": rows,
        "full_checks": checks,
        "vis_seconds_per_image_step": step,
        "full_preset_vis_s": full_vis,
        "circuits_all_layers_s": {**total, "best_per_pair": best},
        "ratio_best": best / full_vis,
    }


# -- (b) accentuation ----------------------------------------------------------------------------


def sample_channels(
    model: Any, per_layer: int, layer_step: int = 1, seed: int = 0
) -> list[tuple[str, int]]:
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for info in model.layers[::layer_step]:
        for c in torch.randperm(info.channels, generator=gen)[:per_layer].sort().values.tolist():
            picked.append((info.name, int(c)))
    return picked


def bench_accent(args: argparse.Namespace) -> dict[str, Any]:
    model = load_model("efficientnet_lite0")
    index = scan(model, args)
    channels = sample_channels(model, args.per_layer, args.layer_step)
    tops = [index.examples(layer, c, "top")[0].path for layer, c in channels]
    photos = load_photos(tops, model.input_size)
    size = 128
    photos_small = torch.nn.functional.interpolate(photos, size=size, mode="bilinear",
                                                   antialias=True)
    free_images = []
    for start in range(0, len(channels), 8):
        part = channels[start : start + 8]
        result = render(model, [obj.channel(lay, c) for lay, c in part],
                        RenderSettings(size=size, steps=args.free_steps), seeds=0)
        free_images.append(result.images)
    free = torch.cat(free_images)
    layers = sorted({lay for lay, _ in channels}, key=lambda n: model.layer(n).depth)
    photo_vecs = layer_vectors(model, photos_small, layers)
    free_vecs = layer_vectors(model, free, layers)
    runs = {}
    for weight in [float(w) for w in args.weights.split(",")]:
        results = []
        start_all = time.perf_counter()
        for start in range(0, len(channels), 8):
            part = list(range(start, min(len(channels), start + 8)))
            jobs = [accent_job(model, channels[i][0], channels[i][1], photos_small[i],
                               anchor_weight=weight, steps=args.steps) for i in part]
            results += accentuate(model, jobs, photos_small[part], index=index)
        seconds = time.perf_counter() - start_all
        rows = []
        for i, ((layer, c), res) in enumerate(zip(channels, results, strict=True)):
            stats = standardizer(index, layer)
            rows.append({
                "layer": layer, "channel": c, "photo": tops[i].name,
                "photo_activation": res.photo_activation,
                "image_activation": res.image_activation,
                "activation_ratio": res.image_activation / res.photo_activation
                if res.photo_activation > 0 else None,
                "agreement_accent": res.agreement,
                "agreement_free": pattern_agreement(free_vecs[layer][i], photo_vecs[layer][i],
                                                    stats),
                "anchor_distance": res.anchor_distance,
                "pattern_photo": res.photo_pattern, "pattern_accent": res.image_pattern,
            })
        runs[str(weight)] = {"seconds": seconds, "summary": summarize(rows), "channels": rows}
        print(json.dumps({"weight": weight, **runs[str(weight)]["summary"]}), file=sys.stderr,
              flush=True)
    return {"context": context(), "n_channels": len(channels), "steps": args.steps,
            "free_steps": args.free_steps, "runs": runs}


def quantiles(values: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return {"min": min(values), "q1": qs[0], "median": statistics.median(values), "q3": qs[2],
            "max": max(values)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    accent = [r["agreement_accent"] for r in rows]
    free = [r["agreement_free"] for r in rows]
    ratios = [r["activation_ratio"] for r in rows if r["activation_ratio"] is not None]
    return {
        "agreement_accent": quantiles(accent),
        "agreement_free": quantiles(free),
        "agreement_median_ratio": statistics.median(accent) / statistics.median(free)
        if statistics.median(free) > 0 else None,
        "activation_ratio": quantiles(ratios),
        "share_activation_2x": sum(r >= 2 for r in ratios) / len(rows),
        "share_agreement_above_free": sum(a > f for a, f in zip(accent, free, strict=True))
        / len(rows),
    }


# -- (c) search ----------------------------------------------------------------------------------

PASSES = 5  # each query typed this many times: the first builds result cards, later ones reuse
QUERIES = ("blocks.4.2:70", "dog", "textures", "retriever", "eyes front", "conv_head:1279")


def bench_search(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    model = load_model("efficientnet_lite0")
    index = scan(model, args)
    pages, classes = {}, {}
    for info in model.layers:
        for c in range(info.channels):
            digest = hashlib.sha256(f"{info.name}:{c}".encode()).hexdigest()[:24]
            pages[(info.name, c)] = (f"images/{digest[:2]}/{digest}-0.png",
                                     f"explorer/{model.id}/{info.name}/{c}.html")
            classes[(info.name, c)] = list(dict.fromkeys(
                ex.path.stem.split("_", 1)[1].replace("_", " ")
                for ex in index.examples(info.name, c, "top")))
    labels = {("blocks.4.2", 70): "eyes, front view", ("conv_head", 12): "dog snouts"}
    entries = model_entries(model.id, model.layers, pages, classes=classes, labels=labels)
    js = search_index_js(entries)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "static").mkdir()
        shutil.copy(ROOT / "templates" / "static" / "search.js", root / "static" / "search.js")
        (root / "search-index.js").write_text(js, encoding="utf-8")
        page = root / "explorer" / "index.html"
        page.parent.mkdir()
        page.write_text(
            '<!doctype html><meta charset=utf-8><div class="fv-search" data-root="../">'
            '<input class="fv-search-input"><p class="fv-search-status"></p>'
            '<ol class="fv-search-results"></ol></div>'
            '<script>window.t0 = performance.now()</script>'
            '<script src="../search-index.js"></script><script src="../static/search.js"></script>'
            '<script>window.t1 = performance.now()</script>', encoding="utf-8")
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless",
                                        "--no-sandbox", "--disable-gpu"])
            tab = browser.new_page()
            tab.goto(page.as_uri())
            load_ms = tab.evaluate("window.t1 - window.t0")
            per_query = {}
            for query in QUERIES:
                per_query[query] = tab.evaluate("""([q, passes]) => {
                    const input = document.querySelector('.fv-search-input');
                    const times = [];  // times[pass][keystroke]
                    for (let p = 0; p < passes; p++) {
                        const row = [];
                        input.value = '';
                        input.dispatchEvent(new Event('input'));
                        for (let i = 1; i <= q.length; i++) {
                            const t = performance.now();
                            input.value = q.slice(0, i);
                            input.dispatchEvent(new Event('input'));
                            document.body.offsetHeight;  // force style and layout
                            row.push(performance.now() - t);
                        }
                        times.push(row);
                    }
                    return {times: times, hits: document.querySelectorAll('.fv-search-hit').length,
                            status: document.querySelector('.fv-search-status').textContent};
                }""", [query, PASSES])
            browser.close()
    first = [t for q in per_query.values() for t in q["times"][0]]
    every = [t for q in per_query.values() for row in q["times"] for t in row]
    best = [min(col) for q in per_query.values() for col in zip(*q["times"], strict=True)]
    return {
        "context": context(),
        "channels": len(entries),
        "index_bytes": len(js.encode()),
        "load_and_parse_ms": load_ms,
        "keystroke_ms_first_pass": quantiles(first),
        "keystroke_ms_all_passes": quantiles(every),
        "keystroke_ms_best_of_passes": quantiles(best),
        "queries": per_query,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("circuits", "accent", "search"))
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "featvis-bench-atlas"))
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--sample-targets", type=int, default=8)
    parser.add_argument("--vis-steps", type=int, default=8)
    parser.add_argument("--full", default="blocks.1.0,blocks.4.0")
    parser.add_argument("--per-layer", type=int, default=2)
    parser.add_argument("--layer-step", type=int, default=1, help="every k-th layer")
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--free-steps", type=int, default=256)
    parser.add_argument("--weights", default="1")
    args = parser.parse_args()
    run = {"circuits": bench_circuits, "accent": bench_accent, "search": bench_search}[args.part]
    result = run(args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"atlas-{args.part}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("pairs", "channels", "runs",
                      "queries")}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
