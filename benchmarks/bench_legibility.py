"""Legibility benchmark: can a picture tell which photos excite its unit? Every candidate recipe
against lucent's `render_vis` and natural exemplars, side by side, on the same units.

(a) The two-alternative task (a machine version of Borowski et al., ICLR 2021): for each unit
    (the 24 Lite0 channels of `bench_recipe.SPREAD`, over the five bands) its references, a
    candidate's visualization and negative (the channel objective maximized and minimized), or the
    unit's 9 top and 9 bottom photos (the natural ceiling), predict which of two held-out photos
    excites the unit more: one of its top 5 % (by spatial maximum, the dataset scan's top table,
    the patch its peak sees), one of its bottom 5 % (by spatial mean, the scan's per-photo means,
    the same-sized patch at the centre). The pick is the photo whose embedding in an independent
    trained network (EfficientNet-Lite1: pooled features of four stages, each unit-normalized) is
    closer to the positive references than to the negative ones. 20 trials per unit; 95 %
    bootstrap intervals over units.
(b) Pixel statistics against natural photos (64 of the folder at the candidates' size): clipped
    share (`generator.metrics.clipped_fraction`), saturation (HSV), colourfulness
    (Hasler-Suesstrunk) and the slope of the radially averaged power spectrum.
(c) Class visualizations (12 classes, `class_logit`, 224 px): clipped share.
(d) Contact sheets: each candidate's channel pictures beside lucent's and the top photo.
Also the final objective, the high-frequency share and CPU seconds per visualization.

lucent (PyPI torch-lucent, with kornia 0.4.1 on `--lucent-path`) renders its default: its image
parameterization, standard transforms, Adam at 0.05, 512 steps, the model seeing 224 px; its
images of one layer run as one batch (objectives summed per image), which changes its speed, not
its pictures. Rendered images are cached per recipe in --cache (a candidate added later reuses
the others'); the seconds reported are those of the run that rendered them.

    python benchmarks/bench_legibility.py --candidates before,default --name legibility
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from PIL import Image

from benchmarks.bench_recipe import spread_channels
from generator import dataset as ds
from generator.core.memory import keep_freed_memory
from generator.dataset.folder import list_images, load_view
from generator.measure.twoafc import (
    REFS,
    TRIALS,
    Judge,
    photo,
    pick_accuracy,
    trial_pairs,
    unit_photos,
)
from generator.metrics import clipped_fraction, high_freq_share
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
BAND_OF = {"edges": ("conv_stem", "blocks.0.0", "blocks.1.1"),
           "textures": ("blocks.2.1", "blocks.3.1"), "patterns": ("blocks.3.2", "blocks.4.1"),
           "parts": ("blocks.4.2", "blocks.5.2"),
           "objects": ("blocks.5.3", "blocks.6.0", "conv_head")}
CLASSES = (1, 9, 130, 207, 279, 309, 417, 497, 717, 817, 949, 980)  # goldfish ... volcano
HELD_OUT = 50  # 5 % of the 1000 photos held out (REFS references, TRIALS pairs: the task's)
JUDGE = "efficientnet_lite1"
JUDGE_LAYERS = ("blocks.1.2", "blocks.3.3", "blocks.5.4", "conv_head")

# name -> the settings the channel pictures use (the class pictures: the same, model at 224 px)
CANDIDATES: dict[str, RenderSettings] = {
    # the recipe before: lucid's 1/f^decay at decay 1.6, NAdam at a peak of 0.10
    "before": RenderSettings(lr=0.10, param=ParamSpec(decay=1.6, anchored=False)),
    "default": RenderSettings(),  # the anchored spectrum at decay 1.4, a peak of 0.30
    "lucid-lr05": RenderSettings(lr=0.05, param=ParamSpec(decay=1.0)),
    "lucid-lr20": RenderSettings(lr=0.20, param=ParamSpec(decay=1.0)),
    "anchored12-lr20": RenderSettings(lr=0.20, param=ParamSpec(decay=1.2)),
    # twice the steps (the class pictures' study, benchmarks/bench_legibility_classes.py)
    "lucid-lr20-s256": RenderSettings(lr=0.20, steps=256, param=ParamSpec(decay=1.0)),
    "anchored12-lr20-s256": RenderSettings(lr=0.20, steps=256, param=ParamSpec(decay=1.2)),
    "default-s256": RenderSettings(steps=256),
    "default-s192": RenderSettings(steps=192),
    "anchored12-lr30-s256": RenderSettings(steps=256, param=ParamSpec(decay=1.2)),
    # twice the steps, the first part at a smaller model input (low frequencies first)
    "default-s256-coarse50": RenderSettings(steps=256, recipe=Recipe(coarse=0.5)),
    "default-s256-coarse50-x60": RenderSettings(
        steps=256, recipe=Recipe(coarse=0.5, coarse_scale=0.6)),
    "default-s256-coarse30": RenderSettings(steps=256, recipe=Recipe(coarse=0.3)),
    "default-coarse50": RenderSettings(recipe=Recipe(coarse=0.5)),
    "default-s192-coarse50": RenderSettings(steps=192, recipe=Recipe(coarse=0.5)),
}


def band(layer: str) -> str:
    return next(b for b, layers in BAND_OF.items() if layer in layers)


# -- the two-alternative task: generator.measure.twoafc (the build's measure stage runs it too) --
def bootstrap(values: list[float], draws: int = 2000) -> tuple[float, float, float]:
    rng = random.Random(0)
    boot = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(draws))
    return statistics.fmean(values), boot[int(0.025 * draws)], boot[int(0.975 * draws)]


# -- pixel statistics -----------------------------------------------------------------------------
def pixel_stats(images: torch.Tensor) -> dict[str, list[float]]:
    x = images.float().clamp(0, 1)
    r, g, b = x[:, 0] * 255, x[:, 1] * 255, x[:, 2] * 255
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = (rg.flatten(1).std(1) ** 2 + yb.flatten(1).std(1) ** 2).sqrt() + 0.3 * (
        rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2).sqrt()
    mx, mn = x.max(dim=1).values, x.min(dim=1).values
    saturation = ((mx - mn) / mx.clamp(min=1e-6)).flatten(1).mean(1)
    return {"clipped": clipped_fraction(x).tolist(), "saturation": saturation.tolist(),
            "colourfulness": colourful.tolist(), "spectrum_slope": spectrum_slope(x).tolist(),
            "high_freq_share": high_freq_share(x).tolist()}


def spectrum_slope(x: torch.Tensor) -> torch.Tensor:
    """Per image: the slope of log power against log frequency (natural photos: about -2)."""
    grey = x.mean(dim=1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.rfft2(grey, norm="ortho").abs() ** 2
    s = x.shape[-1]
    fy = torch.fft.fftfreq(s).abs()[:, None]
    fx = torch.fft.rfftfreq(s)[None, :]
    f = (fy**2 + fx**2).sqrt()
    keep = (f > 2 / s) & (f < 0.45)
    lf = f[keep].log()
    lp = power[:, keep].clamp(min=1e-12).log()
    lf_c = lf - lf.mean()
    return ((lp - lp.mean(dim=1, keepdim=True)) * lf_c).sum(1) / (lf_c**2).sum()


# -- rendering ------------------------------------------------------------------------------------
def render_featvis(model, settings: RenderSettings, units, classes, class_size: int,
                   batch: int) -> dict:
    """Positive and negative channel pictures, then class pictures; CPU seconds of each."""
    out: dict = {"pos": [], "neg": [], "final": [], "cpu": 0.0, "wall": 0.0}
    for sign in ("pos", "neg"):
        for i in range(0, len(units), batch):
            chunk = units[i:i + batch]
            objectives = [obj.channel(layer, c) * (1 if sign == "pos" else -1)
                          for layer, c in chunk]
            t, c = time.perf_counter(), time.process_time()
            result = render(model, objectives, settings, seeds=[0] * len(chunk))
            out["wall"] += time.perf_counter() - t
            out["cpu"] += time.process_time() - c
            out[sign] += list(result.images)
            if sign == "pos":
                out["final"] += result.final.tolist()
    c = time.process_time()
    result = render(model, [obj.class_logit(k) for k in classes],
                    dataclasses.replace(settings, size=class_size, input_size=224),
                    seeds=[0] * len(classes))
    out["class_cpu"] = time.process_time() - c
    out["classes"] = list(result.images)
    return out


def lucent_images(model, terms: list, steps: int, size: int) -> list[torch.Tensor]:
    """lucent's `render_vis` at its defaults: one batch, `terms[i]` the objective of image i
    (`lucent.optvis.objectives` terms with `batch=i`, summed), the model seeing 224 px."""
    from lucent.optvis import param as lparam
    from lucent.optvis import render as lrender
    from lucent.optvis import transform as ltransform

    objective = terms[0]
    for term in terms[1:]:
        objective = objective + term
    torch.manual_seed(0)
    images = lrender.render_vis(
        model.net, objective, param_f=lambda: lparam.image(size, batch=len(terms)),
        transforms=ltransform.standard_transforms + [model.preprocess],
        thresholds=(steps,), preprocess=False, progress=False, show_image=False,
        fixed_image_size=224,
    )[-1]
    return [torch.from_numpy(im).permute(2, 0, 1).float() for im in images]


def render_lucent(model, units, classes, steps: int, size: int, class_size: int) -> dict:
    """lucent's render_vis defaults; one batch per layer (objectives summed over the batch)."""
    from lucent.optvis import objectives as lobj

    def run(terms: list, size: int = size) -> list[torch.Tensor]:
        return lucent_images(model, terms, steps, size)

    out: dict = {"pos": [], "neg": [], "cpu": 0.0}
    c = time.process_time()
    for layer in dict.fromkeys(u[0] for u in units):
        chans = [ch for name, ch in units if name == layer]
        lname = model.layer(layer).module_path.replace(".", "_")
        out["pos"] += run([lobj.channel(lname, ch, batch=i) for i, ch in enumerate(chans)])
        out["neg"] += run([-lobj.channel(lname, ch, batch=i) for i, ch in enumerate(chans)])
    out["cpu"] = time.process_time() - c
    c = time.process_time()
    out["classes"] = run([lobj.channel("classifier", k, batch=i) for i, k in enumerate(classes)],
                         class_size)
    out["class_cpu"] = time.process_time() - c
    return out


def cached(cache: Path, key: str, make) -> dict:
    path = cache / f"render-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        return torch.load(path)
    value = make()
    value["key"] = key
    torch.save(value, path)
    return value


# -- contact sheets -------------------------------------------------------------------------------
def sheet(columns: list[list[torch.Tensor]], labels: list[str], path: Path, tile: int = 64,
          per_row: int = 4) -> None:
    """Units in rows of `per_row`, each unit a strip of the columns' images (one column per
    label: e.g. candidate +, candidate -, lucent +, lucent -, top photo)."""
    n, k = len(columns[0]), len(columns)
    gap = 6
    strip = k * tile + gap
    rows = (n + per_row - 1) // per_row
    img = Image.new("RGB", (per_row * strip, rows * (tile + 2) + 14), "white")
    from PIL import ImageDraw

    ImageDraw.Draw(img).text((2, 1), " | ".join(labels), fill="black")
    for u in range(n):
        x0, y0 = (u % per_row) * strip, 14 + (u // per_row) * (tile + 2)
        for j, col in enumerate(columns):
            x = (col[u].float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            tile_img = Image.fromarray(x).resize((tile, tile), Image.Resampling.BILINEAR)
            img.paste(tile_img, (x0 + j * tile, y0))
    img.save(path, optimize=True)


# -- the study ------------------------------------------------------------------------------------
def render_all(args, model, units) -> dict[str, dict]:
    """Every candidate's pictures (and lucent's), from the cache or rendered now."""
    cache, classes = Path(args.cache), CLASSES[: args.classes]
    rendered: dict[str, dict] = {}
    for name in args.candidates:
        settings = CANDIDATES[name]
        key = f"featvis {name} {settings!r} {units} {classes} {args.class_size}"
        rendered[name] = cached(cache, key, lambda s=settings: render_featvis(
            model, s, units, classes, args.class_size, args.batch))
        print(f"{name}: rendered", file=sys.stderr, flush=True)
    if args.lucent_steps:
        if args.lucent_path:
            sys.path.insert(0, args.lucent_path)
        lucent_units = units[:: args.lucent_every]
        few = classes[: args.lucent_classes]
        key = f"lucent {args.lucent_steps} {args.size} {lucent_units} {few} {args.class_size}"
        rendered["lucent"] = cached(cache, key, lambda: render_lucent(
            model, lucent_units, few, args.lucent_steps, args.size, args.class_size))
        print("lucent: rendered", file=sys.stderr, flush=True)
    return rendered


def study(args) -> dict:
    model = load_model(device=args.device)
    units = spread_channels(model)[:: args.every]
    lucent_units = units[:: args.lucent_every]
    rendered = render_all(args, model, units)
    if args.render_only:
        return {}
    layers = sorted({u[0] for u in units})
    config = SimpleNamespace(dataset=Path(args.dataset), cache_dir=Path(args.cache))
    index = ds.load_or_scan(config, model, layers, top_k=REFS + HELD_OUT, progress=False)
    judge = Judge(load_model(JUDGE, device=args.device), JUDGE_LAYERS)
    rng = random.Random(0)
    photos = {unit: unit_photos(index, *unit, REFS, HELD_OUT) for unit in units}

    def embed_photos() -> dict:
        return {(unit, kind): judge.embed(torch.stack([photo(index, e, unit[0]) for e in examples]))
                for unit, p in photos.items() for kind, examples in vars(p).items()}

    emb = cached(Path(args.cache), f"photos {JUDGE} {JUDGE_LAYERS} {units} {index.key}",
                 lambda: {"emb": embed_photos()})["emb"]
    pairs = {u: trial_pairs(HELD_OUT, HELD_OUT, TRIALS, rng) for u in units}
    report: dict = {"units": units, "lucent_units": lucent_units, "candidates": {}}
    natural = {u: pick_accuracy(emb[u, "top_refs"], emb[u, "bottom_refs"], emb[u, "top_held"],
                                emb[u, "bottom_held"], pairs[u]) for u in units}
    report["candidates"]["natural"] = summarize_2afc(natural, units, lucent_units)
    views = torch.stack([load_view(Path(args.dataset) / f, args.size)
                         for f in list_images(Path(args.dataset))[::15][:64]]).float() / 255
    report["natural_pixels"] = medians(pixel_stats(views))
    for name, r in rendered.items():
        names = lucent_units if name == "lucent" else units
        pos, neg = judge.embed(torch.stack(r["pos"])), judge.embed(torch.stack(r["neg"]))
        acc = {u: pick_accuracy(pos[i:i + 1], neg[i:i + 1], emb[u, "top_held"],
                                emb[u, "bottom_held"], pairs[u]) for i, u in enumerate(names)}
        row = summarize_2afc(acc, names, lucent_units)
        stats = pixel_stats(torch.stack(r["pos"]))
        row["pixels"] = medians(stats)
        row["clipped_by_band"] = {b: statistics.median(
            c for u, c in zip(names, stats["clipped"], strict=True) if band(u[0]) == b)
            for b in BAND_OF if any(band(u[0]) == b for u in names)}
        class_clipped = clipped_fraction(torch.stack(r["classes"])).tolist()
        row["class_clipped"] = statistics.fmean(class_clipped)
        row["class_clipped_max"] = max(class_clipped)
        if "lucent" in rendered:  # on the classes lucent drew
            row["class_clipped_lucents"] = statistics.fmean(
                class_clipped[: len(rendered["lucent"]["classes"])])
        row["cpu_s_per_vis"] = r["cpu"] / (2 * len(names))
        row["class_cpu_s_per_vis"] = r["class_cpu"] / len(r["classes"])
        if "final" in r:
            row["median_objective"] = statistics.median(r["final"])
        report["candidates"][name] = row
    out = Path(args.out)
    top = [photo(index, photos[u].top_refs[0], u[0]) for u in units]
    for name, r in rendered.items():
        if name == "lucent":
            continue
        cols, labels = [r["pos"], r["neg"]], [f"{name} +", f"{name} -"]
        if "lucent" in rendered:
            at = [units.index(u) for u in lucent_units]
            cols = [[c[i] for i in at] for c in cols]
            cols += [rendered["lucent"]["pos"], rendered["lucent"]["neg"]]
            labels += ["lucent +", "lucent -"]
            cols.append([top[i] for i in at])
        else:
            cols.append(top)
        sheet(cols, labels + ["top photo"], out / f"{args.name}-{name}.png")
        cls = [r["classes"]]
        if "lucent" in rendered:  # the classes lucent drew, each beside lucent's
            cls = [r["classes"][: len(rendered["lucent"]["classes"])],
                   rendered["lucent"]["classes"]]
        sheet(cls, [name] + (["lucent"] if "lucent" in rendered else []),
              out / f"{args.name}-{name}-classes.png", tile=96, per_row=6)
    return report


def summarize_2afc(acc: dict, units, lucent_units) -> dict:
    values = [acc[u] for u in units if u in acc]
    mean, lo, hi = bootstrap(values)
    row = {"accuracy": mean, "ci95": [lo, hi], "per_unit": {f"{u[0]}:{u[1]}": acc[u]
                                                            for u in units if u in acc}}
    row["by_band"] = {b: statistics.fmean(acc[u] for u in units if u in acc and band(u[0]) == b)
                      for b in BAND_OF if any(u in acc and band(u[0]) == b for u in units)}
    row["on_lucent_units"] = statistics.fmean(acc[u] for u in lucent_units if u in acc)
    return row


def medians(stats: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in stats.items()}


def markdown(report: dict, command: str) -> str:
    c = report["candidates"]
    nat = report["natural_pixels"]
    lines = [
        f"Legibility on {report['machine']} ({report['threads']} threads, load "
        f"{report['load_before']:.1f} -> {report['load_after']:.1f}): {len(report['units'])} "
        "Lite0 channels over the five bands; " + (
            f"lucent on {len(report['lucent_units'])} of them ({report['lucent_steps']} steps)"
            if report["lucent_steps"] else "no lucent") +
        f". Judge: {JUDGE} ({', '.join(JUDGE_LAYERS)}).",
        "", f"`{command}`", "",
        "| references | 2AFC accuracy [95 % CI] | on lucent's units | edges | textures | "
        "patterns | parts | objects |", "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in c.items():
        b = row["by_band"]
        lines.append(f"| {name} | {row['accuracy']:.3f} [{row['ci95'][0]:.3f}, "
                     f"{row['ci95'][1]:.3f}] | {row['on_lucent_units']:.3f} | "
                     + " | ".join(f"{b.get(k, float('nan')):.2f}" for k in BAND_OF) + " |")
    lines += ["", "| pictures | clipped (median) | class pictures clipped (mean, max) | "
              "saturation | colourfulness | spectrum slope | HF share | median objective | "
              "CPU s / channel vis. | CPU s / class vis. |", "|---" * 10 + "|",
              f"| natural photos | {nat['clipped']:.2%} | - | {nat['saturation']:.3f} | "
              f"{nat['colourfulness']:.1f} | {nat['spectrum_slope']:.2f} | "
              f"{nat['high_freq_share']:.3f} | - | - | - |"]
    for name, row in c.items():
        if "pixels" not in row:
            continue
        p = row["pixels"]
        obj_ = f"{row['median_objective']:.2f}" if "median_objective" in row else "-"
        lucents = (f" (lucent's classes: {row['class_clipped_lucents']:.2%})"
                   if "class_clipped_lucents" in row else "")
        lines.append(
            f"| {name} | {p['clipped']:.2%} | {row['class_clipped']:.2%}, "
            f"{row['class_clipped_max']:.2%}{lucents} | {p['saturation']:.3f} | "
            f"{p['colourfulness']:.1f} | "
            f"{p['spectrum_slope']:.2f} | {p['high_freq_share']:.3f} | {obj_} | "
            f"{row['cpu_s_per_vis']:.2f} | {row['class_cpu_s_per_vis']:.2f} |")
    lines += ["", "Clipped share per band (median over the band's channels):", "",
              "| pictures | " + " | ".join(BAND_OF) + " |", "|---" * (len(BAND_OF) + 1) + "|"]
    for name, row in c.items():
        if "clipped_by_band" in row:
            lines.append(f"| {name} | " + " | ".join(
                f"{row['clipped_by_band'].get(b, float('nan')):.2%}" for b in BAND_OF) + " |")
    recipes = report["recipes"]
    lines += ["", "Recipes: " + "; ".join(f"{n}: {recipes[n]}" for n in recipes)]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default="before,default", help="comma-separated names")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--every", type=int, default=1, help="every n-th of the 24 spread channels")
    ap.add_argument("--classes", type=int, default=len(CLASSES), help="the first n classes")
    ap.add_argument("--render-only", action="store_true",
                    help="only render the candidates into --cache (one process per candidate, "
                    "then one run without it reads them all)")
    ap.add_argument("--size", type=int, default=128, help="lucent's image size")
    ap.add_argument("--class-size", type=int, default=224,
                    help="the class pictures' size (everyone's; the model sees 224 px)")
    ap.add_argument("--lucent-steps", type=int, default=512, help="0: no lucent")
    ap.add_argument("--lucent-every", type=int, default=2, help="lucent renders every n-th unit")
    ap.add_argument("--lucent-classes", type=int, default=len(CLASSES),
                    help="lucent draws the first n of the classes")
    ap.add_argument("--device", default="cpu")
    args = parse_study_args(ap, "legibility")
    load_before = os.getloadavg()[0]
    report = study(args)
    if args.render_only:
        return 0
    command = "python " + " ".join(sys.argv)
    report.update(run_facts(args, load_before), command=command,
                  recipes={n: describe(CANDIDATES[n]) for n in args.candidates})
    write_results(args, report, markdown(report, command))
    return 0


def parse_study_args(ap: argparse.ArgumentParser, name: str) -> argparse.Namespace:
    """The arguments every legibility study shares (lucent, photos, cache, threads, where the
    results go), added to `ap` and parsed; the candidates checked; torch and the cache set up."""
    ap.add_argument("--lucent-path", default="/tmp/lucentenv",
                    help="a folder with kornia 0.4.1 (pip install --target)")
    ap.add_argument("--dataset", default=str(DEFAULT_DATASET))
    ap.add_argument("--cache", default="/tmp/featvis-bench-legibility")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default=name)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    args.candidates = [n for n in args.candidates.split(",") if n]
    unknown = [n for n in args.candidates if n not in CANDIDATES]
    if unknown:
        ap.error(f"unknown candidates {unknown} (valid: {', '.join(CANDIDATES)})")
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    return args


def run_facts(args: argparse.Namespace, load_before: float) -> dict[str, Any]:
    """The machine and load a study ran under, for its report."""
    return dict(machine=f"{os.cpu_count()} cores", threads=torch.get_num_threads(),
                load_before=load_before, load_after=os.getloadavg()[0],
                lucent_steps=args.lucent_steps)


def write_results(args: argparse.Namespace, report: dict[str, Any], text: str) -> None:
    """`report` as `<name>.json` and its table `text` as `<name>.md` under `--out`; printed."""
    out = Path(args.out)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / f"{args.name}.md").write_text(text)
    print(text)


def describe(settings: RenderSettings) -> str:
    r, p = settings.recipe, settings.param
    coarse = (f", the first {r.coarse:.0%} at {r.coarse_scale:g}x the input"
              if r.coarse_steps(settings.steps) else "")
    return (f"{settings.steps} steps, {r.optimizer} lr {settings.lr:g} {r.schedule}{coarse}, "
            f"{p.kind} decay {p.decay:g}{' anchored' if p.anchored else ''}, {settings.size} px")


if __name__ == "__main__":
    raise SystemExit(main())
