"""Engine benchmark: featvis against the floor and against lucent, side by side in one run.

Measures, on one machine in one process:
  (a) the floor: bare forward+backward of the truncated model at the batch and input size featvis
      uses (one timing per batch, the batch's deepest layer);
  (b) featvis: time per step and per visualization;
  (c) lucent's render_vis (PyPI torch-lucent, which needs kornia==0.4.1; install both in a
      separate environment, see benchmarks/README.md) on the same model as loaded (its batch
      norms in place: featvis folds them into its convolutions itself, lucent runs the network
      it is given), channels, model-input size and step count;
and picture quality of both, measured by the same functions: the mean activation of the final
image (untransformed, at the model-input size), the high-frequency share and the clipped share.

    python benchmarks/bench_engine.py [--steps 128] [--size 128] [--device cpu]

Writes benchmarks/results/engine-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from generator.core.memory import keep_freed_memory
from generator.jobs import default_batch_size
from generator.metrics import clipped_fraction, high_freq_share
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.render import truncated_forward
from generator.optvis.transforms import resize_for_model

UNITS = [
    ("blocks.1.1", 3),
    ("blocks.1.1", 11),
    ("blocks.2.1", 7),
    ("blocks.2.1", 30),
    ("blocks.3.2", 13),
    ("blocks.3.2", 40),
    ("blocks.4.2", 5),
    ("blocks.4.2", 60),
    ("blocks.5.3", 40),
    ("blocks.5.3", 99),
    ("blocks.6.0", 12),
    ("blocks.6.0", 200),
]


def measure(model, units, images, input_size):
    """Mean activation of each unit's channel on its final image, untransformed."""
    values = []
    for (layer, ch), image in zip(units, images, strict=False):
        x = resize_for_model(image[None].to(model.device), input_size)
        with torch.no_grad(), truncated_forward(model, [layer]) as (acts, run):
            run(x)
            values.append(float(acts[layer][0, ch].mean()))
    return values


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def floor_seconds(model, layer, batch, input_size, steps, device):
    """Bare forward+backward of the model truncated after `layer`."""
    x = torch.rand(batch, 3, input_size, input_size, device=device, requires_grad=True)
    with truncated_forward(model, [layer]) as (acts, run):
        for _ in range(2):
            run(x)
            acts[layer].mean().backward()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            x.grad = None
            run(x)
            acts[layer].mean().backward()
        sync(device)
    return time.perf_counter() - start


def by_layer(units):
    groups = {}
    for unit in units:
        groups.setdefault(unit[0], []).append(unit)
    return groups


def bench_featvis(model, units, settings, device, batch):
    """Batches of `batch` units ordered by depth as the planner packs them.

    Returns the images, featvis' seconds and the floor's seconds."""
    images, seconds, floor = {}, 0.0, 0.0
    ordered = sorted(units, key=lambda u: model.layer(u[0]).depth)
    for start in range(0, len(ordered), batch):
        chunk = ordered[start : start + batch]
        sync(device)
        t = time.perf_counter()
        result = render(
            model, [obj.channel(name, c) for name, c in chunk], settings, seeds=[0] * len(chunk)
        )
        sync(device)
        seconds += time.perf_counter() - t
        deepest = max((u[0] for u in chunk), key=lambda name: model.layer(name).depth)
        floor += floor_seconds(
            model, deepest, len(chunk), settings.model_input, settings.steps, device
        )
        for unit, image in zip(chunk, result.images, strict=False):
            images[unit] = image
    return [images[u] for u in units], seconds, floor


def bench_lucent(model, units, settings, device):
    from lucent.optvis import objectives as lobj
    from lucent.optvis import param as lparam
    from lucent.optvis import render as lrender
    from lucent.optvis import transform as ltransform

    net = model.net
    images, seconds = [], 0.0
    norm = lambda x: model.preprocess(x)  # noqa: E731  (the same preprocessing as ours)
    for layer, ch in units:
        lname = model.layer(layer).module_path.replace(".", "_")
        torch.manual_seed(0)
        sync(device)
        t = time.perf_counter()
        out = lrender.render_vis(
            net,
            lobj.channel(lname, ch),
            param_f=lambda: lparam.image(settings.size),
            transforms=ltransform.standard_transforms + [norm],
            thresholds=(settings.steps,),
            preprocess=False,
            progress=False,
            show_image=False,
            fixed_image_size=settings.model_input,
        )
        sync(device)
        seconds += time.perf_counter() - t
        images.append(torch.from_numpy(out[-1][0]).permute(2, 0, 1).float())
    return images, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--input-size", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--units", type=int, default=len(UNITS))
    ap.add_argument("--no-lucent", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument(
        "--per-unit",
        type=int,
        default=None,
        help="channels per listed unit (default 1 on the CPU, 16 on CUDA to fill the GPU)",
    )
    ap.add_argument(
        "--lucent-every",
        type=int,
        default=None,
        help="lucent renders every Nth channel (default: the listed units, one per unit); "
        "speed compares visualizations per second, quality the channels both rendered",
    )
    ap.add_argument("--name", default=None, help="results file stem (default engine-<device>)")
    ap.add_argument(
        "--lucent-steps", type=int, default=None,
        help="lucent's step count (default --steps): featvis' recipe against lucent's own, e.g. "
        "--steps 128 --lucent-steps 256",
    )
    args = ap.parse_args()
    # as the command line does (generator.core.memory); lucent, in this process, gets it too
    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_model(device=device)
    settings = RenderSettings(size=args.size, steps=args.steps, input_size=args.input_size)
    per_unit = args.per_unit or (16 if device.type == "cuda" else 1)
    units = [
        (layer, (c0 + k) % model.layer(layer).channels)
        for layer, c0 in UNITS[: args.units]
        for k in range(per_unit)
    ]
    lucent_units = units[:: args.lucent_every or per_unit]
    batch = args.batch or default_batch_size(device.type)  # what a build uses

    images, f_sec, floor = bench_featvis(model, units, settings, device, batch)

    def row(
        units: list, images: list[torch.Tensor], seconds: float | None, steps: int = args.steps
    ) -> dict:
        """Speed and quality of one run, measured the same way for every engine."""
        stack = torch.stack(images)
        speed = {}
        if seconds is not None:
            speed = {
                "seconds": seconds,
                "vis_per_s": len(units) / seconds,
                "s_per_step_per_vis": seconds / steps / len(units),
            }
        return {
            "units": len(units),
            **speed,
            "activation": measure(model, units, images, settings.model_input),
            "high_freq_share": high_freq_share(stack).tolist(),
            "clipped": clipped_fraction(stack).tolist(),
        }

    name = args.name or f"engine-{device.type}"
    rows = {
        "featvis": row(units, images, f_sec),
        "floor": {"units": len(units), "seconds": floor, "vis_per_s": len(units) / floor},
    }
    if not args.no_lucent:
        l_settings = dataclasses.replace(settings, steps=args.lucent_steps or args.steps)
        as_loaded = load_model(device=device, fold_norms=False)
        l_images, l_sec = bench_lucent(as_loaded, lucent_units, l_settings, device)
        rows["lucent"] = row(lucent_units, l_images, l_sec, l_settings.steps)
        shared = [images[units.index(u)] for u in lucent_units]
        if len(lucent_units) < len(units):  # featvis' quality on the channels lucent rendered
            rows["featvis, lucent's channels"] = row(lucent_units, shared, None)
        try:
            from torchvision.utils import save_image

            save_image(
                torch.cat([torch.stack(shared), torch.stack(l_images)]),
                f"benchmarks/results/{name}.png",
                nrow=len(lucent_units),
            )
        except Exception:  # noqa: BLE001 - the picture is a convenience
            pass
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    summary = {
        "device": str(device),
        "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "units": units,
        "steps": args.steps,
        "lucent_steps": args.lucent_steps or args.steps,
        "size": args.size,
        "model_input": settings.model_input,
        "batch": batch,
        "featvis_over_floor": f_sec / floor,
        "rows": rows,
    }
    if "lucent" in rows:
        same = rows.get("featvis, lucent's channels", rows["featvis"])
        summary["speedup_vs_lucent"] = rows["featvis"]["vis_per_s"] / rows["lucent"]["vis_per_s"]
        summary["activation_ratio_vs_lucent"] = mean(same["activation"]) / mean(
            rows["lucent"]["activation"]
        )
        summary["hf_featvis"] = mean(same["high_freq_share"])
        summary["hf_lucent"] = mean(rows["lucent"]["high_freq_share"])
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"Engine benchmark on {device} ({summary['machine']}, {summary['torch_threads']} threads), "
        f"{len(units)} channels, {args.steps} steps (lucent: {summary['lucent_steps']}), "
        f"image {args.size}px, "
        f"model input {settings.model_input}px, batch {batch}",
        "",
        "| run | channels | seconds | vis/s | mean activation | high-freq share | clipped |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, row in rows.items():
        act = f"{mean(row['activation']):.2f}" if "activation" in row else "-"
        hf = f"{mean(row['high_freq_share']):.3f}" if "high_freq_share" in row else "-"
        cl = f"{mean(row['clipped']):.4f}" if "clipped" in row else "-"
        lines.append(
            (
                f"| {run} | {row['units']} | {row['seconds']:.1f} | {row['vis_per_s']:.3f} | "
                if "seconds" in row
                else f"| {run} | {row['units']} | - | - | "
            )
            + f"{act} | {hf} | {cl} |"
        )
    lines += ["", f"featvis / floor: {summary['featvis_over_floor']:.2f}x"]
    if "lucent" in rows:
        lines += [
            f"featvis speed vs lucent: {summary['speedup_vs_lucent']:.2f}x",
            f"activation featvis / lucent: {summary['activation_ratio_vs_lucent']:.2f}",
        ]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
