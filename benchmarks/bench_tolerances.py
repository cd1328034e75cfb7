"""The spread of every float comparison in the tests, per CPU kernel path and thread count.

A test's bound must hold on any processor, so each comparison of floats computed two ways
(batched and alone, folded and as loaded, batched and looped) is measured here in a fresh process
per configuration: 1 and 2 threads, oneDNN capped at each instruction set
(`ONEDNN_MAX_CPU_ISA`), ATen's vectorized kernels at each capability (`ATEN_CPU_CAPABILITY`), and
several seeds each. For every quantity the table gives the largest value seen per configuration,
the test's bound beside it and the margin (bound / largest). The objective's relative difference
is taken at every step without the test's absolute 1e-3 beside it (stricter than the test). A
quantity that must stay far from its bound in the other direction (a wrong pairing of seeds,
objectives or transforms) has its smallest value reported and the margin as smallest / bound.

The pictures of one job are also compared across configurations, at 8 bits, against the first
configuration's: the spread two processes or two machines give for the same batch.

    PYTHONPATH=. python3 benchmarks/bench_tolerances.py [--seeds 3] [--quick]

Writes benchmarks/results/tolerances.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

# name -> (environment, threads)
CONFIGS: dict[str, tuple[dict[str, str], int]] = {
    "default t2": ({}, 2),
    "default t1": ({}, 1),
    "onednn SSE41": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, 2),
    "onednn AVX2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 2),
    "onednn AVX512_CORE": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, 2),
    "aten default": ({"ATEN_CPU_CAPABILITY": "default"}, 2),
    "aten avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 2),
    "aten default+SSE41 t1": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}, 1),
}

# quantity -> (the test and its bound, bound, "max": must stay under / "min": must stay over)
BOUNDS: dict[str, tuple[str, float, str]] = {
    "optvis before: mean |diff| (8-bit levels)": ("test_optvis", 12, "max"),
    "optvis before: max |diff| (8-bit levels)": ("test_optvis", 96, "max"),
    "optvis before: objective rel diff": ("test_optvis history rtol", 0.1, "max"),
    "optvis before: wrong seed mean |diff| (levels)": ("test_optvis, 2x the bound", 24, "min"),
    "optvis default: mean |diff| (8-bit levels)": ("test_optvis", 12, "max"),
    "optvis default: max |diff| (8-bit levels)": ("test_optvis", 96, "max"),
    "optvis default: objective rel diff": ("test_optvis history rtol", 0.1, "max"),
    "optvis default: wrong seed mean |diff| (levels)": ("test_optvis, 2x the bound", 24, "min"),
    "fold lite0: max act diff / scale": ("test_fold atol 1e-4 * scale", 1e-4, "max"),
    "fold lite0: grad mean diff / mean": ("test_fold", 1e-2, "max"),
    "fold lite0: 1 - grad cosine": ("test_fold cosine > 0.9999", 1e-4, "max"),
    "fold resnet18: max act diff / scale": ("test_fold atol 1e-4 * scale", 1e-4, "max"),
    "fold resnet18: grad mean diff / mean": ("test_fold", 1e-2, "max"),
    "fold resnet18: 1 - grad cosine": ("test_fold cosine > 0.9999", 1e-4, "max"),
    "circuits head: max |folded - apart|": ("test_atlas_circuits atol 1e-5 rtol 1e-4", 1e-5, "max"),
    "circuits attribution: max |batched - loop|": ("test_atlas_circuits atol 1e-5", 1e-5, "max"),
    "filters stem: max |filters - weights|": ("test_filters atol 1e-4", 1e-4, "max"),
    "filters stem: affine check a vs b / scale": ("linear_filters tol 1e-4", 1e-4, "max"),
    "filters blocks.0.0: affine check / scale": ("linear_filters tol, must fail", 1e-4, "min"),
    "read: max |prob - softmax|": ("test_models 1e-5", 1e-5, "max"),
    "scan: max |batched - alone| activation": ("test_dataset atol 1e-3", 1e-3, "max"),
    "maco: max rel magnitude diff": ("test_recipe rtol 1e-4", 1e-4, "max"),
}


def _levels(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """The mean and largest difference of two [0,1] pictures stored at 8 bits, in levels."""
    diff = ((a * 255).round() - (b * 255).round()).abs()
    return float(diff.mean()), float(diff.max())


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp(min=1e-3)).max())


def measure_optvis(seeds: list[int], pictures: Path) -> dict[str, list[float]]:
    from test_optvis import SMALL, SMALL_LEGACY

    from generator.models import load_model
    from generator.optvis import objectives as O
    from generator.optvis import render

    lite0 = load_model("efficientnet_lite0", device="cpu")
    out: dict[str, list[float]] = {}
    objectives = [O.channel("blocks.2.1", 7), O.neuron("blocks.3.0", 5), O.deepdream("blocks.1.1")]
    for label, settings in (("before", SMALL_LEGACY), ("default", SMALL)):
        for base in seeds:
            batched = render(lite0, objectives, settings, seeds=[base, base + 1, base + 2])
            if base == seeds[0]:
                torch.save(batched.images, pictures / f"{label}.pt")
            for i, objective in enumerate(objectives):
                alone = render(lite0, [objective], settings, seeds=[base + i])
                mean, most = _levels(batched.images[i], alone.images[0])
                out.setdefault(f"optvis {label}: mean |diff| (8-bit levels)", []).append(mean)
                out.setdefault(f"optvis {label}: max |diff| (8-bit levels)", []).append(most)
                out.setdefault(f"optvis {label}: objective rel diff", []).append(
                    _rel(batched.history[:, i], alone.history[:, 0]))
            other = render(lite0, [objectives[0]], settings, seeds=[base + 1])
            out.setdefault(f"optvis {label}: wrong seed mean |diff| (levels)", []).append(
                _levels(batched.images[0], other.images[0])[0])
    return out


def measure_fold() -> dict[str, list[float]]:
    from test_fold import _layers
    from torch import nn

    from generator.models import load_model

    out: dict[str, list[float]] = {}
    for spec, label in (("efficientnet_lite0", "lite0"), ("torchvision:resnet18", "resnet18")):
        kwargs = {} if label == "lite0" else {"random_weights": True, "input_size": 64}
        folded, loaded = load_model(spec, **kwargs), load_model(spec, fold_norms=False, **kwargs)
        for seed in (3, 4):
            x = torch.rand(2, 3, folded.input_size, folded.input_size,
                           generator=torch.Generator().manual_seed(seed))
            a, grad_a = _layers(folded, x)
            b, grad_b = _layers(loaded, x)
            worst = max(float((a[n] - b[n]).abs().max() / b[n].abs().max()) for n in b)
            out.setdefault(f"fold {label}: max act diff / scale", []).append(worst)
            out.setdefault(f"fold {label}: grad mean diff / mean", []).append(
                float((grad_a - grad_b).abs().mean() / grad_b.abs().mean()))
            cosine = nn.functional.cosine_similarity(grad_a.flatten(), grad_b.flatten(), dim=0)
            out.setdefault(f"fold {label}: 1 - grad cosine", []).append(max(0.0, 1 - float(cosine)))
    return out


def measure_lite0_reads(sample: Path) -> dict[str, list[float]]:
    import torchvision.transforms.functional as TF
    from PIL import Image

    from generator.atlas.circuits import attribution_matrix, weights_matrix
    from generator.measure.filters import _centre_gradients, linear_filters
    from generator.models import load_model
    from generator.optvis.param import ImageParam, ParamSpec
    from generator.optvis.spectrum import magnitude

    lite0 = load_model("efficientnet_lite0", device="cpu")
    unfolded = load_model(lite0.id, fold_norms=False)
    out: dict[str, list[float]] = {}
    signed, _ = weights_matrix(lite0, "blocks.6.0", "conv_head")
    apart, _ = weights_matrix(unfolded, "blocks.6.0", "conv_head")
    out["circuits head: max |folded - apart|"] = [float((signed - apart).abs().max())]
    for seed in (0, 1):
        x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
        batched = attribution_matrix(lite0, "conv_stem", "blocks.0.0", x, strategy="batched")
        loop = attribution_matrix(lite0, "conv_stem", "blocks.0.0", x)
        out.setdefault("circuits attribution: max |batched - loop|", []).append(
            float((batched - loop).abs().max()))
    filters = linear_filters(lite0, "conv_stem")
    assert filters is not None
    net = unfolded.net
    bn_scale = net.bn1.weight / torch.sqrt(net.bn1.running_var + net.bn1.eps)
    expected = (net.conv_stem.weight * bn_scale[:, None, None, None] * 2).detach()
    out["filters stem: max |filters - weights|"] = [float((filters - expected).abs().max())]
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.rand(2, 3, 224, 224, generator=gen) for _ in range(2))
    for layer, key in (("conv_stem", "filters stem: affine check a vs b / scale"),
                       ("blocks.0.0", "filters blocks.0.0: affine check / scale")):
        ga, gb = _centre_gradients(lite0, layer, a), _centre_gradients(lite0, layer, b)
        out[key] = [float((ga - gb).abs().max() / ga.abs().max())]
    photos = sorted(sample.glob("*.jpg"))[:4] if sample.is_dir() else []
    if photos:
        views = torch.stack([TF.to_tensor(TF.center_crop(TF.resize(
            Image.open(p).convert("RGB"), 256), 224)) for p in photos])
        read = lite0.read(views, k=5)
        with torch.inference_mode():
            probs = lite0.net(lite0.preprocess(views)).softmax(1)
            worst = max(abs(q - float(p[k])) for row, p in zip(read, probs, strict=True)
                        for k, q in row)
            out["read: max |prob - softmax|"] = [worst]
            # the scan's batches of photos against each photo alone, at every catalog layer
            from generator.optvis.render import truncated_forward
            names = [info.name for info in lite0.layers]
            with truncated_forward(lite0, names) as (acts, run):
                run(lite0.preprocess(views))
                together = {n: acts[n].clone() for n in names}
                alone = {n: [] for n in names}  # type: dict[str, list[torch.Tensor]]
                for view in views:
                    run(lite0.preprocess(view[None]))
                    for n in names:
                        alone[n].append(acts[n].clone())
            out["scan: max |batched - alone| activation"] = [
                max(float((together[n] - torch.cat(alone[n])).abs().max()) for n in names)]
    for seed in (0, 1):
        param = ImageParam(ParamSpec(kind="maco"), 32, [0, 1])
        with torch.no_grad():
            param.values.add_(torch.randn(param.values.shape,
                                          generator=torch.Generator().manual_seed(seed)))
            got = torch.fft.rfft2(param.raw(), norm="ortho").abs()[:, :, :, 1:-1]
        want = magnitude(32)[None, :, :, 1:-1].expand_as(got)
        out.setdefault("maco: max rel magnitude diff", []).append(
            float(((got - want).abs() / want.clamp(min=1e-3)).max()))
    return out


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO / "tests"))
    out = measure_optvis(list(range(10, 10 + 10 * args.seeds, 10)), Path(args.pictures))
    if not args.quick:
        out.update(measure_fold())
        out.update(measure_lite0_reads(REPO.parent / "shared" / "datasets" / "imagenet-sample"))
    result = {"quantities": out, "capability": torch.backends.cpu.get_cpu_capability()}
    # kept beside the results too, so that a run cut short can be assembled (--assemble)
    parts = RESULTS / "tolerances-parts" / Path(args.pictures).name
    parts.mkdir(parents=True, exist_ok=True)
    for picture in Path(args.pictures).glob("*.pt"):
        (parts / picture.name).write_bytes(picture.read_bytes())
    (parts / "result.json").write_text(json.dumps(result))
    json.dump(result, sys.stdout)


def run_config(name: str, env: dict[str, str], threads: int, args: argparse.Namespace,
               pictures: Path) -> dict:
    folder = pictures / name.replace(" ", "_")
    folder.mkdir()
    command = [sys.executable, __file__, "--child", "--threads", str(threads), "--seeds",
               str(args.seeds), "--pictures", str(folder)] + (["--quick"] if args.quick else [])
    done = subprocess.run(command, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{name}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    result["pictures"] = {label: torch.load(folder / f"{label}.pt")
                          for label in ("before", "default")}
    return result


def table(results: dict[str, dict]) -> tuple[list[str], dict]:
    names = list(results)
    quantities = [q for q in BOUNDS if any(q in r["quantities"] for r in results.values())]
    lines = ["| quantity | test and bound | " + " | ".join(names) + " | worst | margin |",
             "|" + "---|" * (len(names) + 4)]
    summary = {}
    for q in quantities:
        test, bound, side = BOUNDS[q]
        pick = max if side == "max" else min
        cells, seen = [], []
        for name in names:
            values = results[name]["quantities"].get(q)
            cells.append(f"{pick(values):.3g}" if values else "-")
            seen.extend(values or [])
        worst = pick(seen)
        margin = (bound / worst if worst else float("inf")) if side == "max" else worst / bound
        summary[q] = {"bound": bound, "side": side, "worst": worst, "margin": margin}
        label = q.replace("|", "\\|")  # a Markdown table's cell
        lines.append(f"| {label} | {test}: {'<' if side == 'max' else '>'} {bound:g} | "
                     + " | ".join(cells) + f" | {worst:.3g} | {margin:.1f}x |")
    base = names[0]
    lines += ["", f"Pictures of one batch (3 images) against {base}'s, 8-bit levels:", "",
              "| recipe | " + " | ".join(names[1:]) + " |", "|" + "---|" * len(names)]
    for label in ("before", "default"):
        ref = results[base]["pictures"][label]
        cells = []
        for name in names[1:]:
            other = results[name]["pictures"][label]
            mean, most = _levels(other, ref)
            cells.append(f"mean {mean:.2f}, max {most:.0f}")
            summary.setdefault(f"pictures {label} vs {base}", []).append(mean)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seed sets per optimizer quantity")
    parser.add_argument("--quick", action="store_true", help="the optimizer quantities only")
    parser.add_argument("--only", nargs="*", help="configurations to run (names of CONFIGS)")
    parser.add_argument("--name", default="tolerances")
    parser.add_argument("--assemble", action="store_true",
                        help="the table from the configurations finished so far (tolerances-parts)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--pictures", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    chosen = {k: v for k, v in CONFIGS.items() if not args.only or k in args.only}
    results = {}
    if args.assemble:
        for name in chosen:
            part = RESULTS / "tolerances-parts" / name.replace(" ", "_")
            earlier = RESULTS / f"{args.name}.json"  # a finished run's, for parts without one
            if (part / "result.json").is_file():
                results[name] = json.loads((part / "result.json").read_text())
            elif earlier.is_file() and name in json.loads(earlier.read_text())["configs"]:
                results[name] = json.loads(earlier.read_text())["configs"][name]
            if name in results:
                results[name]["pictures"] = {label: torch.load(part / f"{label}.pt")
                                             for label in ("before", "default")}
        chosen = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (env, threads) in chosen.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = run_config(name, env, threads, args, Path(tmp))
    lines, summary = table(results)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    head = [f"# Tolerances: {cpu}, torch {torch.__version__}, {args.seeds} seed sets", "",
            "Capability per configuration: " + ", ".join(
                f"{n}: {r['capability']}" for n, r in results.items()), ""]
    text = "\n".join(head + lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(
        {"cpu": cpu, "torch": torch.__version__, "seeds": args.seeds, "summary": summary,
         "configs": {n: {"env": CONFIGS[n][0], "threads": CONFIGS[n][1],
                         "capability": r["capability"], "quantities": r["quantities"]}
                     for n, r in results.items()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
