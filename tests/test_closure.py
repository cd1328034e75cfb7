"""The circuit closure: the channels the sample's circuits name join the plan as jobs of their own
(the same jobs as any channel visualization, so cached like the rest), strongest links first and
within the preset's budget; a closed neighbour has a page and a picture, one the budget leaves out
shows its top photo; the channel page draws its circuit as a graph."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from test_atlas_site import photos

from generator.atlas.circuits import CircuitJob, LayerCircuit
from generator.atlas.closure import circuit_in, closure_units, neighbours
from generator.build import build_site
from generator.cache.store import ArtifactStore
from generator.config.presets import PRESETS, Preset
from generator.config.site import load_config
from generator.figures.channels import single_channel
from generator.figures.context import PlanContext
from generator.jobs import SitePlan
from generator.models.site import load_site_models
from generator.stages.pipeline import Site, plan, read_site

MODEL = "efficientnet_lite0"
CLOSED = Preset("tiny", size=32, steps=2, explorer_channels=1, figure_scale=1.0, closure=0.5)


def _pair(source: str, target: str, matrix: list[list[float]], rows: tuple[int, ...] = ()
          ) -> LayerCircuit:
    return LayerCircuit(CircuitJob("m", "d", source, target, rows=rows), torch.tensor(matrix))


def test_closure_units_strongest_links_first_each_once() -> None:
    # a -> b: b's rows 0 and 1 measured over a's four channels; b -> c: c's row 0 over b's three
    circuits = {
        ("a", "b"): _pair("a", "b", [[3.0, -1.0, 0.5, 0.0], [0.2, 2.0, -4.0, 0.0]], rows=(0, 1)),
        ("b", "c"): _pair("b", "c", [[0.0, 1.0, -2.0]], rows=(0,)),
    }
    circuit = circuit_in(circuits, "b", 0)
    assert circuit is not None and [(n.layer, n.channel, n.rank) for n in neighbours(circuit)] == [
        ("a", 0, 1), ("a", 2, 2), ("a", 1, 1),  # excite, strongest first; then inhibit
    ]
    units = closure_units(circuits, {"b": [0, 1]})
    # every channel's first links (by weight) before anyone's second; each unit once; outputs too
    assert units == [("a", 2), ("a", 0), ("a", 1), ("c", 0)]
    sampled = {"b": [0, 1, 2], "a": [0, 1, 2], "c": [0]}
    assert closure_units(circuits, sampled) == [], "a sampled channel is not closed"


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny site with photos, built with a closure of half the sample's jobs."""
    base = tmp_path_factory.mktemp("closure-site")
    root = base / "site"
    (root / "content").mkdir(parents=True)
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem", "blocks.1.0"]\ncache_dir = "{cache}"\n'
        f'device = "cpu"\nworkers = 1\ndataset = "{photos(base / "photos")}"\n',
        encoding="utf-8",
    )
    build_site(load_config(root / "site.toml"), preset=CLOSED, quiet=True)
    return root


@pytest.fixture(scope="module")
def site(closed: Path) -> Site:
    """The built site read again from its cache (nothing computed)."""
    config = load_config(closed / "site.toml")
    models = load_site_models(config, "cpu", probe=False)
    return read_site(config, CLOSED, models=models, store=ArtifactStore(config.cache_dir),
                     compute=False)


def _plan(site: Site, preset: Preset = CLOSED) -> SitePlan:
    """The site's plan with `preset`, from the cache."""
    site = dataclasses.replace(site, preset=preset)
    return plan(site, site.models[0])


def test_closure_jobs_join_the_plan_are_cached_and_cost_nothing_twice(
    closed: Path, site: Site
) -> None:
    planned = _plan(site)
    ctx = PlanContext(config=site.config, model=site.model, preset=CLOSED)
    rest = len(planned.jobs) - len(planned.closure)
    assert 1 <= len(planned.closure) <= int(CLOSED.closure * rest), "within the preset's budget"
    sampled = {("conv_stem", 0), ("blocks.1.0", 0)}
    for job in planned.closure:
        unit = single_channel(job)
        assert unit is not None and unit not in sampled and unit[0] == "conv_stem"
        assert job.key == ctx.channel_job(*unit).key, "the same job as any channel visualization"
        assert job in planned.jobs and job in planned.by_layer["conv_stem"]
    again = build_site(load_config(closed / "site.toml"), preset=CLOSED, quiet=True)
    assert again.computed == 0, "a second build computes nothing: the closure is cached"
    without = _plan(site, dataclasses.replace(CLOSED, closure=0.0))
    assert without.closure == [] and len(without.jobs) == rest


def test_every_neighbour_has_a_picture_and_the_circuit_draws_as_a_graph(
    closed: Path, site: Site
) -> None:
    planned = _plan(site)
    out = closed / "site_output" / "explorer" / MODEL
    page = (out / "blocks.1.0" / "0.html").read_text(encoding="utf-8")
    assert "not visualized by" not in page, "every neighbour shows a picture"
    for job in planned.closure:  # a closed neighbour: its page, linked with its thumbnail
        _, channel = single_channel(job)  # type: ignore[misc]
        assert (out / "conv_stem" / f"{channel}.html").is_file()
        assert re.search(rf'href="[./]*explorer/{MODEL}/conv_stem/{channel}.html"><img ', page)
    assert "(top photo)" in page, "a neighbour the budget left out shows its top photo"
    graph = re.search(r'<svg class="circuit-graph".*?</svg>', page, re.S).group(0)  # type: ignore[union-attr]
    assert graph.count("<image ") >= 1 + len(planned.closure) and "blocks.1.0:0" in graph
    assert {"pos", "neg"} <= set(re.findall(r'class="edge (pos|neg)"', graph))
    closed_page = (out / "conv_stem" / f"{single_channel(planned.closure[0])[1]}.html")  # type: ignore[index]
    assert "blocks.1.0:0" in closed_page.read_text(encoding="utf-8"), "it shows what it feeds"


def test_the_presets_close_within_half_the_sample() -> None:
    assert PRESETS["standard"].closure == 0.1  # the README's build stays within 1.5x its time
    assert PRESETS["full"].closure == 0.5
    assert PRESETS["quick"].closure == 0.0


def test_the_closure_flag_overrides_the_preset(tmp_path: Path) -> None:
    from generator.cli import build_parser, check_flags
    from generator.commands.common import preset_from_args
    from generator.core.errors import FeatvisError

    (tmp_path / "site.toml").write_text('preset = "standard"\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    args = check_flags(build_parser().parse_args(["status", "--closure", "0.25"]))
    assert preset_from_args(config, args, "cpu").closure == 0.25
    with pytest.raises(FeatvisError, match=r"--closure must be a number from 0 to 10, not -1"):
        check_flags(build_parser().parse_args(["build", "--closure", "-1"]))
