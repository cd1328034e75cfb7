"""What a channel page shows, by the two-alternative task of `bench_legibility`: the same units,
held-out photos, trial pairs and judge; each reference mode is a different set of pictures
standing for the unit (positive references against negative ones).

Reference modes on the 24 spread channels (default recipe, 128 px, 128 steps):
    picture            the channel objective's picture + its negative (the explorer today)
    diversity          4 pictures optimized together, pushed apart (`channel_page_jobs`)
                       + the negative
    diversity+picture  the picture and the 4 diverse ones + the negative
    diversity64        the 4 diverse pictures at 64 px (the model sees 64 px) + the negative
    neuron             the picture and the neuron objective's (the centre unit) + the negative
    neuron-rf          the neuron objective's picture maximized and minimized, each cut to the
                       patch the photos show (the receptive field, at least 16 px)
And on channels of the first layer (`conv_stem`, affine in the pixels), studied apart:
    picture, neuron, neuron-rf as above, and
    filters            the filter (`measure.filters.linear_filters`) drawn as an image
                       (`core.images.filter_image`) and its negation
Cost: per unit, the jobs and images beyond today's picture and negative, and their CPU seconds.

    python benchmarks/bench_references.py --cache /tmp/leg27b --name legibility-references
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from benchmarks.bench_legibility import (
    BAND_OF,
    DEFAULT_DATASET,
    HELD_OUT,
    JUDGE,
    JUDGE_LAYERS,
    band,
    bootstrap,
    cached,
    sheet,
    write_results,
)
from benchmarks.bench_recipe import spread_channels
from generator import dataset as ds
from generator.core.images import filter_image
from generator.core.memory import keep_freed_memory
from generator.dataset.index import MIN_PATCH
from generator.measure.filters import linear_filters
from generator.measure.twoafc import REFS, TRIALS, Judge, pick_accuracy, to_tensor, unit_photos
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.plan.explorer import DIVERSITY_IMAGES, DIVERSITY_WEIGHT

ROOT = Path(__file__).resolve().parents[1]
FIRST = "conv_stem"
MODES = ("picture", "diversity", "diversity+picture", "diversity64", "neuron", "neuron-rf")
FIRST_MODES = ("picture", "neuron", "neuron-rf", "filters")


def first_units(model, k: int, seed: int = 0) -> list[tuple[str, int]]:
    gen = torch.Generator().manual_seed(seed)
    chans = torch.randperm(model.layer(FIRST).channels, generator=gen)[:k]
    return [(FIRST, int(c)) for c in sorted(chans.tolist())]


# -- rendering: each kind of picture, per unit, with its CPU seconds ------------------------------
def render_sets(model, settings: RenderSettings, units, make, per: int, batch: int) -> dict:
    """`make(layer, ch)` -> the unit's objectives (`per` images, one group); batched."""
    out: dict = {"images": [], "cpu": 0.0}
    for i in range(0, len(units), batch):
        chunk = units[i:i + batch]
        objectives = [o for u in chunk for o in make(*u)]
        groups = [g for g in range(len(chunk)) for _ in range(per)]
        seeds = [k for _ in chunk for k in range(per)]
        c = time.process_time()
        result = render(model, objectives, settings, seeds=seeds, groups=groups)
        out["cpu"] += time.process_time() - c
        out["images"] += [result.images[j * per:(j + 1) * per] for j in range(len(chunk))]
        print(f"  {len(out['images'])}/{len(units)}", file=sys.stderr, flush=True)
    return out


def diverse(layer: str, ch: int) -> list:
    return [obj.channel(layer, ch) + DIVERSITY_WEIGHT * obj.diversity(layer)] * DIVERSITY_IMAGES


KINDS = {  # name -> (objectives of a unit, images per unit, settings change)
    "channel+": (lambda layer, ch: [obj.channel(layer, ch)], 1, {}),
    "channel-": (lambda layer, ch: [-obj.channel(layer, ch)], 1, {}),
    "neuron+": (lambda layer, ch: [obj.neuron(layer, ch)], 1, {}),
    "neuron-": (lambda layer, ch: [-obj.neuron(layer, ch)], 1, {}),
    "diversity": (diverse, DIVERSITY_IMAGES, {}),
    "diversity64": (diverse, DIVERSITY_IMAGES, {"size": 64}),
}


def rendered_kind(args, model, kind: str, units) -> dict:
    make, per, change = KINDS[kind]
    settings = dataclasses.replace(RenderSettings(), **change)
    key = f"references {kind} {settings!r} {units}"

    def run() -> dict:
        print(f"{kind}: rendering {len(units)} units", file=sys.stderr, flush=True)
        return render_sets(model, settings, units, make, per, args.batch)

    out = cached(Path(args.cache), key, run)
    return {"images": dict(zip(units, out["images"], strict=True)),
            "cpu_per_unit": out["cpu"] / len(units)}


# -- the references of each mode ------------------------------------------------------------------
def rf_crop(image: torch.Tensor, index, layer: str) -> torch.Tensor:
    """The centre patch of a picture the photos of `layer` show: its receptive field, at least
    MIN_PATCH px of the model's input (the picture is the model's input); whole when the
    layer's photos are whole."""
    field, size = index.receptive_field(layer), image.shape[-1]
    if field.whole:
        return image
    side = min(max(field.size, MIN_PATCH), size)
    y0 = (size - side) // 2
    return image[..., y0:y0 + side, y0:y0 + side]


def references(mode: str, r: dict, unit, index, filters) -> tuple[list, list]:
    """(positive, negative) reference images of unit i in `mode`."""
    layer, ch = unit
    i = unit
    pos, neg = r["channel+"]["images"][i][0], r["channel-"]["images"][i][0]
    if mode == "picture":
        return [pos], [neg]
    if mode == "diversity":
        return list(r["diversity"]["images"][i]), [neg]
    if mode == "diversity+picture":
        return [pos, *r["diversity"]["images"][i]], [neg]
    if mode == "diversity64":
        return list(r["diversity64"]["images"][i]), [neg]
    if mode == "neuron":
        return [pos, r["neuron+"]["images"][i][0]], [neg]
    if mode == "neuron-rf":
        return ([rf_crop(r["neuron+"]["images"][i][0], index, layer)],
                [rf_crop(r["neuron-"]["images"][i][0], index, layer)])
    if mode == "filters":
        w = filters[ch]
        scale = float(w.abs().max())
        return [to_tensor(filter_image(w, scale, 96))], [to_tensor(filter_image(-w, scale, 96))]
    raise ValueError(mode)


KINDS_OF = {"picture": (), "diversity": ("diversity",), "diversity+picture": ("diversity",),
            "diversity64": ("diversity64",), "neuron": ("neuron+",),
            "neuron-rf": ("neuron+", "neuron-"), "filters": ()}


def cost(mode: str, r: dict) -> dict:
    """Per unit, beyond today's picture and negative: jobs, images and CPU seconds."""
    kinds = KINDS_OF[mode]
    per = {"diversity": DIVERSITY_IMAGES, "diversity64": DIVERSITY_IMAGES}
    today = r["channel+"]["cpu_per_unit"] + r["channel-"]["cpu_per_unit"]
    extra = sum(r[k]["cpu_per_unit"] for k in kinds)
    return {"extra_jobs": len(kinds), "extra_images": sum(per.get(k, 1) for k in kinds),
            "extra_cpu_s": extra, "today_cpu_s": today, "ratio": (today + extra) / today}


def score(judge, emb, pairs, units, mode: str, r: dict, index, filters) -> dict:
    acc = {}
    for u in units:
        pos, neg = references(mode, r, u, index, filters)
        acc[u] = pick_accuracy(judge.embed(torch.stack([fit(p) for p in pos])),
                               judge.embed(torch.stack([fit(p) for p in neg])),
                               emb[u, "top_held"], emb[u, "bottom_held"], pairs[u])
    return summarize(acc, units)


def fit(image: torch.Tensor, size: int = 128) -> torch.Tensor:
    """Every reference at one size before it is stacked (the judge resizes to its input)."""
    return F.interpolate(image[None].float(), size=(size, size), mode="bilinear",
                         align_corners=False)[0]


def summarize(acc: dict, units) -> dict:
    values = [acc[u] for u in units]
    mean, lo, hi = bootstrap(values)
    by_band = {}
    for b in BAND_OF:
        vals = [acc[u] for u in units if band(u[0]) == b]
        if vals:
            m, bl, bh = bootstrap(vals)
            by_band[b] = {"accuracy": m, "ci95": [bl, bh], "units": len(vals)}
    return {"accuracy": mean, "ci95": [lo, hi], "by_band": by_band,
            "per_unit": {f"{u[0]}:{u[1]}": acc[u] for u in units}}


# -- the study ------------------------------------------------------------------------------------
def study(args) -> dict:
    model = load_model(device="cpu")
    units = spread_channels(model)[:: args.every]
    firsts = first_units(model, args.first)
    edges = [u for u in units if band(u[0]) == "edges"]
    r = {k: rendered_kind(args, model, k, units) for k in
         ("channel+", "channel-", "neuron+", "diversity", "diversity64")}
    r["neuron-"] = rendered_kind(args, model, "neuron-", edges)
    rf = {k: rendered_kind(args, model, k, firsts) for k in
          ("channel+", "channel-", "neuron+", "neuron-")}
    every = units + firsts
    layers = sorted({u[0] for u in every})
    config = SimpleNamespace(dataset=Path(args.dataset), cache_dir=Path(args.cache))
    index = ds.load_or_scan(config, model, layers, top_k=REFS + HELD_OUT, progress=False)
    judge = Judge("cpu")
    photos = {u: unit_photos(index, *u) for u in every}
    emb = cached(Path(args.cache), f"photos {JUDGE} {JUDGE_LAYERS} {every} {index.key}",
                 lambda: {"emb": {(u, kind): judge.embed(torch.stack(
                     [to_tensor(index.patch(e, u[0], 96)) for e in examples]))
                     for u, p in photos.items() for kind, examples in p.items()}})["emb"]
    rng = random.Random(0)  # the pairs of bench_legibility for its units, in its order
    pairs = {u: [(rng.randrange(HELD_OUT), rng.randrange(HELD_OUT)) for _ in range(TRIALS)]
             for u in every}
    natural = {u: pick_accuracy(emb[u, "top_refs"], emb[u, "bottom_refs"], emb[u, "top_held"],
                                emb[u, "bottom_held"], pairs[u]) for u in every}
    filters = linear_filters(model, FIRST)
    report: dict = {"units": units, "first_units": firsts, "modes": {}, "first": {},
                    "natural": summarize(natural, units),
                    "first_natural": summarize(natural, firsts)}
    for mode in MODES:
        if mode == "neuron-rf":
            row = score(judge, emb, pairs, edges, mode, r, index, filters)
        else:
            row = score(judge, emb, pairs, units, mode, r, index, filters)
        row["cost"] = cost(mode, r)
        report["modes"][mode] = row
        print(f"{mode}: {row['accuracy']:.3f}", file=sys.stderr, flush=True)
    for mode in FIRST_MODES:
        row = score(judge, emb, pairs, firsts, mode, rf, index, filters)
        row["cost"] = cost(mode, rf)
        report["first"][mode] = row
    sheets(args, r, rf, units, firsts, edges, photos, index, filters)
    return report


def sheets(args, r, rf, units, firsts, edges, photos, index, filters) -> None:
    out = Path(args.out)
    top = {u: to_tensor(index.patch(photos[u]["top_refs"][0], u[0], 96)) for u in units + firsts}

    def col(rs: dict, kind: str, us, k: int = 0, crop: bool = False) -> list:
        return [rf_crop(rs[kind]["images"][u][k], index, u[0]) if crop
                else rs[kind]["images"][u][k] for u in us]

    sheet([col(r, "channel+", units), *(col(r, "diversity", units, k) for k in range(4)),
           *(col(r, "diversity64", units, k) for k in range(4)), [top[u] for u in units]],
          ["picture", "diversity x4", "diversity 64 px x4", "top photo"],
          out / f"{args.name}-diversity.png", per_row=2)
    sheet([col(r, "channel+", edges), col(r, "neuron+", edges),
           col(r, "neuron+", edges, crop=True), col(r, "neuron-", edges, crop=True),
           [top[u] for u in edges]],
          ["picture", "neuron", "neuron (field) +", "neuron (field) -", "top photo"],
          out / f"{args.name}-neuron.png", tile=80, per_row=2)
    fil = [references("filters", rf, u, index, filters) for u in firsts]
    sheet([col(rf, "channel+", firsts), col(rf, "channel-", firsts), col(rf, "neuron+", firsts),
           col(rf, "neuron+", firsts, crop=True), [f[0][0] for f in fil], [f[1][0] for f in fil],
           [top[u] for u in firsts]],
          ["picture +", "picture -", "neuron", "neuron (field)", "filter", "filter -", "top photo"],
          out / f"{args.name}-first.png", tile=72, per_row=2)


def markdown(report: dict, command: str) -> str:
    def row(name: str, m: dict) -> str:
        bands = " | ".join(
            f"{m['by_band'][b]['accuracy']:.2f} [{m['by_band'][b]['ci95'][0]:.2f}, "
            f"{m['by_band'][b]['ci95'][1]:.2f}]" if b in m["by_band"] else "-" for b in BAND_OF)
        c = m.get("cost")
        spend = (f"{c['extra_jobs']} / {c['extra_images']} / {c['extra_cpu_s']:.1f} / "
                 f"{c['ratio']:.2f}x" if c else "-")
        return (f"| {name} | {m['accuracy']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}] | "
                f"{bands} | {spend} |")

    head = ("| references | 2AFC accuracy [95 % CI] | " + " | ".join(BAND_OF) +
            " | extra jobs / images / CPU s per unit / cost vs today |")
    lines = [
        f"What a channel shows, on {report['machine']} ({report['threads']} thread, load "
        f"{report['load_before']:.1f} -> {report['load_after']:.1f}): "
        f"{len(report['units'])} Lite0 channels over the five bands, and "
        f"{len(report['first_units'])} channels of {FIRST} apart. Judge: {JUDGE} "
        f"({', '.join(JUDGE_LAYERS)}); {TRIALS} trials per unit; 95 % bootstrap intervals over "
        "units. neuron-rf: the edges band only.", "", f"`{command}`", "", head,
        "|---" * (len(BAND_OF) + 3) + "|", row("natural (9 top, 9 bottom photos)",
                                               report["natural"])]
    lines += [row(name, m) for name, m in report["modes"].items()]
    lines += ["", f"The first layer ({FIRST}; "
              + ", ".join(f"{u[0]}:{u[1]}" for u in report["first_units"]) + "):", "",
              "| references | 2AFC accuracy [95 % CI] | extra jobs / images / CPU s per unit |",
              "|---|---|---|"]
    for name, m in [("natural", report["first_natural"]), *report["first"].items()]:
        c = m.get("cost")
        spend = (f"{c['extra_jobs']} / {c['extra_images']} / {c['extra_cpu_s']:.1f}"
                 if c else "-")
        lines.append(f"| {name} | {m['accuracy']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}] "
                     f"| {spend} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="every n-th of the 24 spread channels")
    ap.add_argument("--first", type=int, default=8, help=f"channels of {FIRST} studied apart")
    ap.add_argument("--batch", type=int, default=8, help="units per optimizer batch")
    ap.add_argument("--dataset", default=str(DEFAULT_DATASET))
    ap.add_argument("--cache", default="/tmp/featvis-bench-legibility")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="legibility-references")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    report = study(args)
    command = "python " + " ".join(sys.argv)
    report.update(machine=f"{os.cpu_count()} cores", threads=torch.get_num_threads(),
                  load_before=load_before, load_after=os.getloadavg()[0], command=command)
    write_results(args, report, markdown(report, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
