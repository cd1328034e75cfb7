"""Rendering channel pages from a warm cache: how long the whole site (articles off; the explorer
with a page per channel, layer pages, the search index, the manifest) takes to render when every
artifact is already in the cache, for this tree and, interleaved in the same run, another commit.

The cache holds the real `full` plan's jobs (the same keys a `featvis build --preset full` plans)
for the layers named, each filled with a STAND-IN artifact (seeded noise images at the preset's
size and image counts: the channel image, its negative, its diversity set of 4; see `fill`);
the circuits between consecutive layers are stand-in matrices (seeded noise) in the real
`LayerCircuit`. Rendering reads, checks and places those files exactly as it
would real ones, so the timing is a rendering timing; no image or number on such a site means
anything. `--dataset` adds the photo folder's scan (top and bottom photos on every page).

    PYTHONPATH=. python3 benchmarks/bench_atlas_render.py --cache /tmp/render-cache \
        --layers conv_stem blocks.4.2 conv_head --baseline 681891b --rounds 2

fills the cache once (kept for the next run), then renders A B A B (this tree, the baseline
commit's tree, each in a fresh process that loads the model, looks up and verifies every
artifact as a build's planning does (timed apart), and times `SiteRenderer.draw()`: wall and
CPU seconds), and prints per render the seconds, the channel pages written, the
milliseconds a channel and the extrapolation to the 3120 channels of the embedded model's full
preset. Results go to benchmarks/results/atlas-render.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FULL_CHANNELS = 3120


def _site(cache: Path, layers: list[str], dataset: str | None) -> tuple[Any, ...]:
    from generator.cache.store import ArtifactStore
    from generator.config.presets import PRESETS
    from generator.config.site import SiteConfig
    from generator.figures.context import DrawContext
    from generator.models import load_model
    from generator.plan.explorer import explorer_jobs, explorer_page_jobs

    preset = PRESETS["full"]
    config = SiteConfig(
        root=cache, cache_dir=cache / "cache", explorer_layers=tuple(layers), device="cpu",
        dataset=Path(dataset) if dataset else None,
    )
    model = load_model(config.model, device="cpu", seed=config.seed)
    store = ArtifactStore(config.cache_dir)
    ctx = DrawContext(config=config, model=model, preset=preset, store=store)
    explorer = explorer_jobs(config, model, preset, ctx.channel_job)
    jobs = [j for js in explorer.values() for j in js.values()]
    jobs += explorer_page_jobs(ctx, explorer)
    return config, model, preset, store, explorer, jobs


def fill(cache: Path, layers: list[str], dataset: str | None) -> None:
    """Stand-in artifacts for every job of the plan the cache lacks (see the docstring). The
    first artifact of each image count goes through `ArtifactStore.put`; every other is a copy
    of its files (hard links) under a sidecar of its own (its key and job), which the store
    verifies in full like any other when the site reads it."""
    from generator.optvis.render import RenderResult

    _, _, _, store, _, jobs = _site(cache, layers, dataset)
    gen = torch.Generator().manual_seed(0)
    start, filled = time.perf_counter(), 0
    templates: dict[int, Path] = {}
    for job in jobs:
        final = store.path(job.key)
        if final.is_dir():
            templates.setdefault(job.n_images, final)
            continue
        n, s = job.n_images, job.size
        if n not in templates:
            images = torch.rand(n, 3, s, s, generator=gen)
            history = torch.rand(job.steps, n, generator=gen)  # a sidecar of the real size
            fake = RenderResult(images, {}, history, torch.ones(n))
            templates[n] = store.put(job, fake, device="stand-in").dir
        else:
            meta = json.loads((templates[n] / "meta.json").read_text(encoding="utf-8"))
            meta.update(key=job.key, job=job.to_dict())
            tmp = Path(tempfile.mkdtemp(dir=store.root / ".tmp"))
            for name in meta["files"]:
                os.link(templates[n] / name, tmp / name)
            (tmp / "meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
            final.parent.mkdir(exist_ok=True)
            os.rename(tmp, final)
        filled += 1
    print(f"{len(jobs)} jobs, {filled} stand-ins written in {time.perf_counter() - start:.1f} s",
          flush=True)


def stand_in_circuits(model: Any, explorer: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """A seeded noise matrix for every consecutive pair of the explorer's layers."""
    from generator.atlas.circuits import CircuitJob, LayerCircuit

    names = [n for n in model.layer_names if explorer.get(n)]
    gen = torch.Generator().manual_seed(0)
    out = {}
    for source, target in zip(names[:-1], names[1:], strict=True):
        job = CircuitJob(model.id, model.weights_digest, source, target, "attribution", "stand-in")
        shape = (model.layer(target).channels, model.layer(source).channels)
        out[(source, target)] = LayerCircuit(job, torch.randn(shape, generator=gen))
    return out


def _one_model_site(config: Any, model: Any, preset: Any, store: Any, explorer: Any,
                    circuits: Any, index: Any) -> Any:
    """The `Site` a renderer draws: one model, no articles, the explorer as its inventory, the
    stand-in circuits, nothing measured."""
    from generator.jobs import SitePlan
    from generator.measure.stage import Measurements
    from generator.stages.pipeline import ModelSite, Site, SiteData

    data = SiteData(explorer, Measurements(), circuits, {})
    one = ModelSite(model, index, {}, plan=SitePlan([], explorer=explorer), data=data)
    return Site(config, preset, store, [], (one,))


def render_once(cache: Path, layers: list[str], dataset: str | None) -> dict[str, Any]:
    """One timed `SiteRenderer.draw()` of the cached site, in this process's tree."""
    from generator.site.render import SiteRenderer

    config, model, preset, store, explorer, jobs = _site(cache, layers, dataset)
    index = None
    if dataset:
        from generator.dataset.scan import load_or_scan

        index = load_or_scan(config, model, list(explorer), top_k=config.dataset_top_k,
                             progress=False)
    circuits = stand_in_circuits(model, explorer)
    channels = sum(len(js) for js in explorer.values())
    # what a build's planning does before it renders: every job looked up, its artifact
    # verified in full (sizes, sha256, spec) once per store
    start = time.perf_counter()
    assert all(store.get(job) is not None for job in jobs)
    verify = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        SiteRenderer(_one_model_site(config, model, preset, store, explorer, circuits, index),
                     Path(tmp) / "out").draw()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        pages = len(list((Path(tmp) / "out" / "explorer").rglob("*/*/*.html")))
    return {"seconds": seconds, "cpu_seconds": cpu, "verify_seconds": verify,
            "channels": channels, "pages": pages,
            "cpu_ms_per_channel": 1000 * cpu / channels,
            "cpu_full_s": cpu / channels * FULL_CHANNELS,
            "ms_per_channel": 1000 * seconds / channels,
            "full_s": seconds / channels * FULL_CHANNELS}


def tree_of(rev: str, into: Path) -> Path:
    """The source tree of commit `rev` (generator/, templates/) unpacked into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "generator", "templates"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_child(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--cache", args.cache,
           "--layers", *args.layers] + (["--dataset", args.dataset] if args.dataset else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["conv_stem", "blocks.4.2", "conv_head"])
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "featvis-render-bench"))
    ap.add_argument("--dataset", default=None, help="a photo folder (scanned once, cached)")
    ap.add_argument("--baseline", default=None, help="a commit to render side by side")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(render_once(Path(args.cache), args.layers, args.dataset)))
        return
    fill(Path(args.cache), args.layers, args.dataset)
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            trees[f"baseline {args.baseline}"] = tree_of(args.baseline, Path(tmp) / "base")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name, tree in trees.items():
                result = run_child(tree, args)
                runs[name].append(result)
                print(f"round {r + 1} {name}: verified in {result['verify_seconds']:.1f} s, "
                      f"rendered in {result['seconds']:.2f} s wall, "
                      f"{result['cpu_seconds']:.2f} s CPU for {result['channels']} channels "
                      f"({result['pages']} pages), {result['ms_per_channel']:.1f} ms wall, "
                      f"{result['cpu_ms_per_channel']:.1f} ms CPU a channel -> "
                      f"{result['full_s']:.0f} s wall, {result['cpu_full_s']:.0f} s CPU for "
                      f"{FULL_CHANNELS} channels (target 60 s)", flush=True)
    summary = {name: {"median_s": statistics.median(r["seconds"] for r in rs),
                      "median_cpu_s": statistics.median(r["cpu_seconds"] for r in rs),
                      "median_cpu_full_s": statistics.median(r["cpu_full_s"] for r in rs),
                      "median_ms_per_channel": statistics.median(r["ms_per_channel"] for r in rs),
                      "median_full_s": statistics.median(r["full_s"] for r in rs)}
               for name, rs in runs.items()}
    result = {"context": {"machine": platform.machine(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg(), "command": " ".join(sys.argv)},
              "layers": args.layers, "dataset": args.dataset, "summary": summary, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "atlas-render.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
