"""The circuit closure of a site, counted from its plan: how many visualizations the closure adds
to the plan, how many channels a circuit names without a picture, and how many channels a `dog`
search lists, without computing a single visualization.

It reads the site (the repository's site.toml and content/ unless `--config`) with the photo
folder (`--dataset`; the scan is made now when the cache lacks it), measures the circuits the
closure is planned from (16 photos; cached), and plans the site with and without the closure
(`Preset.closure` of `--preset`). Every closed job is a standard channel visualization like the
explorer's (one image, the preset's steps and size), so the closure's cost in optimizer time is
its share of the plan's jobs.

Then, for every channel page the site would have (the explorer's inventory), it reads the
channel's circuit and counts the channels it names that have no picture: neither a page (whose
visualization the plan computes) nor a top photo (its layer scanned). And it counts the pages
whose classes, as the search index lists them (the top photos' classes; the model's readings of
the visualizations, which need them computed, are left out, so this is a lower bound), match
`dog` as `templates/static/search.js` matches: a class name or one of its WordNet kinds that
contains the word.

    PYTHONPATH=. python3 benchmarks/bench_closure.py --dataset ../shared/datasets/imagenet-sample \
        --cache /tmp/closure-cache

Results go to benchmarks/results/closure.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def count(args: argparse.Namespace) -> dict[str, Any]:
    from generator.atlas.closure import circuit_in, neighbours
    from generator.atlas.hierarchy import load_hierarchy
    from generator.atlas.search import channel_classes
    from generator.atlas.site import site_circuits
    from generator.cache.store import ArtifactStore
    from generator.config.presets import PRESETS
    from generator.config.site import load_config
    from generator.figures.channels import single_channel
    from generator.figures.context import PlanContext
    from generator.models.site import load_site_models
    from generator.plan.closure import circuit_rows
    from generator.plan.explorer import explorer_inventory
    from generator.stages.pipeline import plan, read_site

    config = load_config(Path(args.config))
    config = dataclasses.replace(
        config, dataset=Path(args.dataset).resolve(), cache_dir=Path(args.cache).resolve(),
        device="cpu",
    )
    preset = PRESETS[args.preset]
    times: dict[str, float] = {}
    start = time.perf_counter()
    (model,) = load_site_models(config, "cpu")
    store = ArtifactStore(config.cache_dir)
    site = read_site(config, preset, models=[model], store=store, compute=True)
    one = site.models[0]
    times["read (scan included)"] = time.perf_counter() - start

    bare = plan(dataclasses.replace(site, preset=dataclasses.replace(preset, closure=0.0)), one)
    start = time.perf_counter()
    site_circuits(config, model, store, bare.explorer, one.dataset, rows=circuit_rows(bare))
    times["circuits"] = time.perf_counter() - start
    planned = plan(site, one)
    circuits = site_circuits(config, model, store, planned.explorer, one.dataset,
                             rows=circuit_rows(planned))
    ctx = PlanContext(config=config, model=model, preset=preset)
    inventory = explorer_inventory(model, planned.explorer, planned.jobs, ctx.channel_job)
    pages = {unit for jobs in inventory.values() for j in jobs if (unit := single_channel(j))}
    scanned = set(one.dataset.layer_names) if one.dataset is not None else set()

    named = without = 0
    lacking: list[str] = []
    hierarchy = load_hierarchy()
    dog = 0
    for layer, channel in sorted(pages):
        circuit = circuit_in(circuits, layer, channel)
        for n in neighbours(circuit) if circuit is not None else []:
            named += 1
            if (n.layer, n.channel) not in pages and n.layer not in scanned:
                without += 1
                lacking.append(f"{layer}:{channel} -> {n.layer}:{n.channel}")
        if one.dataset is not None and layer in scanned:
            top = [(Path(e.path).relative_to(one.dataset.root).as_posix(), e.activation)
                   for e in one.dataset.examples(layer, channel, "top")]
            words = [" ".join([name, *(hierarchy.kinds(name) or ())]).lower()
                     for name, _ in channel_classes(top, [], hierarchy)]
            dog += any("dog" in w for w in words)
    closed_pages = sum(single_channel(j) in pages for j in planned.closure)
    return {
        "preset": preset.name,
        "closure": preset.closure,
        "jobs_without_closure": len(bare.jobs),
        "jobs_with_closure": len(planned.jobs),
        "closure_jobs": len(planned.closure),
        "ratio": round(len(planned.jobs) / len(bare.jobs), 3),
        "pages": len(pages),
        "closed_pages": closed_pages,
        "neighbours_named": named,
        "neighbours_with_a_visualization": sum(
            (n.layer, n.channel) in pages
            for layer, channel in pages
            if (c := circuit_in(circuits, layer, channel)) is not None
            for n in neighbours(c)
        ),
        "neighbours_without_a_picture": without,
        "without": lacking[:20],
        "dog_channels_from_top_photos": dog,
        "seconds": {k: round(v, 1) for k, v in times.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "site.toml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--preset", default="standard")
    ap.add_argument("--out", default=str(RESULTS / "closure.json"))
    args = ap.parse_args()
    result = count(args)
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
