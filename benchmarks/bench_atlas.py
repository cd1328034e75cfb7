"""Atlas benchmark: circuits cost, accentuation honesty, search speed.

    python benchmarks/bench_atlas.py circuits [--photos 16] [--k-small 1] [--k-large 5]
    python benchmarks/bench_atlas.py accent   [--per-layer 2] [--steps 128] [--weights 1,4]
    python benchmarks/bench_atlas.py search   [--keystrokes ...]
    common: [--dataset PATH] [--cache DIR] (the dataset scan is kept there and reused)

(a) circuits: see `bench_circuits`: per pair of consecutive layers the site's attribution for a
    few target channels, extrapolated to all, against the full preset's visualization time
    measured per layer in the same run, interleaved.
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
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from generator import dataset as ds
from generator.atlas.accentstore import AccentStore, accentuate_cached
from generator.atlas.accentuation import (
    accent_job,
    pattern_agreement,
    standardizer,
)
from generator.atlas.circuits import attribution_matrix, block_probe, layer_pairs, pick_photos
from generator.atlas.search import model_entries, search_index_js
from generator.cache.store import ArtifactStore
from generator.compute import compute_jobs
from generator.config.presets import PRESETS
from generator.config.site import SiteConfig
from generator.core.images import load_tensor, png_bytes
from generator.dataset.checks import layer_vectors
from generator.figures.context import DrawContext
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.recipe import Recipe
from generator.optvis.transforms import resize_for_model

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

PAGE_IMAGES = 6  # a full-preset channel: its visualization, its negative, a diversity set of 4


def vis_step_seconds(model: Any, layer: str, short: int, long: int) -> float:
    """Seconds per image-step of a batch of 8 channel visualizations of `layer` at the full
    preset's size: the difference of a `long` and a `short` render over their step difference
    (the one-off setup and final scoring cancel)."""
    channels = model.layer(layer).channels
    objectives = [obj.channel(layer, c % channels) for c in range(8)]
    times = {}
    for steps in (short, long):
        start = time.perf_counter()
        render(model, objectives, RenderSettings(size=128, steps=steps), seeds=0)
        times[steps] = time.perf_counter() - start
    return max(times[long] - times[short], 1e-9) / ((long - short) * 8)


def circuit_seconds(model: Any, source: str, target: str, photos: torch.Tensor,
                    k: int) -> float:
    """Seconds of the site's attribution (loop strategy) for `k` spread target channels."""
    channels = model.layer(target).channels
    targets = torch.linspace(0, channels - 1, min(k, channels)).round().long().tolist()
    start = time.perf_counter()
    attribution_matrix(model, source, target, photos, targets=targets)
    return time.perf_counter() - start


def bench_circuits(args: argparse.Namespace) -> dict[str, Any]:
    """Per consecutive pair of the embedded model's 18 layers, the attribution over the site's
    16 photos for `--k-small` and `--k-large` target channels (a line through both: the pair's
    fixed cost, one forward per image batch, and its cost per target channel, one backward),
    extrapolated to every target channel; each layer's block probe (the `inputs` circuit: one
    forward of one image for this model, whose blocks' inputs are the previous layer); and,
    interleaved after each pair, the visualization cost per image-step at the target layer.
    The full preset's visualization time: every channel of every layer x 6 images x 512 steps
    at its layer's rate."""
    model = load_model("efficientnet_lite0")
    files = ds.list_images(Path(args.dataset))
    chosen = pick_photos(files, args.photos, seed=0)
    photos = load_photos([Path(args.dataset) / f for f in chosen], model.input_size)
    pairs = layer_pairs(model, model.layer_names)
    vis_step_seconds(model, "conv_stem", 1, 2)  # warm up
    rows = [{"layer": "conv_stem", "channels": model.layer("conv_stem").channels,
             "vis_s_per_image_step": vis_step_seconds(model, "conv_stem", args.vis_short,
                                                      args.vis_long)}]
    for source, target in pairs:
        channels = model.layer(target).channels
        small = circuit_seconds(model, source, target, photos, args.k_small)
        large = circuit_seconds(model, source, target, photos, args.k_large)
        per_target = max(large - small, 0.0) / (min(args.k_large, channels) - args.k_small)
        fixed = max(small - per_target * args.k_small, 0.0)
        start = time.perf_counter()
        block_probe(model, target)
        probe = time.perf_counter() - start
        row = {"source": source, "layer": target, "channels": channels,
               "circuit_small_s": small, "circuit_large_s": large,
               "circuit_fixed_s": fixed, "circuit_per_target_s": per_target,
               "circuit_all_s": fixed + per_target * channels + probe, "probe_s": probe,
               "vis_s_per_image_step": vis_step_seconds(model, target, args.vis_short,
                                                        args.vis_long)}
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    for row in rows:
        row["vis_full_s"] = row["channels"] * PAGE_IMAGES * 512 * row["vis_s_per_image_step"]
    circuits = sum(r.get("circuit_all_s", 0.0) for r in rows)
    vis = sum(r["vis_full_s"] for r in rows)
    return {"context": context(), "photos": args.photos, "k": [args.k_small, args.k_large],
            "vis_steps": [args.vis_short, args.vis_long], "layers": rows,
            "circuits_all_layers_s": circuits, "full_preset_vis_s": vis,
            "ratio": circuits / vis}


# -- (b) accentuation ----------------------------------------------------------------------------


def standard_sample(
    model: Any, preset: Any, per_layer: int | None, layers: str | None = None
) -> list[tuple[str, int]]:
    """The explorer's channels of `preset` (channels 0..explorer_channels-1 of every layer), or
    the first `per_layer` of them, of every layer or of `layers` (comma-separated): a subset."""
    wanted = preset.explorer_channels if per_layer is None else per_layer
    names = set(layers.split(",")) if layers else set(model.layer_names)
    return [(info.name, c) for info in model.layers if info.name in names
            for c in range(min(wanted, info.channels))]


def ceiling(model: Any, layer: str) -> float | None:
    """The most a channel's mean activation can be: 6 where the layer ends in a ReLU6 (the
    embedded model's `conv_stem` and `conv_head`, batch norms with a ReLU6 inside), else None.
    There the gradient is also 0 wherever a position sits at 0 or 6, so a photo already half-way
    to the ceiling cannot be raised 2x."""
    modules = dict(model.net.named_modules())
    path = model.layer(layer).module_path
    owner = modules.get(path.rpartition(".")[0]) if path.endswith(".drop") else None
    act = getattr(owner, "act", None)
    return 6.0 if isinstance(act, torch.nn.ReLU6) else None


def accent_rows(
    model: Any, index: Any, channels: list[tuple[str, int]], units: list[tuple[int, Path]],
    free: dict[int, torch.Tensor], results: list[Any], size: int,
) -> list[dict[str, Any]]:
    """Per accentuated photo: activations, and the agreement with the photo of the accentuated
    image and of the channel's free visualization."""
    photos = resize_for_model(load_photos([path for _, path in units], model.input_size), size)
    rows = []
    for k, ((i, path), res) in enumerate(zip(units, results, strict=True)):
        layer, c = channels[i]
        vecs = layer_vectors(model, torch.stack([photos[k], free[i]]), [layer])[layer]
        rows.append({
            "layer": layer, "band": model.layer(layer).band, "channel": c,
            "photo": Path(path).name,
            "photo_activation": res.photo_activation,
            "image_activation": res.image_activation,
            "activation_ratio": res.image_activation / res.photo_activation
            if res.photo_activation > 0 else None,
            "ceiling": ceiling(model, layer),
            "agreement_accent": res.agreement,
            "agreement_free": pattern_agreement(vecs[1], vecs[0], standardizer(index, layer)),
            "anchor_distance": res.anchor_distance,
            "pattern_photo": res.photo_pattern, "pattern_accent": res.image_pattern,
        })
    return rows


def bench_accent(args: argparse.Namespace) -> dict[str, Any]:
    """The site's own jobs: each channel's standard visualization (`DrawContext.channel_job`,
    computed by `compute_jobs` into an artifact cache) and its top photos accentuated as
    `site_accentuations` does (the preset's size, steps and seed, anchor weight 1 unless
    `--weights`), cached under `--cache`, so an interrupted run resumes. Channels go in chunks
    of 8; the results file is rewritten after each, so a stopped run leaves what it measured."""
    model = load_model("efficientnet_lite0")
    index = scan(model, args)
    preset = PRESETS[args.preset]
    cache = Path(args.cache)
    config = SiteConfig(root=cache, cache_dir=cache / "site-cache", device="cpu")
    store = ArtifactStore(config.cache_dir)
    store.prepare()
    ctx = DrawContext(config=config, model=model, preset=preset, store=store)
    sample = standard_sample(model, preset, args.channels_per_layer, args.layers)
    by_band: dict[str, list[tuple[str, int]]] = {}
    for layer, c in sample:
        by_band.setdefault(model.layer(layer).band, []).append((layer, c))
    # round robin over the bands, so every chunk (and a stopped run) spans them
    channels = [u for group in itertools.zip_longest(*by_band.values()) for u in group if u]
    weight = float(args.weights.split(",")[0])
    rows: list[dict[str, Any]] = []
    seconds = 0.0
    for start in range(0, len(channels), 8):
        chunk = range(start, min(len(channels), start + 8))
        jobs = {i: ctx.channel_job(*channels[i]) for i in chunk}
        begin = time.perf_counter()
        compute_jobs(list(jobs.values()), model, store, quiet=True)
        units = [(i, ex.path) for i in chunk
                 for ex in index.examples(*channels[i], "top")[: args.photos_per_channel]]
        photos = load_photos([path for _, path in units], model.input_size)
        accent = [accent_job(model, *channels[i], photos[k], steps=args.steps or preset.steps,
                             size=preset.size, seed=config.seed, anchor_weight=weight,
                             **accent_recipe(args))
                  for k, (i, _) in enumerate(units)]
        results = accentuate_cached(model, accent, photos, AccentStore(cache / "accentuation"),
                                    index=index)
        seconds += time.perf_counter() - begin
        free = {i: load_tensor(store.get(job).images[0]) for i, job in jobs.items()}
        rows += accent_rows(model, index, channels, units, free, results, preset.size)
        done = {"context": context(), "preset": preset.name, "anchor_weight": weight,
                "channels_done": chunk.stop, "n_channels": len(channels),
                "n_accentuations": len(rows),
                "bands": sorted({r["band"] for r in rows}), "steps": args.steps or preset.steps,
                "size": preset.size, "seconds": seconds, "summary": summarize(rows),
                "channels": rows}
        write_result("accent", done, args.name)
        print(json.dumps({"done": chunk.stop, **done["summary"]}), file=sys.stderr, flush=True)
    return done


def accent_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """--accent-optimizer/--accent-lr as accent_job settings (none: the job's defaults)."""
    settings: dict[str, Any] = {}
    if args.accent_lr is not None:
        settings["lr"] = args.accent_lr
    if args.accent_optimizer == "nadam":  # the visualizations' recipe: warm-up, cosine decay
        settings["recipe"] = Recipe()
    return settings


def quantiles(values: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return {"min": min(values), "q1": qs[0], "median": statistics.median(values), "q3": qs[2],
            "max": max(values)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    accent = [r["agreement_accent"] for r in rows]
    free = [r["agreement_free"] for r in rows]
    ratios = [r["activation_ratio"] for r in rows if r["activation_ratio"] is not None]
    # rows where 2x the photo's activation is possible at all (below the layer's ceiling)
    room = [r["activation_ratio"] for r in rows if r["activation_ratio"] is not None
            and (r.get("ceiling") is None or 2 * r["photo_activation"] <= r["ceiling"])]
    return {
        "agreement_accent": quantiles(accent),
        "agreement_free": quantiles(free),
        "agreement_median_ratio": statistics.median(accent) / statistics.median(free)
        if statistics.median(free) > 0 else None,
        "activation_ratio": quantiles(ratios),
        "share_activation_2x": sum(r >= 2 for r in ratios) / len(rows),
        "activation_ratio_where_2x_fits": quantiles(room) if room else None,
        "rows_where_2x_fits": len(room),
        "share_agreement_above_free": sum(a > f for a, f in zip(accent, free, strict=True))
        / len(rows),
    }


# -- (c) search ----------------------------------------------------------------------------------

PASSES = 5  # each query typed this many times: the first builds result cards, later ones reuse
QUERIES = ("blocks.4.2:70", "dog", "textures", "retriever", "eyes front", "conv_head:1279")


SYNTHETIC_TYPING = """([q, passes]) => {
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
}"""

# Real key presses through the browser's input pipeline: from the keydown event to the first
# frame painted after the search box updated (a requestAnimationFrame callback, then a task:
# the frame has been drawn), so the wait for the display's next frame is counted too.
PAINT_PROBE = """() => {
    const input = document.querySelector('.fv-search-input');
    window.fvTimes = [];
    input.addEventListener('keydown', () => { window.fvT0 = performance.now(); }, true);
    input.addEventListener('input', () => {
        requestAnimationFrame(() => setTimeout(() => {
            window.fvTimes.push(performance.now() - window.fvT0);
        }, 0));
    });
}"""


def typed_to_paint(tab: Any, query: str) -> list[float]:
    """`query` typed key by key into an emptied box: keydown-to-paint per keystroke."""
    tab.fill(".fv-search-input", "")
    tab.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")
    tab.evaluate("window.fvTimes = []")
    for i, key in enumerate(query, start=1):
        tab.keyboard.type(key)
        tab.wait_for_function(f"window.fvTimes.length >= {i}")
    return list(tab.evaluate("window.fvTimes.slice()"))


def search_entries(model: Any, index: Any) -> list[Any]:
    """Every channel of the model, with its real top-photo class names and a thumbnail path."""
    pages, classes = {}, {}
    for info in model.layers:
        for c in range(info.channels):
            digest = hashlib.sha256(f"{info.name}:{c}".encode()).hexdigest()[:24]
            pages[(info.name, c)] = (f"images/{digest}/image-0.png",
                                     f"explorer/{model.id}/{info.name}/{c}.html")
            classes[(info.name, c)] = list(dict.fromkeys(
                ex.path.stem.split("_", 1)[1].replace("_", " ")
                for ex in index.examples(info.name, c, "top")))
    labels = {("blocks.4.2", 70): "eyes, front view", ("conv_head", 12): "dog snouts"}
    return model_entries(model.id, model.layers, pages, classes=classes, labels=labels)


def search_site(root: Path, js: str, script: bytes, entries: list[Any]) -> Path:
    """A page with the search box, the index and `script` as static/search.js; every thumbnail
    a real 128 px PNG (one file, hard-linked), so the browser loads and decodes them."""
    (root / "static").mkdir(parents=True)
    (root / "static" / "search.js").write_bytes(script)
    (root / "search-index.js").write_text(js, encoding="utf-8")
    gen = torch.Generator().manual_seed(0)
    thumb = root / "thumb.png"
    thumb.write_bytes(png_bytes(torch.rand(3, 128, 128, generator=gen)))
    for e in entries:
        path = root / e.thumbnail
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(thumb, path)
    page = root / "explorer" / "index.html"
    page.parent.mkdir()
    page.write_text(
        '<!doctype html><meta charset=utf-8><div class="fv-search" data-root="../">'
        '<input class="fv-search-input"><p class="fv-search-status"></p>'
        '<ol class="fv-search-results"></ol></div>'
        '<script>window.t0 = performance.now()</script>'
        '<script src="../search-index.js"></script><script src="../static/search.js"></script>'
        '<script>window.t1 = performance.now()</script>', encoding="utf-8")
    return page


def bench_search(args: argparse.Namespace) -> dict[str, Any]:
    """This tree's search.js and, with --baseline, a commit's, each in its own tab, the passes
    interleaved (A B A B): per pass every query typed with real key presses (keydown to the
    painted frame), then the same queries set by script (input event to laid-out results)."""
    from playwright.sync_api import sync_playwright

    model = load_model("efficientnet_lite0")
    index = scan(model, args)
    entries = search_entries(model, index)
    js = search_index_js(entries)
    scripts = {"this tree": (ROOT / "templates" / "static" / "search.js").read_bytes()}
    if args.baseline:
        scripts[f"baseline {args.baseline}"] = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{args.baseline}:templates/static/search.js"],
            check=True, capture_output=True).stdout
    out: dict[str, Any] = {"context": context(), "channels": len(entries),
                           "index_bytes": len(js.encode()), "candidates": {}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or
                                    "/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        tabs, runs = {}, {}
        for k, (name, script) in enumerate(scripts.items()):
            page = search_site(Path(tmp) / str(k), js, script, entries)
            tab = browser.new_page()
            tab.goto(page.as_uri())
            tab.evaluate(PAINT_PROBE)
            tab.focus(".fv-search-input")
            tabs[name] = tab
            runs[name] = {"load_and_parse_ms": tab.evaluate("window.t1 - window.t0"),
                          "painted": {q: [] for q in QUERIES}, "set": {q: [] for q in QUERIES}}
        for _ in range(PASSES):
            for name, tab in tabs.items():
                tab.bring_to_front()
                for query in QUERIES:
                    runs[name]["painted"][query].append(typed_to_paint(tab, query))
                for query in QUERIES:
                    times = tab.evaluate(SYNTHETIC_TYPING, [query, 1])["times"][0]
                    runs[name]["set"][query].append(times)
        browser.close()
    for name, run in runs.items():
        summary = {"load_and_parse_ms": run["load_and_parse_ms"]}
        for kind in ("painted", "set"):
            per_query = run[kind].values()
            summary[f"{kind}_first_pass"] = quantiles([t for q in per_query for t in q[0]])
            summary[f"{kind}_all"] = quantiles([t for q in per_query for r in q for t in r])
            summary[f"{kind}_best_of_passes"] = quantiles(
                [min(col) for q in per_query for col in zip(*q, strict=True)])
            summary[f"{kind}_share_under_50ms"] = statistics.mean(
                t < 50 for q in per_query for r in q for t in r)
        out["candidates"][name] = {"summary": summary, **run}
        print(json.dumps({name: summary}), file=sys.stderr, flush=True)
    return out


def write_result(part: str, result: dict[str, Any], name: str = "") -> Path:
    """results/atlas-<part>[-<name>].json (`--name`)."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"atlas-{part}{'-' + name if name else ''}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("circuits", "accent", "search"))
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "featvis-bench-atlas"))
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--k-small", type=int, default=1)
    parser.add_argument("--k-large", type=int, default=5)
    parser.add_argument("--vis-short", type=int, default=4)
    parser.add_argument("--vis-long", type=int, default=12)
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--channels-per-layer", type=int, default=None,
                        help="the first K of the preset's explorer channels per layer (a subset)")
    parser.add_argument("--photos-per-channel", type=int, default=3)
    parser.add_argument("--layers", default=None, help="accent: only these layers (a subset)")
    parser.add_argument("--weights", default="1")
    parser.add_argument("--steps", type=int, default=None,
                        help="accent: the accentuations' steps (default: the preset's)")
    parser.add_argument("--accent-optimizer", choices=("adam", "nadam"), default="adam",
                        help="accent: adam (constant rate, the site's) or the default recipe's "
                        "NAdam with warm-up and cosine decay")
    parser.add_argument("--accent-lr", type=float, default=None, help="accent: the (peak) rate")
    parser.add_argument("--baseline", default=None, help="search: a commit's search.js beside")
    parser.add_argument("--name", default="", help="a suffix of the result file's name")
    args = parser.parse_args()
    run = {"circuits": bench_circuits, "accent": bench_accent, "search": bench_search}[args.part]
    result = run(args)
    out = write_result(args.part, result, args.name)
    print(json.dumps({k: v for k, v in result.items() if k not in ("pairs", "channels", "runs",
                      "candidates")}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
