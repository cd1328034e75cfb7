"""`featvis compute` then `featvis render` builds the same site as `featvis build` (the same bytes),
and `render` computes nothing: no optimization, no measurement, no forward pass of the network
(counted with wrappers around the real entry points and a hook on the network, not with timing).
Whatever the caches lack is one line naming it and the command that computes it; nothing is
published."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections import Counter
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw
from sitecompare import timeless_manifest
from test_compute import site_plan
from test_site import make_site, snapshot

from generator import compute
from generator.atlas import accentuation
from generator.atlas.circuits import store as circuit_store
from generator.cache.store import ArtifactStore
from generator.cli import main
from generator.config.presets import PRESETS
from generator.config.site import load_config
from generator.dataset import scan
from generator.jobs import SitePlan
from generator.measure import stage
from generator.measure.stage import measure_top_classes
from generator.models import site as models_site
from generator.models.site import load_spec
from generator.stages import measured, rounds

ARTICLE = """\
---
title: Render from the cache
---

The model reads class {{ numbers.what.class }} in the channel's picture.

```figure
type: objectives
id: what
layer: conv_stem
channel: 1
```

```figure
type: dataset-examples
layer: blocks.1.0
channels: [0]
```
"""
FLAGS = ["--preset", "quick", "--size", "32", "--steps", "4", "--channels", "1", "--quiet"]


def _photos(folder: Path) -> Path:
    folder.mkdir()
    for i in range(5):
        image = Image.new("RGB", (72, 64), (40 * i, 100, 220 - 30 * i))
        draw = ImageDraw.Draw(image)
        for k in range(0, 72, 5 + 2 * i):
            draw.line([(k, 0), (k + 8 * (i % 3), 63)], fill=(250, 240 - 40 * i, 10), width=2)
        image.save(folder / f"p{i}.png")
    return folder


def _site(root: Path, cache: Path, photos: str) -> Path:
    """The test site at an input size of 64 px (so the scan, circuits and checks stay small)."""
    site = make_site(root, cache, ARTICLE, dataset=photos)
    with (site / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write("input_size = 64\n")
    return site


def _run(verb: str, site: Path) -> None:
    assert main([verb, "--config", str(site / "site.toml"), *FLAGS]) == 0, verb


def _same_tree(a: Path, b: Path) -> list[str]:
    """The relative paths that differ between two folders (missing on one side or other bytes),
    manifest.json compared without its volatile `seconds`."""
    sa, sb = snapshot(a), snapshot(b)
    differ = sorted(k for k in sa.keys() | sb.keys() if sa.get(k) != sb.get(k))
    if "manifest.json" in differ and timeless_manifest(a) == timeless_manifest(b):
        differ.remove("manifest.json")
    return differ


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One site built by `build`, the same site (its own cache) by `compute` then `render`."""
    base = tmp_path_factory.mktemp("render")
    photos = str(_photos(base / "photos"))
    built = _site(base / "built", base / "cache-built", photos)
    split = _site(base / "split", base / "cache-split", photos)
    _run("build", built)
    _run("compute", split)
    assert not (split / "site_output").exists(), "compute publishes nothing"
    _run("render", split)
    return built, split


def test_compute_then_render_is_the_build(sites: tuple[Path, Path]) -> None:
    built, split = sites
    assert _same_tree(built / "site_output", split / "site_output") == []
    cache = split.parent / "cache-split"
    for kind in ("circuits", "accentuation", "measures", "dataset"):
        assert any(p.is_file() for p in (cache / kind).rglob("*")), f"compute measured {kind}"


def test_the_class_cells_name_what_their_objective_is(sites: tuple[Path, Path]) -> None:
    """Under a class picture of the objectives figure, what was optimized names the class (its
    index and name, not `class_logit 11`), and the probability cell says its objective is the
    log-probability (a number below 0, not a probability)."""
    html = (sites[0] / "site_output" / "small.html").read_text()
    name = unescape(re.search(r"The model reads class (.+?) in the channel", html)[1])  # type: ignore[index]
    whats = [unescape(w) for w in re.findall(r'class="muted cell-what">([^<]*)<', html)]
    assert len(whats) == 5 and whats[0].startswith("neuron conv_stem:1"), whats
    index = re.search(r"class (\d+) \(", whats[3])
    assert index and whats[3] == f"logit of class {index[1]} ({name})", whats
    assert whats[4] == f"log-probability of class {index[1]} ({name})", whats


def test_render_computes_nothing(
    sites: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, split = sites
    counts: Counter[str] = Counter()
    entry_points = [
        (rounds, "compute_jobs"), (compute, "compute_jobs"), (stage, "layer_vectors"),
        (stage, "read_photos"), (stage, "linear_filters"), (rounds, "measure_top_classes"),
        (measured, "measure_top_classes"),
        (circuit_store, "compute_circuit"), (accentuation, "accentuate"), (scan, "scan"),
        (models_site, "probe_model"),
    ]
    for owner, name in entry_points:
        real = getattr(owner, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(owner, name, counting)
    real_load = models_site.load_spec

    def load_spec(*args: Any, **kw: Any) -> Any:
        model = real_load(*args, **kw)
        model.net.register_forward_pre_hook(lambda *_: counts.update(["forward"]))
        return model

    monkeypatch.setattr(models_site, "load_spec", load_spec)
    before = snapshot(split / "site_output")
    _run("render", split)
    assert counts == Counter(), counts
    assert snapshot(split / "site_output") == before
    # and the counters do count: a build that must compute trips them
    shutil.rmtree(split.parent / "cache-split" / "circuits")
    _run("build", split)
    assert counts["compute_circuit"] >= 1 and counts["forward"] >= 1, counts


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("circuits", " between explorer layers"),  # "1 circuit" or "N circuits"
        ("accentuation", " accentuated photo"),
        ("measures", " pattern check"),
        ("dataset", "dataset scan"),
    ],
)
def test_render_names_what_is_missing(
    sites: tuple[Path, Path], tmp_path: Path, remove: str, named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, split = sites
    cache = tmp_path / "cache"
    shutil.copytree(split.parent / "cache-split", cache)
    shutil.rmtree(cache / remove)
    site = _site(tmp_path / "site", cache, str(split.parent / "photos"))
    shutil.copytree(split / "site_output", site / "site_output")
    before = snapshot(site / "site_output")
    capsys.readouterr()
    assert main(["render", "--config", str(site / "site.toml"), *FLAGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "featvis compute" in err[0], err
    assert snapshot(site / "site_output") == before
    assert not list(site.glob(".site_output.*"))


def test_planning_reads_top_classes_and_never_runs_the_network(
    sites: tuple[Path, Path], tmp_path: Path
) -> None:
    """The objectives figure's class comes from the measure step between rounds: planning with
    the class unmeasured asks for it (`SitePlan.reads`) and runs no forward pass."""
    _, split = sites
    cache = tmp_path / "cache"
    shutil.copytree(split.parent / "cache-split", cache)
    shutil.rmtree(cache / "measures")
    config = load_config(split / "site.toml").with_overrides(cache_dir=str(cache))
    preset = dataclasses.replace(PRESETS["quick"], size=32, steps=4, explorer_channels=1)
    model = load_spec(config, config.model_specs[0], torch.device("cpu"))
    forwards: list[int] = []
    hook = model.net.register_forward_pre_hook(lambda *_: forwards.append(1))
    store = ArtifactStore(cache)

    def class_jobs(plan: SitePlan) -> int:
        terms = [[t for o in j.objectives for _, t in o.terms] for j in plan.jobs]
        return sum(any(t.cls is not None for t in ts) for ts in terms)

    try:
        plan = site_plan(config, model, preset, store)
        assert forwards == [] and len(plan.reads) == 1 and class_jobs(plan) == 0
        assert measure_top_classes(model, store, plan.reads) == 1 and forwards
        forwards.clear()
        again = site_plan(config, model, preset, store)
        assert forwards == [] and class_jobs(again) == 2, "class logit and probability, planned"
    finally:
        hook.remove()
