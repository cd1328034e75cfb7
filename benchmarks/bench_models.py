"""Model-family benchmark: for each family, the engine against that model's own floor.

For every model (random weights, seeded: the speed does not depend on the values): the layers in
its catalog, and featvis' seconds per visualization at the standard recipe (128 px images, the
model's own input size for transformers, which take no other, 128 px for CNNs) against the floor,
a bare forward+backward of the same model truncated after the same layer at the same batch and
input size (`bench_engine.floor_seconds`). The units are channels of the middle layer of the
`parts` band, one batch of the size a build uses. featvis and the floor alternate (A B A B) for
`--repeats` rounds so that load from other processes falls on both.

    python benchmarks/bench_models.py [--steps 16] [--threads 1] [--models a,b,...]

Writes benchmarks/results/models-cpu.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import floor_seconds, sync  # noqa: E402

from generator.jobs import default_batch_size  # noqa: E402
from generator.models import load_model, resolve_layer_ref  # noqa: E402
from generator.optvis import RenderSettings, render  # noqa: E402
from generator.optvis import objectives as obj  # noqa: E402

MODELS = {
    "efficientnet_lite0": "CNN",
    "efficientnet_lite1": "CNN",
    "efficientnet_lite2": "CNN",
    "torchvision:resnet18": "CNN",
    "torchvision:resnet50": "CNN",
    "torchvision:googlenet": "CNN",
    "torchvision:vgg16": "CNN",
    "torchvision:mobilenet_v3_large": "CNN",
    "torchvision:convnext_tiny": "CNN",
    "torchvision:efficientnet_b0": "CNN",
    "torchvision:regnet_y_400mf": "CNN",
    "torchvision:vit_b_16": "ViT",
    "timm:resnet50": "CNN",
    "timm:convnext_tiny": "CNN",
    "timm:efficientnet_b0": "CNN",
    "timm:vit_tiny_patch16_224": "ViT",
    "timm:deit_small_patch16_224": "ViT",
    "python:examples/own-model/tiny_cnn.py:build": "CNN",
}
TARGET = {"CNN": 1.3, "ViT": 1.5}


def bench_one(spec: str, steps: int, batch: int, repeats: int, device: torch.device) -> dict:
    model = load_model(spec, random_weights=True, device=device)
    layer = resolve_layer_ref("parts", model.layers)
    channels = model.layer(layer).channels
    units = [obj.channel(layer, (7 * k) % channels) for k in range(batch)]
    settings = RenderSettings(
        size=128, steps=steps, input_size=model.input_size if model.fixed_input else None
    )
    render(model, units, RenderSettings(size=128, steps=2, input_size=settings.input_size),
           seeds=0)  # warm-up
    featvis = floor = 0.0
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        render(model, units, settings, seeds=0)
        sync(device)
        featvis += time.perf_counter() - start
        floor += floor_seconds(model, layer, batch, settings.model_input, steps, device)
    n = repeats * batch
    return {
        "model": spec,
        "family": model.family,
        "kind": MODELS.get(spec, "ViT" if model.fixed_input else "CNN"),
        "layers": len(model.layers),
        "optional_layers": len(model.optional_layers),
        "layer": layer,
        "model_input": settings.model_input,
        "s_per_vis": featvis / n * 256 / steps,  # scaled to the standard recipe's 256 steps
        "floor_s_per_vis": floor / n * 256 / steps,
        "ratio": featvis / floor,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--name", default=None)
    ap.add_argument("--append", action="store_true", help="add to the rows of the results file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = args.batch or default_batch_size(device.type)
    rows: list[dict] = []
    if args.append:
        done = Path("benchmarks/results") / f"{args.name or f'models-{device.type}'}.json"
        rows = json.loads(done.read_text())["rows"] if done.exists() else []
    for spec in args.models.split(","):
        row = bench_one(spec, args.steps, batch, args.repeats, device)
        rows.append(row)
        print(json.dumps(row), flush=True)
        write(rows, args, device, batch)  # after every model: a long run leaves what it measured


def write(rows: list[dict], args: argparse.Namespace, device: torch.device, batch: int) -> None:
    summary = {
        "device": str(device),
        "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "steps_measured": args.steps,
        "repeats": args.repeats,
        "batch": batch,
        "rows": rows,
    }
    name = args.name or f"models-{device.type}"
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"Model families on {device} ({summary['machine']}, {summary['torch_threads']} threads), "
        f"batch {batch}, {args.steps} steps measured x {args.repeats} rounds (A B A B), seconds "
        "scaled to 256 steps; 128 px images; random weights",
        "",
        "| model | family | layers (+ optional) | layer timed | model input | s / vis (256 steps) "
        "| floor s / vis | featvis / floor | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = TARGET[r["kind"]]
        mark = "ok" if r["ratio"] <= target else "over"
        lines.append(
            f"| {r['model']} | {r['family']} | {r['layers']}"
            f"{' + ' + str(r['optional_layers']) if r['optional_layers'] else ''} | {r['layer']} "
            f"| {r['model_input']} | {r['s_per_vis']:.2f} | {r['floor_s_per_vis']:.2f} "
            f"| {r['ratio']:.2f}x | <= {target}x {mark} |"
        )
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
