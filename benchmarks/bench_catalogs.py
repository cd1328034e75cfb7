"""The cheap pass over architectures, one network per process: load with random weights at a
small input size (at the network's own size where it refuses that one), its catalog, every layer
captured on two noise pictures, one 2-step visualization of channel 0 of every layer, the circuit
of one channel (attribution from the layer before the middle one, and the middle block's inputs).
Per network: the layers, refused or crashed (where), neighbouring layers whose maps differ by
under 1% (near-duplicates), and the stages timm declares (`feature_info`) that no layer shows.

    PYTHONPATH=. python benchmarks/bench_catalogs.py timm:starnet_s050 torchvision:vgg11_bn ...
        [--size 64] [--name families-round4] [--timeout 420]

Writes benchmarks/results/<name>.json and .md after every network (a network already in the
JSON is not run again).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NEAR = 1e-2  # neighbouring layers whose maps differ by less than this, relatively


def probe(spec: str, size: int) -> dict[str, Any]:
    """In the child process: the cheap pass over one network (`size` 0: its own)."""
    import torch

    from generator.atlas.circuits.attribution import attribution_matrix
    from generator.atlas.circuits.inputs import block_probe
    from generator.core.errors import FeatvisError
    from generator.models import capture, load_model
    from generator.optvis import RenderSettings, render
    from generator.optvis import objectives as obj
    from generator.optvis.transforms import TransformSpec

    torch.set_num_threads(1)
    row: dict[str, Any] = {"model": spec, "size": size or None}
    stage = "load"
    try:
        model = load_model(spec, random_weights=True, **({"input_size": size} if size else {}))
        layers = model.layers
        row["layers"] = len(layers)
        row["names"] = [f"{i.name} {i.channels}x{i.height}x{i.width}" for i in layers]
        side = model.input_size if isinstance(model.input_size, int) else max(model.input_size)
        row["size"] = side
        stage = "capture"
        images = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0))
        paths = [i.module_path for i in layers]
        with torch.no_grad(), capture(model.net, paths) as maps:
            model.net(model.preprocess(images))
        row["capture_mismatch"] = [
            i.name for i in layers if i.module_path not in maps
            or tuple(maps[i.module_path].shape[1:]) != (i.channels, i.height, i.width)]
        row["near_duplicates"] = []
        for a, b in zip(layers, layers[1:], strict=False):
            x, y = maps.get(a.module_path), maps.get(b.module_path)
            if x is not None and y is not None and x.shape == y.shape:
                rel = float((x - y).norm() / (x.norm() + 1e-12))
                if rel < NEAR:
                    row["near_duplicates"].append(f"{a.name}~{b.name} ({rel:.0e})")
        info = getattr(model.net, "feature_info", None)
        stages = [f["module"] for f in info] if isinstance(info, list) else []
        row["missing_stages"] = [s for s in stages if not any(
            p == s or p.startswith(s + ".") or s.startswith(p + ".") for p in paths)]
        stage = "visualization"
        settings = RenderSettings(size=side, steps=2, lr=0.05, transforms=TransformSpec.none())
        result = render(model, [obj.channel(i.name, 0) for i in layers], settings, seeds=0)
        row["finite"] = bool(torch.isfinite(result.final).all())
        stage = "circuit"
        if len(layers) >= 2:
            source, target = layers[len(layers) // 2 - 1].name, layers[len(layers) // 2].name
            weights = attribution_matrix(model, source, target, images, targets=[0])
            row["circuit"] = f"{source} -> {target}: {'nonzero' if weights.any() else 'zero'}"
            row["block_inputs"] = type(block_probe(model, target)).__name__
        row["outcome"] = "ok"
    except FeatvisError as exc:
        row.update(outcome=f"refused ({stage})", error=str(exc)[:300])
    except Exception as exc:  # a crash is what this pass looks for: recorded, not raised
        row.update(outcome=f"crash ({stage})", error=f"{type(exc).__name__}: {exc}"[:300],
                   trace=traceback.format_exc()[-1200:])
    return row


def run_one(spec: str, size: int, timeout: int) -> dict[str, Any]:
    """The pass over `spec` in a process of its own; again at the network's own size where it
    refuses `size`."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    row: dict[str, Any] = {}
    for tried in (size, 0):
        start = time.perf_counter()
        command = [sys.executable, __file__, "--child", spec, "--size", str(tried)]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            lines = done.stdout.strip().splitlines()
            row = json.loads(lines[-1]) if lines else {
                "model": spec, "outcome": f"exit {done.returncode}",
                "error": done.stderr.strip()[-300:]}
        except subprocess.TimeoutExpired:
            row = {"model": spec, "size": tried or None, "outcome": f"timeout ({timeout} s)"}
        row["seconds"] = round(time.perf_counter() - start, 1)
        if not str(row.get("outcome", "")).startswith("refused (load)") or not tried:
            return row
    return row


def write(rows: list[dict[str, Any]], name: str) -> None:
    out = REPO / "benchmarks" / "results"
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "The cheap pass (`bench_catalogs.py`): random weights, the size given (the network's own "
        "where it refuses that), catalog, every layer captured, a 2-step visualization of "
        f"channel 0 of every layer, one circuit; near-duplicates: neighbouring maps under "
        f"{NEAR:.0%} apart; stages missing: `feature_info` modules no layer shows. One torch "
        "thread; seconds under the load of a shared 2-core machine.",
        "",
        "    PYTHONPATH=. python benchmarks/bench_catalogs.py "
        + " ".join(r["model"] for r in rows),
        "",
        "| model | px | outcome | layers | near-duplicate neighbours | stages missing | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dups = r.get("near_duplicates")
        lines.append(
            f"| `{r['model']}` | {r.get('size') or '-'} | {r.get('outcome')} "
            f"| {r.get('layers', '-')} | {len(dups) if dups is not None else '-'} "
            f"| {', '.join(r.get('missing_stages') or []) or '-'} | {r.get('seconds', '-')} |")
    for r in rows:
        if r.get("error"):
            lines += ["", f"`{r['model']}`: {r['error']}"]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--name", default="families-round4")
    parser.add_argument("--timeout", type=int, default=420)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(probe(args.child, args.size)))
        return
    path = REPO / "benchmarks" / "results" / f"{args.name}.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {r["model"] for r in rows}
    for spec in args.models:
        if spec in done:
            continue
        rows.append(run_one(spec, args.size, args.timeout))
        r = rows[-1]
        print(spec, r.get("outcome"), r.get("layers"), r.get("seconds"), flush=True)
        write(rows, args.name)


if __name__ == "__main__":
    main()
