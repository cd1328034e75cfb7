"""Architectures no test names, end to end: for each, a small site with photos builds in a process
of its own (random weights, a tiny preset, the flagship article or none), and the script counts
tracebacks, the explorer's channel pages and, of those, the pages with photos, a measured circuit
and accentuated photos, and the seconds each build took.

    PYTHONPATH=. python benchmarks/bench_families.py [--families a,b,...] [--photos 24]
        [--article] [--bands edges,parts,objects] [--threads 1] [--name families] [--append]

Writes benchmarks/results/<name>.json and .md (after every family). A build that fails keeps its
last traceback lines in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"

CONVMIXER = '''\
from torch import nn


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


def build(dim=64, depth=6, kernel=5, patch=4, classes=10):
    """ConvMixer (Trockman and Kolter 2022): patches, then depthwise and pointwise mixing."""
    return nn.Sequential(
        nn.Conv2d(3, dim, kernel_size=patch, stride=patch), nn.GELU(), nn.BatchNorm2d(dim),
        *[nn.Sequential(
            Residual(nn.Sequential(
                nn.Conv2d(dim, dim, kernel, groups=dim, padding="same"), nn.GELU(),
                nn.BatchNorm2d(dim))),
            nn.Conv2d(dim, dim, kernel_size=1), nn.GELU(), nn.BatchNorm2d(dim),
        ) for _ in range(depth)],
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(dim, classes),
    )
'''

# name -> (model id, input_size or None for the network's own)
FAMILIES: dict[str, tuple[str, int | None]] = {
    "tv-squeezenet1_1": ("torchvision:squeezenet1_1", 64),
    "tv-shufflenet_v2_x0_5": ("torchvision:shufflenet_v2_x0_5", 64),
    "tv-mnasnet0_5": ("torchvision:mnasnet0_5", 64),
    "tv-densenet121": ("torchvision:densenet121", 64),
    "tv-regnet_y_400mf": ("torchvision:regnet_y_400mf", 64),
    "tv-efficientnet_v2_s": ("torchvision:efficientnet_v2_s", 64),
    "tv-swin_t": ("torchvision:swin_t", 64),
    "tv-maxvit_t": ("torchvision:maxvit_t", None),
    "tv-alexnet": ("torchvision:alexnet", 64),
    "tv-vgg11": ("torchvision:vgg11", 64),
    "tv-inception_v3": ("torchvision:inception_v3", None),
    "timm-deit_tiny_distilled": ("timm:deit_tiny_distilled_patch16_224", None),
    "timm-swin_tiny": ("timm:swin_tiny_patch4_window7_224", None),
    "timm-convnext_atto": ("timm:convnext_atto", 64),
    "timm-regnetx_002": ("timm:regnetx_002", 64),
    "timm-mobilevit_xxs": ("timm:mobilevit_xxs", 64),
    "timm-levit_128s": ("timm:levit_128s", None),
    "timm-efficientformer_l1": ("timm:efficientformer_l1", None),
    "timm-resnet18d": ("timm:resnet18d", 64),
    "timm-ghostnet_100": ("timm:ghostnet_100", 64),
    "timm-coatnet_nano": ("timm:coatnet_nano_rw_224", None),
    "timm-vit_little_reg4": ("timm:vit_little_patch16_reg4_gap_256", None),
    "convmixer": ("python:convmixer.py:build", 64),
    "tv-vit_b_16": ("torchvision:vit_b_16", 32),
    "tv-swin_v2_t": ("torchvision:swin_v2_t", 64),
    "timm-mvitv2_tiny": ("timm:mvitv2_tiny", 64),
    "timm-twins_svt_small": ("timm:twins_svt_small", 64),
    "timm-crossvit_tiny": ("timm:crossvit_tiny_240", None),
    "timm-tnt_s": ("timm:tnt_s_patch16_224", 64),
    "timm-nest_tiny": ("timm:nest_tiny", 64),
    "timm-vit_small_reg4_dinov2": ("timm:vit_small_patch14_reg4_dinov2", 56),
    "timm-efficientvit_m0": ("timm:efficientvit_m0", 96),
    "timm-resnet18": ("timm:resnet18", 64),
}


def write_site(root: Path, name: str, photos: Path, bands: list[str], article: bool) -> None:
    spec, size = FAMILIES[name]
    root.mkdir(parents=True)
    if article:
        shutil.copytree(REPO / "content", root / "content")
    else:
        (root / "content").mkdir()
    if name == "convmixer":
        (root / "convmixer.py").write_text(CONVMIXER, encoding="utf-8")
    layers = ", ".join(f'"{band}[-1]"' for band in bands)
    lines = [
        f'model = "{spec}"',
        "random_weights = true",
        f"input_size = {size}" if size else "",
        f"explorer_layers = [{layers}]",
        f'dataset = "{photos}"',
        'device = "cpu"',
        "workers = 1",
    ]
    (root / "site.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_one(root: Path, size: int, steps: int) -> None:
    """In the child process: the site's build (its site.toml asks for seeded random weights: no
    download)."""
    from generator.build import build_site
    from generator.config.presets import Preset
    from generator.config.site import load_config

    preset = Preset("tiny", size=size, steps=steps, explorer_channels=1, figure_scale=0.5)
    build_site(load_config(root / "site.toml"), preset=preset, quiet=True)


def inspect(out: Path) -> dict[str, Any]:
    """The explorer's channel pages and, of those, the ones with photos, a measured circuit and
    accentuated photos."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = {"channel_pages": 0, "with_photos": 0, "with_circuit": 0, "with_accentuation": 0}
    for entry in manifest["channels"]:
        page = (out / entry["page"]).read_text(encoding="utf-8")
        counts["channel_pages"] += 1
        counts["with_photos"] += "photo-grid" in page and "Activation over the photos" in page
        circuit = entry.get("circuit") or {}
        block = circuit.get("block_inputs") or {}
        links = [*circuit.get("positive", []), *block.get("positive", []),
                 *circuit.get("outputs", [])]  # a layer on the image has no input channels
        weights = [link["weight"] for link in links]
        counts["with_circuit"] += bool(weights) and all(w == w for w in weights)
        counts["with_accentuation"] += "accent-images" in page
    counts["layers"] = len(manifest["models"][0]["layers"])
    return counts


def run_one(name: str, work: Path, photos: Path, args: argparse.Namespace) -> dict[str, Any]:
    root = work / name
    write_site(root, name, photos, args.bands.split(","), args.article)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(args.threads)}
    command = [sys.executable, __file__, "--child", str(root), "--size", str(args.size),
               "--steps", str(args.steps)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = -1, f"timed out after {args.timeout} s\n{exc.stderr or ''}"
    row: dict[str, Any] = {
        "name": name, "model": FAMILIES[name][0], "seconds": round(time.perf_counter() - start, 1),
        "exit": code, "tracebacks": stderr.count("Traceback (most recent call last)"),
    }
    if code == 0:
        row.update(inspect(root / "site_output"))
    else:
        row["error"] = "\n".join(stderr.strip().splitlines()[-6:])
    return row


def write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    summary = {"photos": args.photos, "size": args.size, "steps": args.steps,
               "threads": args.threads,
               "bands": args.bands, "article": args.article, "load_at_end": load, "rows": rows}
    (out / f"{args.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"Architectures no test names: one site each, random weights, {args.photos} photos, "
        f"{args.size} px pictures, {args.steps} steps, explorer layers "
        f"{', '.join(b + '[-1]' for b in args.bands.split(','))}, one channel each"
        f"{', the flagship article' if args.article else ''}; {args.threads} torch thread(s) per "
        f"build; load average {load:.1f} (2 cores) at the end.",
        "",
        "| network | model | exit | tracebacks | layers | channel pages | with photos "
        "| with circuit | with accentuation | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pages = [r.get(k, "-") for k in ("layers", "channel_pages", "with_photos",
                                          "with_circuit", "with_accentuation")]
        lines.append(f"| {r['name']} | `{r['model']}` | {r['exit']} | {r['tracebacks']} | "
                     + " | ".join(str(p) for p in pages) + f" | {r['seconds']} |")
    failed = [r for r in rows if r["exit"] != 0]
    for r in failed:
        lines += ["", f"{r['name']}:", "```", r["error"], "```"]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--size", type=int, default=32, help="the preset's picture size")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--bands", default="edges,parts,objects")
    ap.add_argument("--article", action="store_true", help="build the flagship article too")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each build")
    ap.add_argument("--append", action="store_true", help="keep the rows of the results file")
    ap.add_argument("--name", default="families")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        build_one(args.child, args.size, args.steps)
        return
    with tempfile.TemporaryDirectory(prefix="featvis-families-") as tmp:
        work = Path(tmp)
        photos = work / "photos"
        photos.mkdir()
        for path in sorted(p for p in SAMPLE.iterdir() if p.is_file())[: args.photos]:
            shutil.copyfile(path, photos / path.name)
        rows: list[dict[str, Any]] = []
        done = REPO / "benchmarks" / "results" / f"{args.name}.json"
        if args.append and done.exists():
            rows = json.loads(done.read_text())["rows"]
        for name in args.families.split(","):
            if any(r["name"] == name for r in rows):
                continue
            row = run_one(name, work, photos, args)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "error"}), flush=True)
            if "error" in row:
                print(row["error"], flush=True)
            write(rows, args)


if __name__ == "__main__":
    main()
