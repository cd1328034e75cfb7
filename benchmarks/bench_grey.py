"""A grey network's visualizations: one channel against three, side by side on the same units.

Trains an MNIST-style network (28 px grey input, three convolutions, two linear layers) for
`--train-steps` seeded steps on synthetic grey shapes (disc, ring, square, cross, stripes), so its
channels have structure to show, then renders the same channels of its last two convolutions
with the default recipe at `--size` px (the network seeing 28 px) three ways:

- `three`: a colour image (the decorrelated basis, three channels), the network seeing its
  luminance: what featvis would draw had it not made grey networks' images grey;
- `one-scaled`: one channel at the colour basis's brightness scale (its first column's luminance);
- `one`: one channel, no colour basis (featvis' parameterization for a grey network).

Reports, per way: the colour left in the pictures (the largest and the mean distance of a pixel
from its own luminance), the final objective, the clipped share and the high-frequency share
(`generator.metrics`), and the seconds; writes a contact sheet of the three (one row each).

    PYTHONPATH=. python benchmarks/bench_grey.py

Writes benchmarks/results/grey.json, grey.md and grey.jpg.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"
SIDE = 28
SHAPES = ("disc", "ring", "square", "cross", "stripes")


class MnistNet(nn.Module):
    """An MNIST-style network: 28 px grey pictures, three convolutions, two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, len(SHAPES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))  # type: ignore[no-any-return]


def build() -> nn.Module:
    """An MNIST-style network of grey input, trained on synthetic shapes."""
    return MnistNet()


def shape(kind: int, gen: torch.Generator) -> torch.Tensor:
    """(28, 28) in [0, 1]: one shape of `SHAPES`, placed, sized and turned at random, with noise."""
    yy, xx = torch.meshgrid(torch.arange(SIDE).float(), torch.arange(SIDE).float(), indexing="ij")
    cx, cy = (torch.rand(2, generator=gen) * 10 + 9).tolist()
    r = float(torch.rand(1, generator=gen) * 5 + 4)
    a = float(torch.rand(1, generator=gen) * math.pi)
    dx, dy = xx - cx, yy - cy
    u, v = dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)
    d = (dx**2 + dy**2).sqrt()
    if kind == 0:
        mask = d <= r
    elif kind == 1:
        mask = (d - r).abs() < 1.2
    elif kind == 2:
        mask = (u.abs() <= r * 0.8) & (v.abs() <= r * 0.8)
    elif kind == 3:
        mask = ((u.abs() <= 1.2) & (v.abs() <= r)) | ((v.abs() <= 1.2) & (u.abs() <= r))
    else:
        period = float(torch.rand(1, generator=gen) * 3 + 3)
        mask = (torch.sin(u * 2 * math.pi / period) > 0) & (d <= r + 3)
    noise = torch.randn(SIDE, SIDE, generator=gen) * 0.08
    return (mask.float() * 0.9 + 0.05 + noise).clamp(0, 1)


def train(steps: int, seed: int = 0) -> tuple[nn.Module, float]:
    """The network after `steps` Adam steps of 64 shapes, and its accuracy on 500 others."""
    torch.manual_seed(seed)
    net, gen = MnistNet(), torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)

    def batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, len(SHAPES), (n,), generator=g)
        x = torch.stack([shape(int(k), g) for k in labels])[:, None]
        return (x - 0.1307) / 0.3081, labels

    for _ in range(steps):
        x, y = batch(64, gen)
        loss = nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, y = batch(500, torch.Generator().manual_seed(seed + 99))
    with torch.no_grad():
        accuracy = float((net(x).argmax(1) == y).float().mean())
    return net, accuracy


def main(argv: list[str] | None = None) -> None:
    from generator.core.images import LUMA, luminance, to_pil
    from generator.metrics import clipped_fraction, high_freq_share
    from generator.models import load_model
    from generator.optvis import RenderSettings, render
    from generator.optvis import objectives as obj
    from generator.optvis.basis import COLOR_CORRELATION_NORMALIZED
    from generator.optvis.param import ImageParam

    render_module = sys.modules["generator.optvis.render"]  # the package's `render` is the function
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--channels", type=int, default=8, help="per layer, conv2 and conv3")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="grey")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    net, accuracy = train(args.train_steps)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "shapes.pth"
        torch.save(net.state_dict(), weights)
        model = load_model(f"python:{Path(__file__).resolve()}:build", weights=weights,
                           input_size=SIDE, mean=[0.1307], std=[0.3081])
    assert model.grey, "the network takes one channel"
    gain = float(sum(w * float(c) for w, c in zip(LUMA, COLOR_CORRELATION_NORMALIZED[:, 0],
                                                     strict=True)))

    class Scaled(ImageParam):
        """One channel at the colour basis's brightness scale."""

        def forward(self, lowpass: float | None = None) -> torch.Tensor:
            return torch.sigmoid(self.raw(lowpass) * gain).expand(-1, 3, -1, -1)

    units = [(layer, c) for layer in ("conv2", "conv3") for c in range(args.channels)]
    objectives = [obj.channel(layer, c) for layer, c in units]
    settings = RenderSettings(size=args.size, steps=args.steps, input_size=SIDE)
    ways = {"three": (3, ImageParam), "one-scaled": (1, Scaled), "one": (1, ImageParam)}
    rows, results = [], {}
    for name, (channels, param) in ways.items():
        model.input_channels = channels  # the network sees the luminance either way
        render_module.ImageParam = param  # type: ignore[attr-defined]
        try:
            result = render(model, objectives, settings, seeds=0)
        finally:
            render_module.ImageParam = ImageParam  # type: ignore[attr-defined]
        images = result.images
        colour = (images - luminance(images)).abs()
        results[name] = {
            "colour_max": round(float(colour.amax()), 4),
            "colour_mean": round(float(colour.mean()), 4),
            "objective_mean": round(float(result.final.mean()), 3),
            "clipped_mean": round(float(clipped_fraction(images).mean()), 4),
            "high_freq_mean": round(float(high_freq_share(images).mean()), 4),
            "seconds": round(result.seconds, 2),
        }
        rows.append(torch.cat(list(images), dim=2))
        print(name, results[name], flush=True)
    model.input_channels = 1

    RESULTS.mkdir(exist_ok=True)
    to_pil(torch.cat(rows, dim=1)).save(RESULTS / f"{args.name}.jpg", quality=85)
    meta = {"train_steps": args.train_steps, "accuracy": accuracy, "size": args.size,
            "steps": args.steps, "units": len(units), "threads": args.threads,
            "machine": platform.processor() or platform.machine(), "time": time.ctime(),
            "load_average": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
    (RESULTS / f"{args.name}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        f"# A grey network's visualizations: one channel against three ({len(units)} channels of "
        f"conv2 and conv3, {args.size} px, {args.steps} steps, the network seeing {SIDE} px; "
        f"trained {args.train_steps} steps, accuracy {accuracy:.1%})",
        "",
        "| way | colour left (max, mean) | objective (mean) | clipped share | high-frequency share "
        "| seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['colour_max']:.3f}, {r['colour_mean']:.4f} | {r['objective_mean']:.3f}"
            f" | {r['clipped_mean']:.3f} | {r['high_freq_mean']:.4f} | {r['seconds']:.1f} |"
        )
    lines += ["", f"Seconds under a load average of {meta['load_average']} on {meta['cores']} "
              f"cores, {args.threads} thread(s).", "",
              f"Contact sheet: `{args.name}.jpg` (rows: {', '.join(results)}).",
              f"`PYTHONPATH=. python benchmarks/bench_grey.py --train-steps {args.train_steps}`"]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
