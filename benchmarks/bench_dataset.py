"""Dataset benchmark: the scan of every layer, the rescan, and whether photos and pictures agree.

Measures, in one process on one machine:
  (a) the scan of every layer of the model over an image folder (default: the 1000-photo
      ../shared/datasets/imagenet-sample), into a fresh cache: wall time, peak RSS of this process
      and of the loader workers (targets on the CPU: under 10 minutes, under 6 GiB);
  (b) the rescan of the unchanged folder: wall time and how many images it opened (should be 0);
  (c) for channels sampled (seeded) from the objects band (blocks.5.3, blocks.6.0, conv_head):
      render each channel's visualization (channel objective, default parameterization and
      transforms), classify it with the model at its input size, and compare with the class of the
      channel's top dataset photo (file <wnid>_<name>.jpg; its sorted position is the ImageNet
      class index): the share where that class is the visualization's top-1, and within its top-5
      (chance: 0.1 % and 0.5 %), also with the image classified at the size it was optimized at;
      the rank of that class among the visualization's 1000 logits (chance median ~500); and
      whether the visualization's top-5 meets the classes the model itself reads in the channel's
      top-8 photos (their top-1 predictions);
  (d) on the same visualizations: activation relative to the strongest photo, and the "Don't trust
      your eyes" pattern agreement (cosine and Spearman of standardized layer patterns).

    python benchmarks/bench_dataset.py [--dataset PATH] [--per-layer 8] [--steps 128] [--size 128]
        [--cache DIR]   (keep the scan: a rerun then only renders; its scan time is a cache read)

Writes benchmarks/results/dataset-<device>.json, .md and -objects.png (each sampled channel's
visualization beside its top photo's patch). Other processes on the machine slow it
down; the load average at the start and end is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from PIL import Image

from generator import dataset as ds
from generator.metrics import relative_activation
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.transforms import RandomTransform, TransformSpec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
OBJECT_LAYERS = ("blocks.5.3", "blocks.6.0", "conv_head")
GIB = 1024**3


def peak_rss() -> tuple[float, float]:
    """(this process, the largest waited-for child) peak resident set size in GiB (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / GIB
    return own, child


def scan_all(model, config, top_k: int, batch_size: int, workers: int | None) -> dict:
    start = time.perf_counter()
    index = ds.load_or_scan(config, model, model.layer_names, top_k=top_k, progress=True,
                            batch_size=batch_size, workers=workers)
    seconds = time.perf_counter() - start
    own, child = peak_rss()
    return {
        "index": index,
        "seconds": seconds,
        "peak_rss_gib": own,
        "peak_rss_worker_gib": child,
        "images_read": index.summary.images_read,
        "images_skipped": index.summary.images_skipped,
        "layers": len(index.layer_names),
        "channels": sum(model.layer(n).channels for n in index.layer_names),
    }


def rescan(model, config, top_k: int) -> dict:
    opened: list[str] = []
    real = Image.open

    def counting(fp, *a, **k):
        opened.append(str(fp))
        return real(fp, *a, **k)

    Image.open = counting  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        index = ds.load_or_scan(config, model, model.layer_names, top_k=top_k, progress=False)
        seconds = time.perf_counter() - start
    finally:
        Image.open = real  # type: ignore[assignment]
    return {"seconds": seconds, "images_opened": len(opened),
            "from_cache": index.summary.from_cache}


def sample_channels(model, per_layer: int, seed: int) -> list[tuple[str, int]]:
    gen = torch.Generator().manual_seed(seed)
    units = []
    for layer in OBJECT_LAYERS:
        channels = model.layer(layer).channels
        units += [(layer, int(c)) for c in torch.randperm(channels, generator=gen)[:per_layer]]
    return units


def classify(model, images: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Logits of [0,1] images resized to `size` (default: the model's input size)."""
    size = size or model.input_size
    x = images.to(model.device)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    with torch.no_grad():
        return model.net(model.preprocess(x)).cpu()


def photos_read_as(model, index, layer: str, channel: int, k: int = 8) -> set[int]:
    """The classes the model itself predicts (top-1) for the channel's top-k photos."""
    views = torch.stack([ds.load_view(e.path, model.input_size)
                         for e in index.examples(layer, channel)[:k]]).float() / 255
    return set(classify(model, views).argmax(dim=1).tolist())


def photo_read_as(model, path: Path) -> int:
    """The class the model reads in a photo (its top-1), as the site's class reading does."""
    return model.read(ds.load_view(path, model.input_size)[None].float() / 255, 1)[0][0][0]


def contact_sheet(model, index, units, images: torch.Tensor, path: Path, cell: int = 96) -> None:
    """Per channel: its visualization, then its top photo's patch; four pairs per row."""
    cols, rows = 4, (len(units) + 3) // 4
    sheet = Image.new("RGB", (cols * 2 * cell, rows * cell), "white")
    for i, ((layer, c), image) in enumerate(zip(units, images, strict=True)):
        vis = Image.fromarray((image.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
        top = index.examples(layer, c)[0]
        x, y = (i % cols) * 2 * cell, (i // cols) * cell
        sheet.paste(vis.resize((cell, cell)), (x, y))
        sheet.paste(index.patch(top, layer, cell), (x + cell, y))
    sheet.save(path)


def _crop(images: torch.Tensor, frac: float, cy: float = 0.5, cx: float = 0.5) -> torch.Tensor:
    side = images.shape[-1]
    k = int(side * frac)
    y0, x0 = int((side - k) * cy), int((side - k) * cx)
    return images[..., y0:y0 + k, x0:x0 + k]


def other_readings(model, images: torch.Tensor, photo_class: torch.Tensor,
                   photo_read: torch.Tensor) -> dict[str, dict[str, float]]:
    """Other ways to read a visualization's class: softmax averaged over 16 of the optimizer's
    random transforms, centre crops, a 3x3 grid of half-size crops; for each, the share where the
    top photo's class (by file name, and as the model reads the photo) is within its top 5."""
    def probs(x: torch.Tensor) -> torch.Tensor:
        return classify(model, x).softmax(dim=1)

    n = images.shape[0]
    transform = RandomTransform(TransformSpec(), images.shape[-1], model.input_size,
                                list(range(n)), 16, model.device)
    readings = {
        "as is": probs(images),
        "mean over 16 random transforms": torch.stack(
            [probs(transform(images.to(model.device), s)) for s in range(16)]).mean(0),
        "centre crop 3/4": probs(_crop(images, 0.75)),
        "centre crop 1/2": probs(_crop(images, 0.5)),
        "mean over a 3x3 grid of 1/2 crops": torch.stack(
            [probs(_crop(images, 0.5, a, b)) for a in (0, 0.5, 1) for b in (0, 0.5, 1)]).mean(0),
    }
    out = {}
    for name, p in readings.items():
        top5 = p.topk(5, dim=1).indices
        out[name] = {"label": float((top5 == photo_class[:, None]).any(1).float().mean()),
                     "model": float((top5 == photo_read[:, None]).any(1).float().mean())}
    return out


def objects_agreement(
    model, index, units, steps: int, size: int, class_of: dict[str, int], sheet: Path,
    objective: str = "channel",
) -> dict:
    start = time.perf_counter()
    make = obj.channel if objective == "channel" else obj.neuron
    result = render(model, [make(layer, c) for layer, c in units],
                    RenderSettings(size=size, steps=steps), seeds=0)
    render_seconds = time.perf_counter() - start
    contact_sheet(model, index, units, result.images, sheet)
    logits = classify(model, result.images)
    top5 = logits.topk(5, dim=1).indices
    top5_native = classify(model, result.images, size).topk(5, dim=1).indices
    order = logits.argsort(dim=1, descending=True)
    # Every optimized picture leans to the same few texture classes (coral, starfish, ...); the
    # channel-specific reading is the logits less their mean over the sampled pictures.
    specific = logits - logits.mean(dim=0, keepdim=True)
    s_top5 = specific.topk(5, dim=1).indices
    s_order = specific.argsort(dim=1, descending=True)
    checks = ds.check_patterns(model, index, [(layer, c, img) for (layer, c), img
                                              in zip(units, result.images, strict=True)])
    rows = []
    for i, (layer, c) in enumerate(units):
        top = index.examples(layer, c)[0]
        photo_class = class_of[top.path.name]
        predicted = top5[i].tolist()
        read_as = photos_read_as(model, index, layer, c)
        s_predicted = s_top5[i].tolist()
        # the photo with the highest spatial *mean* (what the channel objective maximizes), from
        # the scan's spectrum sample (every photo of a folder this size)
        by_mean = index.spectrum(layer, c, 10**9)
        mean_class = class_of[by_mean[-1].path.name] if by_mean else -1
        rows.append({
            "layer": layer, "channel": c,
            "top_photo": top.path.name, "top_photo_class": photo_class,
            "vis_top5": [(k, model.class_names[k]) for k in predicted],
            "top1_agrees": predicted[0] == photo_class,
            "top5_agrees": photo_class in predicted,
            "top5_agrees_native": photo_class in top5_native[i].tolist(),
            "photo_class_rank": int((order[i] == photo_class).nonzero()[0, 0]),
            "photos_read_as": sorted(read_as),
            "meets_model_reading": bool(read_as & set(predicted)),
            # the site's class reading: the model's top class for the top photo within the
            # visualization's top 5 (`generator.figures.class_reading`)
            "top_photo_read_as": (top_read := photo_read_as(model, top.path)),
            "named": top_read in predicted,
            "top_photo_by_mean": by_mean[-1].path.name if by_mean else None,
            "mean_top1_agrees": predicted[0] == mean_class,
            "mean_top5_agrees": mean_class in predicted,
            "specific_top5": [(k, model.class_names[k]) for k in s_predicted],
            "specific_top1_agrees": s_predicted[0] == photo_class,
            "specific_top5_agrees": photo_class in s_predicted,
            "specific_photo_class_rank": int((s_order[i] == photo_class).nonzero()[0, 0]),
            "specific_meets_model_reading": bool(read_as & set(s_predicted)),
            "top3_photos_in_top5": any(class_of[e.path.name] in predicted
                                       for e in index.examples(layer, c)[:3]),
            "objective": float(result.final[i]),
            "relative_to_strongest_photo": relative_activation(
                float(result.final[i]), index.strongest_mean(layer, c)),
            "pattern_cosine": checks[i].cosine,
            "pattern_spearman": checks[i].spearman,
            "own_rank_visualization": checks[i].own_rank_visualization,
            "own_rank_photos": checks[i].own_rank_photos,
        })
    n = len(rows)

    def share(key: str, subset=None) -> float:
        chosen = [r for r in rows if subset is None or r["layer"] == subset]
        return sum(r[key] for r in chosen) / max(len(chosen), 1)

    rel = [r["relative_to_strongest_photo"] for r in rows if r["relative_to_strongest_photo"]]
    return {
        "render_seconds": render_seconds,
        "channels": n,
        "share_top1": share("top1_agrees"),
        "share_top5": share("top5_agrees"),
        "share_top3_photos_in_top5": share("top3_photos_in_top5"),
        "share_top5_native": share("top5_agrees_native"),
        "share_meets_model_reading": share("meets_model_reading"),
        "share_named": share("named"),
        "median_photo_class_rank": statistics.median(r["photo_class_rank"] for r in rows),
        "share_mean_top1": share("mean_top1_agrees"),
        "share_mean_top5": share("mean_top5_agrees"),
        "share_specific_top1": share("specific_top1_agrees"),
        "share_specific_top5": share("specific_top5_agrees"),
        "share_specific_meets_model_reading": share("specific_meets_model_reading"),
        "median_specific_photo_class_rank": statistics.median(
            r["specific_photo_class_rank"] for r in rows),
        "by_layer": {layer: {"top1": share("top1_agrees", layer),
                             "top5": share("top5_agrees", layer),
                             "specific_top1": share("specific_top1_agrees", layer),
                             "specific_top5": share("specific_top5_agrees", layer)}
                     for layer in OBJECT_LAYERS},
        "median_relative_activation": statistics.median(rel) if rel else None,
        "median_pattern_cosine": statistics.median(r["pattern_cosine"] for r in rows),
        "median_pattern_spearman": statistics.median(r["pattern_spearman"] for r in rows),
        "rows": rows,
        "other_readings": other_readings(
            model, result.images,
            torch.tensor([r["top_photo_class"] for r in rows]),
            torch.tensor([r["top_photo_read_as"] for r in rows])),
    }


def markdown(report: dict) -> str:
    s, r, o = report["scan"], report["rescan"], report.get("objects")
    lines = [
        f"# Dataset benchmark ({report['device']})",
        "",
        f"`{report['command']}`",
        "",
        f"Machine: {report['machine']}; torch {report['torch']}, {report['threads']} threads; "
        f"load average {report['load_before']:.1f} before, {report['load_after']:.1f} after "
        "(other processes share the cores).",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| scan: {s['layers']} layers, {s['channels']} channels, {s['images_read']} images "
        f"({s['images_skipped']} skipped), top-{report['top_k']} | {s['seconds']:.1f} s"
        f"{' (read from --cache)' if report['scan_from_cache'] else ''} | < 600 s |",
        f"| peak RSS, main process (model load included) | {s['peak_rss_gib']:.2f} GiB | < 6 GiB |",
        f"| peak RSS, largest loader worker | {s['peak_rss_worker_gib']:.2f} GiB | |",
        f"| rescan of the unchanged folder | {r['seconds']:.2f} s, {r['images_opened']} images "
        f"opened | 0 opened |",
        "",
    ]
    if o:
        lines += [
            f"## Objects band: top photo's class vs the visualization's classes "
            f"({o['channels']} channels, seeded sample)",
            "",
            f"Visualizations: {report.get('objective', 'channel')} objective, {report['size']} px, "
            f"{report['steps']} steps, "
            f"default parameterization and transforms; rendered in {o['render_seconds']:.0f} s.",
            "",
            "Raw: the visualization's own logits. Specific: its logits less their mean over all "
            "the sampled visualizations (what this picture says beyond what every optimized "
            "picture says).",
            "",
            "| layer | top photo's class = vis top-1 | within vis top-5 | specific top-1 "
            "| specific top-5 |",
            "| --- | --- | --- | --- | --- |",
        ]
        for layer, v in o["by_layer"].items():
            lines.append(f"| {layer} | {v['top1']:.0%} | {v['top5']:.0%} | "
                         f"{v.get('specific_top1', 0):.0%} | {v.get('specific_top5', 0):.0%} |")
        lines += [
            f"| all | {o['share_top1']:.0%} | {o['share_top5']:.0%} | "
            f"{o.get('share_specific_top1', 0):.0%} | {o.get('share_specific_top5', 0):.0%} |",
            "",
            f"With the top photo taken by spatial mean (the channel objective's measure) instead "
            f"of peak: its class is the visualization's top-1 for "
            f"{o.get('share_mean_top1', 0):.0%}, within its top-5 for "
            f"{o.get('share_mean_top5', 0):.0%}.",
            "",
            f"Specific reading: median rank of the top photo's class "
            f"{o.get('median_specific_photo_class_rank', float('nan')):.0f}; its top-5 meets a "
            f"class the model predicts for one of the channel's top-8 photos: "
            f"{o.get('share_specific_meets_model_reading', 0):.0%}.",
            "",
            f"Any of the top-3 photos' classes within the visualization's top-5: "
            f"{o['share_top3_photos_in_top5']:.0%}. Chance: 0.1 % (top-1), 0.5 % (top-5). "
            + (f"Classified at the {report['size']} px it was optimized at instead of "
               f"{report['input_size']} px: top photo's class within top-5 for "
               f"{o['share_top5_native']:.0%}. " if report['size'] != report['input_size'] else "")
            + f"Median rank of the top photo's class among the "
            f"visualization's 1000 logits: {o['median_photo_class_rank']:.0f} (chance ~500). "
            f"The visualization's top-5 meets a class the model itself predicts for one of the "
            f"channel's top-8 photos: {o['share_meets_model_reading']:.0%}. The site's class "
            f"reading (the class the model reads in the top photo is among the visualization's "
            f"top 5): {o.get('share_named', 0):.0%}.",
            "",
        ]
        if o.get("other_readings"):
            lines += [
                "Other readings of the same pictures (top photo's class within the top 5):",
                "",
                "| reading | by file name | as the model reads the photo |",
                "| --- | --- | --- |",
                *(f"| {name} | {v['label']:.0%} | {v['model']:.0%} |"
                  for name, v in o["other_readings"].items()),
                "",
            ]
        lines += [
            f"Contact sheet (visualization, then top photo's patch): `{report['sheet']}`.",
            "",
            f"Median activation relative to the strongest photo (spatial mean, the channel "
            f"objective's measure): {o['median_relative_activation']:.1f}x. Median pattern "
            f"agreement with the top photos (standardized layer pattern): cosine "
            f"{o['median_pattern_cosine']:.2f}, Spearman {o['median_pattern_spearman']:.2f}.",
            "",
            "| unit | top photo | vis top-5 | specific top-5 | agree | class rank | x strongest "
            "| cosine | Spearman |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in o["rows"]:
            classes = ", ".join(name for _, name in row["vis_top5"])
            specific = ", ".join(name for _, name in row.get("specific_top5", []))
            agree = "top-1" if row["top1_agrees"] else ("top-5" if row["top5_agrees"] else "no")
            if row.get("specific_top5_agrees") and agree == "no":
                agree = "specific top-1" if row["specific_top1_agrees"] else "specific top-5"
            rel = row["relative_to_strongest_photo"]
            lines.append(
                f"| {row['layer']}:{row['channel']} | {row['top_photo']} | {classes} | "
                f"{specific} | {agree} | "
                f"{row['photo_class_rank']} | {'-' if rel is None else f'{rel:.1f}'} | "
                f"{row['pattern_cosine']:.2f} | "
                f"{row['pattern_spearman']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(DEFAULT_DATASET))
    p.add_argument("--device", default="cpu")
    p.add_argument("--top-k", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--per-layer", type=int, default=8, help="objects-band channels per layer")
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-objects", action="store_true")
    p.add_argument("--objective", choices=("channel", "neuron"), default="channel",
                   help="what the objects-band visualizations maximize (neuron: the centre unit)")
    p.add_argument("--cache", default=None, help="keep the scan here (default: a temp folder)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--name", default=None,
                   help="file names under --out (default: dataset-<device>[-<objective>])")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    model = load_model(device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"dataset-{model.device.type}"
    if args.objective != "channel" and not args.name:
        name += f"-{args.objective}"
    with tempfile.TemporaryDirectory(prefix="featvis-bench-dataset-") as tmp:
        config = SimpleNamespace(dataset=Path(args.dataset), cache_dir=Path(args.cache or tmp))
        scan = scan_all(model, config, args.top_k, args.batch_size, args.workers)
        index = scan.pop("index")
        print(f"scan: {scan}", file=sys.stderr)
        again = rescan(model, config, args.top_k)
        print(f"rescan: {again}", file=sys.stderr)
        report = {
            "command": "python " + " ".join(sys.argv),
            "device": str(model.device), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "top_k": args.top_k, "size": args.size, "steps": args.steps,
            "input_size": model.input_size, "sheet": f"{name}-objects.png",
            "scan_from_cache": index.summary.from_cache,
            "load_before": load_before, "scan": scan, "rescan": again,
        }
        if not args.skip_objects:
            files = ds.list_images(Path(args.dataset))
            class_of = {Path(f).name: i for i, f in enumerate(files)}
            units = sample_channels(model, args.per_layer, args.seed)
            report["objects"] = objects_agreement(model, index, units, args.steps, args.size,
                                                  class_of, out / report["sheet"], args.objective)
            report["objective"] = args.objective
    report["load_after"] = os.getloadavg()[0]
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
