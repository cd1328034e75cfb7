"""Which sign a circuit's edge should carry: does "excites" mean what a reader takes it to mean?

A circuit's measured weight of source channel s on target channel t is, summed over positions
and averaged over photos, the gradient of t's mean activation with respect to s's activation
times a weight on each position. Two weightings, side by side on the same photos:
    activation   g * a    (gradient times activation; its sign is the gradient's times the
                          activation's, so a channel that is mostly negative "inhibits" a
                          target it raises)
    size         g * |a|  (gradient times the size of the activation; its sign is the
                          gradient's: whether more of s raises t)
On ReLU'd sources (a >= 0) the two are the same; they differ where activations are signed
(EfficientNet's linear bottlenecks, every block output of Lite0).

Each link is held against two things a reader can check, neither of them a gradient:
    picture   t's mean activation on s's optimized picture (the one the page shows), above or
              below its median over the pictures of the target's candidate inputs
    photos    the correlation, over held-out photos, of s's and t's mean activations
The score is the share of each weighting's k strongest links per target whose sign agrees.
A residual block's own channel passed on (s = t) is counted apart: its picture is the same
pattern as t's, and it must excite.

    python benchmarks/bench_circuit_signs.py --name circuit-signs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from generator.atlas.circuits.attribution import attribution_matrix
from generator.models import load_model
from generator.models.hooks import capture
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
# consecutive explorer layers of Lite0: residual blocks (same width) and a stage's first block
PAIRS = (("blocks.2.1", "blocks.3.0"), ("blocks.3.2", "blocks.4.0"),
         ("blocks.4.1", "blocks.4.2"), ("blocks.5.2", "blocks.5.3"))


def photos(folder: Path, size: int, start: int, count: int, every: int) -> torch.Tensor:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    chosen = files[start::every][:count]
    images = [Image.open(f).convert("RGB").resize((size, size), Image.BICUBIC) for f in chosen]
    return torch.stack([
        torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).reshape(size, size, 3)
        .permute(2, 0, 1).float() / 255 for im in images])


def reference(model, source: str, target: str, x: torch.Tensor, rows: list[int]) -> dict:
    """Both weightings, computed here apart from the product: hooks, autograd, nothing shared."""
    modules = dict(model.net.named_modules())
    box: dict = {}

    def plant(_m, _i, out):
        box["leaf"] = out.detach().requires_grad_(True)
        return box["leaf"]

    def keep(_m, _i, out):
        box["target"] = out

    hooks = [modules[source].register_forward_hook(plant),
             modules[target].register_forward_hook(keep)]
    try:
        with torch.enable_grad():
            model.net(model.preprocess(x))
    finally:
        for h in hooks:
            h.remove()
    a, means = box["leaf"], box["target"].mean(dim=(2, 3))
    out: dict = {"activation": [], "size": []}
    for t in rows:
        (g,) = torch.autograd.grad(means[:, t].sum(), a, retain_graph=True)
        out["activation"].append((g * a).sum(dim=(0, 2, 3)) / len(x))
        out["size"].append((g * a.abs()).sum(dim=(0, 2, 3)) / len(x))
    return {k: torch.stack(v).detach() for k, v in out.items()}


def channel_means(model, layers: list[str], x: torch.Tensor, batch: int = 25) -> dict:
    out: dict = {name: [] for name in layers}
    with torch.no_grad():
        for i in range(0, len(x), batch):
            with capture(model.net, layers) as acts:
                model.net(model.preprocess(x[i:i + batch]))
            for name in layers:
                out[name].append(acts[name].mean(dim=(2, 3)))
    return {name: torch.cat(v) for name, v in out.items()}


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-12))


def study(args) -> dict:
    model = load_model(args.model)
    size = model.input_size
    sample = photos(args.dataset, size, 0, args.photos, 60)  # the circuit's 16 photos
    held = photos(args.dataset, size, 7, args.held_out, 4)  # others, for the correlations
    settings = RenderSettings(size=args.size, steps=args.steps, input_size=size)
    rows: list[dict] = []
    pictures: dict[tuple[str, int], torch.Tensor] = {}
    for source, target in PAIRS:
        channels = model.layer(target).channels
        targets = [round(i * (channels - 1) / (args.targets - 1)) for i in range(args.targets)]
        ref = reference(model, source, target, sample, targets)
        made = attribution_matrix(model, source, target, sample, targets=targets)
        means = channel_means(model, [source, target], held)
        links = {}
        for i, t in enumerate(targets):
            for kind in ("activation", "size"):
                for s in ref[kind][i].abs().topk(args.k).indices.tolist():
                    links.setdefault((t, s), {})[kind] = float(ref[kind][i, s])
        want = sorted({s for _, s in links} - {s for (layer, s) in pictures if layer == source})
        for start in range(0, len(want), args.batch):
            chunk = want[start:start + args.batch]
            result = render(model, [obj.channel(source, s) for s in chunk], settings,
                            seeds=list(range(len(chunk))))
            pictures.update({(source, s): im for s, im in zip(chunk, result.images, strict=True)})
            print(f"  {source}: {start + len(chunk)}/{len(want)} pictures", file=sys.stderr)
        for i, t in enumerate(targets):
            srcs = sorted({s for (tt, s) in links if tt == t})
            shown = torch.stack([pictures[(source, s)] for s in srcs])
            shown = torch.nn.functional.interpolate(shown, size=size, mode="bilinear")
            on = channel_means(model, [target], shown)[target][:, t]
            median = on.median()
            for j, s in enumerate(srcs):
                rows.append({
                    "pair": f"{source} -> {target}", "target": t, "source": s,
                    "self": s == t and
                    model.layer(source).channels == channels,
                    "activation": ref["activation"][i, s].item(), "size": ref["size"][i, s].item(),
                    "top": sorted(links[(t, s)]),
                    "picture": float(on[j] - median),
                    "photos": correlation(means[source][:, s], means[target][:, t]),
                })
        rows_made = made.abs().topk(args.k, dim=1).indices
        rows_ref = ref["size"].abs().topk(args.k, dim=1).indices
        print(f"{source} -> {target}: product's strongest {args.k} = reference 'size' for "
              f"{int((rows_made == rows_ref).all(1).sum())}/{len(targets)} targets; largest "
              f"difference {float((made - ref['size']).abs().max()):.2e}", file=sys.stderr)
    return {"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}


def agreement(rows: list[dict], kind: str, evidence: str, selfish: bool | None) -> tuple[int, int]:
    chosen = [r for r in rows if kind in r["top"] and (selfish is None or r["self"] == selfish)]
    if evidence == "picture":  # a picture at its target's median tells nothing
        chosen = [r for r in chosen if r["picture"] != 0]
    agree = sum((r[kind] > 0) == (r[evidence] > 0) for r in chosen)
    return agree, len(chosen)


def markdown(report: dict, command: str) -> str:
    rows = report["rows"]
    lines = [f"`{command}`", "",
             "| links (strongest k per target) | weighting | agrees with its picture | "
             "agrees with photo correlation |", "|---|---|---|---|"]
    for label, selfish in (("all", None), ("a residual's own channel", True),
                           ("other channels", False)):
        for kind in ("activation", "size"):
            cells = []
            for evidence in ("picture", "photos"):
                a, n = agreement(rows, kind, evidence, selfish)
                cells.append(f"{a}/{n} ({100 * a / max(n, 1):.0f} %)")
            lines.append(f"| {label} | {kind} | {cells[0]} | {cells[1]} |")
    inhibiting_self = sum(1 for r in rows if r["self"] and r["activation"] < 0)
    selves = sum(1 for r in rows if r["self"])
    lines += ["", f"A residual's own channel among the links: {selves}; drawn as inhibiting "
              f"by the activation weighting: {inhibiting_self}, by the size weighting: "
              f"{sum(1 for r in rows if r['self'] and r['size'] < 0)}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--photos", type=int, default=16)
    p.add_argument("--held-out", type=int, default=200)
    p.add_argument("--targets", type=int, default=8)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--name", default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    start = time.perf_counter()
    report = study(args)
    command = "python benchmarks/bench_circuit_signs.py " + " ".join(sys.argv[1:])
    text = markdown(report, command.strip())
    print(text)
    print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.name:
        out = ROOT / "benchmarks" / "results"
        (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
        (out / f"{args.name}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
