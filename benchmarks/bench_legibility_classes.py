"""Legibility of class pictures: the two-alternative task of `bench_legibility.py` for class
units, every candidate recipe against lucent's `render_vis` and the class's own photos, side by
side, on the same classes.

A class unit's activation on a photo is its logit (Lite0 on the photo's 224 px centre view). Over
the folder's photos, the class's top 5 % by logit and its bottom 5 % each give `REFS` references
and `HELD_OUT` held-out photos; a trial pairs a held-out top photo with a held-out bottom one,
and the references pick the one closer to them in the judge's embedding (EfficientNet-Lite1,
`generator.measure.twoafc`, as for channels). References: a candidate's class picture (one
image, no negative), the 9 top and 9 bottom photos (the natural ceiling) or the top photo alone.
`TRIALS` pairs per class, and every pair (the area under the curve, without the pairs' sampling
noise); 95 % bootstrap intervals over classes, and each candidate's difference to the default
with the classes paired. Also the class pictures' pixel statistics (`bench_legibility.pixel_stats`)
and contact sheets: each candidate's class picture beside lucent's and the class's top photo.

Pictures are rendered in chunks of `CHUNK` classes and cached per chunk in --cache (featvis'
images do not depend on their batch; lucent's do, so its chunks stay the same).

    python benchmarks/bench_legibility_classes.py --candidates default,lucid-lr20
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_legibility import (
    CANDIDATES,
    CLASSES,
    JUDGE,
    JUDGE_LAYERS,
    bootstrap,
    cached,
    describe,
    lucent_images,
    parse_study_args,
    pixel_stats,
    run_facts,
    sheet,
    write_results,
)
from generator.dataset.folder import folder_fingerprint, list_images, load_view
from generator.measure.twoafc import REFS, TRIALS, Judge, pick_accuracy, trial_pairs
from generator.metrics import clipped_fraction
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj

# the bench's 12 classes, then 12 more: zebra, giant panda, monarch, broccoli, banana, pizza,
# lion, king penguin, hummingbird, basketball, teddy, daisy
CLASSES_24 = CLASSES + (340, 388, 323, 937, 954, 963, 291, 145, 94, 430, 850, 985)
CHUNK = 12
HELD_OUT = 50  # 5 % of the 1000 photos
SIZE = 224


def chunks(classes: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [classes[i:i + CHUNK] for i in range(0, len(classes), CHUNK)]


def render_featvis(model, settings: RenderSettings, classes, size: int, input_size: int | None,
                   cache: Path) -> dict:
    """The class pictures (`class_logit`, seed 0, the model seeing `input_size` px, None: the
    picture's) and CPU seconds."""
    settings = dataclasses.replace(settings, size=size, input_size=input_size)
    out: dict = {"images": [], "cpu": 0.0}
    for chunk in chunks(classes):
        def make(chunk=chunk) -> dict:
            c = time.process_time()
            result = render(model, [obj.class_logit(k) for k in chunk], settings,
                            seeds=[0] * len(chunk))
            return {"images": list(result.images), "cpu": time.process_time() - c}
        part = cached(cache, f"classes featvis {settings!r} {chunk}", make)
        out["images"] += part["images"]
        out["cpu"] += part["cpu"]
    return out


def render_lucent(model, classes, steps: int, size: int, cache: Path) -> dict:
    from lucent.optvis import objectives as lobj

    out: dict = {"images": [], "cpu": 0.0}
    for chunk in chunks(classes):
        def make(chunk=chunk) -> dict:
            c = time.process_time()
            terms = [lobj.channel("classifier", k, batch=i) for i, k in enumerate(chunk)]
            return {"images": lucent_images(model, terms, steps, size),
                    "cpu": time.process_time() - c}
        part = cached(cache, f"classes lucent {steps} {size} {chunk}", make)
        out["images"] += part["images"]
        out["cpu"] += part["cpu"]
    return out


def photo_table(model, judge: Judge, folder: Path, cache: Path) -> dict:
    """Every photo of the folder: Lite0's logits (n, classes), the judge's embedding (n, d) and
    the 224 px views (uint8), cached."""
    files = list_images(folder)

    def make() -> dict:
        views = torch.stack([load_view(folder / f, SIZE) for f in files])
        with torch.no_grad():
            logits = torch.cat([model.net(model.preprocess(v.float() / 255))
                                for v in views.split(32)])
        emb = torch.cat([judge.embed(v.float() / 255) for v in views.split(64)])
        return {"files": files, "logits": logits, "emb": emb, "views": views}

    key = f"class photos {model.digest} {JUDGE} {JUDGE_LAYERS} {folder_fingerprint(folder, files)}"
    return cached(cache, key, make)


def class_photos(logits: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Photo indices: the class's top references and held-out photos by logit, and as many from
    the bottom (lowest logit first)."""
    order = logits[:, k].argsort(descending=True)
    low = order.flip(0)
    return {"top_refs": order[:REFS], "top_held": order[REFS:REFS + HELD_OUT],
            "bottom_refs": low[:REFS], "bottom_held": low[REFS:REFS + HELD_OUT]}


def scores(pos, neg, top, bottom, pairs, all_pairs) -> tuple[float, float]:
    return (pick_accuracy(pos, neg, top, bottom, pairs),
            pick_accuracy(pos, neg, top, bottom, all_pairs))


def summarize(acc: list[float], auc: list[float],
              base: tuple[list[float], list[float]] | None) -> dict:
    """Means with bootstrap intervals over classes; `base` (the default's accuracies and
    AUCs): the differences to it, class by class."""
    mean, lo, hi = bootstrap(acc)
    row = {"accuracy": mean, "ci95": [lo, hi], "per_class": acc}
    a, alo, ahi = bootstrap(auc)
    row.update(auc=a, auc_ci95=[alo, ahi], auc_per_class=auc)
    if base is not None:
        d, dlo, dhi = bootstrap([x - y for x, y in zip(acc, base[0], strict=True)])
        row.update(vs_default=d, vs_default_ci95=[dlo, dhi])
        d, dlo, dhi = bootstrap([x - y for x, y in zip(auc, base[1], strict=True)])
        row.update(auc_vs_default=d, auc_vs_default_ci95=[dlo, dhi])
    return row


def study(args) -> dict:
    model = load_model(device="cpu")
    classes = CLASSES_24[: args.classes]
    cache = Path(args.cache)
    pictures: dict[str, dict] = {}
    for name in args.candidates:
        pictures[name] = render_featvis(model, CANDIDATES[name], classes, args.size,
                                        args.input_size or None, cache)
        print(f"{name}: rendered", file=sys.stderr, flush=True)
    if args.lucent_steps:
        sys.path.insert(0, args.lucent_path)
        pictures["lucent"] = render_lucent(model, classes, args.lucent_steps, args.size, cache)
        print("lucent: rendered", file=sys.stderr, flush=True)
    if args.render_only:
        return {}
    judge = Judge(load_model(JUDGE, device="cpu"), JUDGE_LAYERS)
    table = photo_table(model, judge, Path(args.dataset), cache)
    emb, logits = table["emb"], table["logits"]
    rng = random.Random(0)
    sets = [class_photos(logits, k) for k in classes]
    pairs = [trial_pairs(HELD_OUT, HELD_OUT, args.trials, rng) for _ in classes]
    every = [(i, j) for i in range(HELD_OUT) for j in range(HELD_OUT)]
    refs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {
        "natural": [(emb[s["top_refs"]], emb[s["bottom_refs"]]) for s in sets],
        "top photo": [(emb[s["top_refs"][:1]], emb[:0]) for s in sets],
    }
    for name, r in pictures.items():
        e = judge.embed(torch.stack(r["images"]).float())
        refs[name] = [(e[i:i + 1], e[:0]) for i in range(len(classes))]
    report: dict = {"classes": {k: model.class_name(k) for k in classes}, "candidates": {}}
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for name, per_class in refs.items():
        got = [scores(p, n, emb[s["top_held"]], emb[s["bottom_held"]], pairs[c], every)
               for c, ((p, n), s) in enumerate(zip(per_class, sets, strict=True))]
        rows[name] = ([g[0] for g in got], [g[1] for g in got])
    base = rows.get("default")
    for name, (acc, auc) in rows.items():
        row = summarize(acc, auc, base if name in pictures and name != "default" else None)
        if name in pictures:
            images = torch.stack(pictures[name]["images"]).float()
            stats = pixel_stats(images)
            row["pixels"] = {k: statistics.median(v) for k, v in stats.items()}
            clipped = clipped_fraction(images.clamp(0, 1)).tolist()
            row.update(clipped_mean=statistics.fmean(clipped), clipped_max=max(clipped),
                       cpu_s_per_vis=pictures[name]["cpu"] / len(classes))
        report["candidates"][name] = row
    views = table["views"]
    top = [views[s["top_refs"][0]].float() / 255 for s in sets]
    out = Path(args.out)
    for name, r in pictures.items():
        if name == "lucent":
            continue
        cols, labels = [r["images"]], [name]
        if "lucent" in pictures:
            cols.append(pictures["lucent"]["images"])
            labels.append("lucent")
        sheet(cols + [top], labels + ["top photo"], out / f"{args.name}-{name}.jpg", tile=96,
              per_row=4)
    everyone = list(pictures)  # every candidate, lucent last, then the photo: one class a row
    sheet([pictures[n]["images"] for n in everyone] + [top], everyone + ["top photo"],
          out / f"{args.name}-all.jpg", tile=96, per_row=2)
    return report


def markdown(report: dict) -> str:
    lines = [
        f"Class pictures' legibility on {report['machine']} ({report['threads']} thread, load "
        f"{report['load_before']:.1f} -> {report['load_after']:.1f}): {len(report['classes'])} "
        f"Lite0 classes, {report['size']} px (the model seeing {report['input_size'] or 'them'}"
        f"), lucent {report['lucent_steps']} steps. "
        f"Judge: {JUDGE} "
        f"({', '.join(JUDGE_LAYERS)}); {report['trials']} trials per class.", "",
        f"`{report['command']}`", "",
        "| references | 2AFC accuracy [95 % CI] | vs default, paired [95 % CI] | all pairs (AUC) "
        "[95 % CI] | AUC vs default, paired [95 % CI] | clipped (mean, max) | saturation | "
        "colourfulness | spectrum slope | HF share | CPU s / class vis. |", "|---" * 11 + "|",
    ]
    for name, row in report["candidates"].items():
        def vs(key: str, row: dict = row) -> str:
            if key not in row:
                return "-"
            lo, hi = row[f"{key}_ci95"]
            return f"{row[key]:+.3f} [{lo:+.3f}, {hi:+.3f}]"

        cells = [f"{row['accuracy']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]",
                 vs("vs_default"),
                 f"{row['auc']:.3f} [{row['auc_ci95'][0]:.3f}, {row['auc_ci95'][1]:.3f}]",
                 vs("auc_vs_default")]
        if "pixels" in row:
            p = row["pixels"]
            cells += [f"{row['clipped_mean']:.2%}, {row['clipped_max']:.2%}",
                      f"{p['saturation']:.3f}", f"{p['colourfulness']:.1f}",
                      f"{p['spectrum_slope']:.2f}", f"{p['high_freq_share']:.3f}",
                      f"{row['cpu_s_per_vis']:.2f}"]
        else:
            cells += ["-"] * 6
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    names = list(report["classes"].values())
    lines += ["", "Per class (accuracy over the trials): " + ", ".join(names), "",
              "| references | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in report["candidates"].items():
        lines.append(f"| {name} | " + " | ".join(f"{a:.2f}" for a in row["per_class"]) + " |")
    recipes = report["recipes"]
    lines += ["", "Recipes: " + "; ".join(f"{n}: {recipes[n]}" for n in recipes)]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default="default", help="comma-separated names")
    ap.add_argument("--classes", type=int, default=len(CLASSES_24), help="the first n classes")
    ap.add_argument("--size", type=int, default=SIZE, help="the class pictures' size")
    ap.add_argument("--input-size", type=int, default=SIZE,
                    help="what the model sees of featvis' pictures (0: the picture's size, as a "
                    "site's jobs; lucent's model always sees 224 px)")
    ap.add_argument("--trials", type=int, default=TRIALS)
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--lucent-steps", type=int, default=512, help="0: no lucent")
    args = parse_study_args(ap, "legibility-classes")
    load_before = os.getloadavg()[0]
    report = study(args)
    if args.render_only:
        return 0
    report.update(run_facts(args, load_before), size=args.size, input_size=args.input_size,
                  trials=args.trials, command="python " + " ".join(sys.argv),
                  recipes={n: describe(dataclasses.replace(CANDIDATES[n], size=args.size))
                           for n in args.candidates})
    write_results(args, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
