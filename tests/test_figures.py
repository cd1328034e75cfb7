# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""Figure types: option checking against the model (file:line, valid choices), the jobs each type
asks for, and channels chosen from measurements in the cache (survey first, then the strongest,
most distinct channels). No optimization runs here: measurements are stored with the real
ArtifactStore from synthetic results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from generator.cache.store import ArtifactStore
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.figures.channels import pick_distinct, single_channel
from generator.figures.context import DrawContext
from generator.figures.registry import FIGURE_TYPES, figure_for
from generator.models import load_model
from generator.optvis.recipe import CLASS_STEPS
from generator.optvis.render import RenderResult
from generator.pages.content import FigureSpec

PRESET = Preset("tiny", size=32, steps=8, explorer_channels=1, figure_scale=1.0)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model(random_weights=True)


@pytest.fixture
def ctx(tmp_path: Path, model) -> DrawContext:  # type: ignore[no-untyped-def]
    config = SiteConfig(root=tmp_path, cache_dir=tmp_path / "cache", seed=3)
    return DrawContext(config=config, model=model, preset=PRESET, store=ArtifactStore(tmp_path / "cache"))


def fig(kind: str, **options):  # type: ignore[no-untyped-def]
    lines = {key: 10 + i for i, key in enumerate(options)}
    return figure_for(FigureSpec(kind, options, Path("content/a.md"), 9, lines, 0))


def bound(model, kind: str, **options):  # type: ignore[no-untyped-def]
    return fig(kind, **options).bind(model)


def put(store: ArtifactStore, job, value: float, image: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    n = job.n_images
    store.put(job, RenderResult(images=image.expand(n, 3, *image.shape[-2:]).clone(), snapshots={},
                                history=torch.zeros(job.steps, n), final=torch.full((n,), value)),
              device="cpu")


def test_a_flat_picture_shows_flat_not_its_residues_high_frequencies(ctx) -> None:  # type: ignore[no-untyped-def]
    """A picture a strong penalty left grey (a level or two of residue) is drawn "flat" with no
    HF share, and a figure's `hf` number of it is None (the article's default); a picture of a
    faint pattern keeps its share."""
    gen = torch.Generator().manual_seed(0)
    flat = 0.5 + (torch.rand(3, 32, 32, generator=gen) - 0.5) * 3 / 255
    faint = 0.5 + 0.1 * torch.sin(torch.linspace(0, 25, 32)).view(1, 1, 32).expand(3, 32, 32)
    ctx.image_url = str
    views = []
    for channel, image in ((1, flat), (2, faint)):
        job = ctx.channel_job("conv_stem", channel)
        put(ctx.store, job, 1.0, image)
        views.append(ctx.view(job))
    assert views[0].flat and views[0].high_freq is None
    assert not views[1].flat and views[1].high_freq is not None
    from generator.site.env import make_env

    stats = make_env(ctx.config).get_template("macros.html").module.stats  # type: ignore[attr-defined]
    assert ">flat</span>" in str(stats(views[0])) and "HF" not in str(stats(views[0]))
    assert "HF " in str(stats(views[1]))


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("negative", {"layer": "blocks.9.9"}, r"a\.md:10: figure 'negative': unknown layer 'blocks\.9\.9' \(did you mean: .*valid: conv_stem"),
        ("negative", {"layer": "blocks.2.1", "channels": [3, 40]}, r"a\.md:11: .*channel 40 out of range for layer 'blocks\.2\.1' \(valid: 0\.\.39\)"),
        ("objectives", {"layer": "conv_stem", "class": "not a class"}, r"a\.md:11: figure 'objectives': unknown class 'not a class'"),
        ("interpolation-grid", {"pairs": [["conv_stem:1", "conv_stem:99"]]}, r"a\.md:10: .*channel 99 out of range for layer 'conv_stem' \(valid: 0\.\.31\)"),
        ("interpolation-grid", {"pairs": 2}, r"a\.md:10: .*a count of pairs needs 'layer:'"),
        ("layer-gallery", {"layers": ["conv_stem", "blocks.2.7"]}, r"a\.md:10: .*unknown layer 'blocks\.2\.7'"),
    ],
)
def test_bind_checks_layers_channels_classes(model, kind: str, options: dict, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FeatvisError) as info:
        bound(model, kind, **options)
    assert re.search(expected, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("regularization", {"layer": "x", "strengths": {"tvv": [1]}}, r"a\.md:11: .*'strengths' names unknown regularizer 'tvv' \(did you mean: tv"),
        ("interpolation-grid", {"pairs": [["conv_stem-1", "conv_stem:2"]]}, r"a\.md:10: .*units are written LAYER:CHANNEL"),
        ("preconditioning", {"layer": "x", "transforms": "all"}, r"a\.md:11: .*'all' is not known \(valid: none, jitter, robust\)"),
        ("negative", {"layer": "x", "channels": "many"}, r"a\.md:11: .*'channels' must be a count"),
        ("layer-gallery", {"id": "2fast"}, r"a\.md:10: figure id '2fast' must be"),
        ("layer-gallery", {"caption": "See https://distill.pub"}, r"a\.md:10: .*'caption' links outside the site"),
        ("optimization-progress", {"layer": "x", "caption": "From {{ numbers.p.objective.first }}."}, r"a\.md:11: .*'caption' takes no \{\{ variables \}\}; quote the figure's numbers in the text"),
        ("layer-gallery", {"layout": "wide"}, r"a\.md:10: .*'wide' is not known \(valid: text, page, screen\)"),
    ],
)
def test_options_are_checked_without_a_model(kind: str, options: dict, expected: str) -> None:
    with pytest.raises(FeatvisError) as info:
        fig(kind, **options)
    assert re.search(expected, str(info.value)), str(info.value)


HOSTILE = (10**9, True, {"x": 1})  # too large for any count or number; not text, not a list


@pytest.mark.parametrize("kind", sorted(FIGURE_TYPES))
def test_every_figure_option_refuses_a_value_outside_its_range_at_its_line(kind: str) -> None:
    """Each option of each figure type is checked: some value outside its range is one line
    naming the file, the option's line, the figure and the option, with what would fit."""
    options = FIGURE_TYPES[kind].all_options()
    required = {k: "conv_stem" for k, o in options.items() if o.required}
    for key in options:
        messages = []
        for value in HOSTILE:
            block = {**required, key: value}
            try:
                fig(kind, **block)
            except FeatvisError as exc:
                messages.append(str(exc))
        line = 10 + list(block).index(key)
        assert messages, f"{kind}: '{key}' accepts {HOSTILE}"
        for message in messages:
            assert message.startswith(f"content/a.md:{line}: figure ") and "\n" not in message
            fits = ("must" in message or "not known" in message or "valid:" in message)
            assert f"'{key}'" in message and fits, message


def test_every_type_has_a_template_and_static_number_keys() -> None:
    root = Path(__file__).resolve().parent.parent / "templates" / "figures"
    for kind, cls in FIGURE_TYPES.items():
        assert (root / f"{kind}.html").is_file(), kind
        required = {k: "conv_stem" for k, o in cls.all_options().items() if o.required}
        keys = figure_for(FigureSpec(kind, required, Path("a.md"), 1)).number_keys()
        assert len(keys) == len(set(keys)), kind


def test_interpolation_rows_blend_two_channels_with_shared_params(ctx, model) -> None:  # type: ignore[no-untyped-def]
    f = bound(model, "interpolation-grid", pairs=[["blocks.2.1:3", "blocks.2.1:7"], ["conv_stem:0", "conv_stem:1"]], frames=5, alignment=2.0)
    jobs = f.jobs(ctx)
    assert len(jobs) == 2, "one job per row"
    row = jobs[0]
    assert row.n_images == 5 and row.param.shared and row.seed == 3 and row.size == 32
    weights = [{(t.kind, t.channel): w for w, t in o.terms} for o in row.objectives]
    assert weights[0] == {("channel", 3): 1.0, ("alignment", None): 2.0}
    assert weights[-1] == {("channel", 7): 1.0, ("alignment", None): 2.0}
    assert weights[2][("channel", 3)] == pytest.approx(0.5) and weights[2][("channel", 7)] == pytest.approx(0.5)


def test_regularization_starts_from_naive_pixels(ctx, model) -> None:  # type: ignore[no-untyped-def]
    f = bound(model, "regularization", layer="blocks.2.1", channel=4, strengths={"tv": [1, 9]})
    jobs = f.jobs(ctx)
    assert all(j.param.kind == "pixel" and not j.param.decorrelate for j in jobs)
    plain = jobs[0]
    assert plain.transforms.is_identity and [t.kind for _, t in plain.objectives[0].terms] == ["channel"]
    tv = [j for j in jobs if any(t.kind == "tv" for _, t in j.objectives[0].terms)]
    assert sorted(w for j in tv for w, t in j.objectives[0].terms if t.kind == "tv") == [-9.0, -1.0]
    moving = [j for j in jobs if not j.transforms.is_identity]
    assert moving and all(len(j.objectives[0].terms) == 1 for j in moving), "jitter and robustness rows add no penalty"
    assert len({j.key for j in jobs}) == len(jobs) == 1 + 3 + 2 + 3 + 3 + 3
    keys = f.number_keys()
    assert "hf.unregularized" in keys and "hf.tv.strongest" in keys


def test_figure_scale_keeps_fewer_strengths(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    half = Preset("half", size=32, steps=8, explorer_channels=1, figure_scale=0.5)
    ctx = DrawContext(config=SiteConfig(root=tmp_path), model=model, preset=half, store=None)
    f = bound(model, "regularization", layer="conv_stem", channel=1, strengths={"blur": [1, 2, 3, 4]})
    blur = [j for j in f.jobs(ctx) if any(t.kind == "blur" for _, t in j.objectives[0].terms)]
    assert [w for j in blur for w, t in j.objectives[0].terms if t.kind == "blur"] == [-1.0, -4.0]
    # two strengths stay two: half of them kept the weakest alone, which `hf.tv.strongest` quoted
    f = bound(model, "regularization", layer="conv_stem", channel=1, strengths={"tv": [5, 40]})
    assert f.strengths(ctx, "tv") == (5.0, 40.0) and f.strengths(ctx, "l1") == (2.0, 50.0)
    one = bound(model, "regularization", layer="conv_stem", channel=1, strengths={"tv": [7]})
    assert one.strengths(ctx, "tv") == (7.0,)


def test_preconditioning_and_progress_snapshots(ctx, model) -> None:  # type: ignore[no-untyped-def]
    jobs = bound(model, "preconditioning", layer="conv_stem", channel=2, snapshots=3).jobs(ctx)
    assert [(j.param.kind, j.param.decorrelate) for j in jobs] == [("pixel", False), ("fourier", False), ("fourier", True)]
    assert len({j.snapshot_steps for j in jobs}) == 1 and jobs[0].snapshot_steps == (2, 4, 8)
    assert len({j.transforms for j in jobs}) == 1, "only the parameterization differs"
    (progress,) = bound(model, "optimization-progress", layer="conv_stem", channel=2, snapshots=5).jobs(ctx)
    steps = progress.snapshot_steps
    assert steps[0] == 0 and steps[-1] == PRESET.steps and list(steps) == sorted(set(steps))


def test_objectives_negative_diversity_jobs(ctx, model) -> None:  # type: ignore[no-untyped-def]
    jobs = bound(model, "objectives", layer="blocks.2.1", channel=5, **{"class": 1}).jobs(ctx)
    kinds = [j.objectives[0].terms[0][1].kind for j in jobs]
    assert kinds == ["neuron", "channel", "layer", "class_logit", "class_prob"]
    assert jobs[3].objectives[0].terms[0][1].cls == 1  # an untrained network's outputs by index
    assert jobs[1] == ctx.channel_job("blocks.2.1", 5), "the channel image is the explorer's"
    assert [j.steps for j in jobs] == [PRESET.steps] * 3 + [CLASS_STEPS * PRESET.steps] * 2
    (neg,) = bound(model, "negative", layer="conv_stem", channels=[4]).jobs(ctx)
    assert [o.terms[0][0] for o in neg.objectives] == [1.0, -1.0]
    (div,) = bound(model, "diversity", layer="conv_stem", channels=[4], images=3, weight=7).jobs(ctx)
    assert div.n_images == 3 and {(t.kind, w) for o in div.objectives for w, t in o.terms} == {("channel", 1.0), ("diversity", 7.0)}


def test_gallery_defaults_to_one_layer_per_band(ctx, model) -> None:  # type: ignore[no-untyped-def]
    f = bound(model, "layer-gallery", channels=[0])
    layers = [single_channel(j)[0] for j in f.jobs(ctx)]  # type: ignore[index]
    assert [model.layer(n).band for n in layers] == ["edges", "textures", "patterns", "parts", "objects"]


def test_gallery_shows_a_layer_two_references_name_once(ctx, model) -> None:  # type: ignore[no-untyped-def]
    """`objects[0]` and `objects[-1]` of a network whose objects band is one layer are one row."""
    f = fig("layer-gallery", layers=["edges[0]", "conv_stem", "objects[-1]"], channels=[0])
    f = f.resolve(model).bind(model)
    assert f.layers_used(model) == ["conv_stem", model.layer_names[-1]]
    assert len(f.jobs(ctx)) == 2


def test_pick_distinct_prefers_strong_and_different() -> None:
    scores = {0: 1.0, 1: 9.0, 2: 8.9, 3: 5.0}
    same = {(1, 2), (2, 1)}
    chosen = pick_distinct(scores, lambda a, b: 1.0 if (a, b) in same or a == b else 0.0, 2)
    assert chosen == [1, 3], "8.9 looks just like 9.0, so the next distinct channel wins"
    assert pick_distinct(scores, lambda a, b: 0.0, 10) == [1, 2, 3, 0]


def test_channels_are_chosen_from_a_measured_survey(ctx, model) -> None:  # type: ignore[no-untyped-def]
    f = bound(model, "negative", layer="blocks.2.1", channels=2)
    survey = f.jobs(ctx)
    assert ctx.choose_channels("blocks.2.1", 2) is None, "nothing measured yet"
    assert [single_channel(j)[0] for j in survey] == ["blocks.2.1"] * len(survey)  # type: ignore[index]
    channels = [single_channel(j)[1] for j in survey]  # type: ignore[index]
    assert len(channels) == 8 and all(j == ctx.channel_job("blocks.2.1", c) for j, c in zip(survey, channels, strict=True))
    gen = torch.Generator().manual_seed(0)
    images = {c: torch.rand(3, 32, 32, generator=gen) for c in channels}
    best, twin, other = channels[-1], channels[-2], channels[3]
    images[twin] = images[best].clone()  # as strong as the best, but the same picture
    scores = {c: 1.0 for c in channels} | {best: 10.0, twin: 9.9, other: 8.0}
    for job, c in zip(survey, channels, strict=True):
        put(ctx.store, job, scores[c], images[c])
    fresh = DrawContext(config=ctx.config, model=model, preset=PRESET, store=ctx.store)
    assert fresh.choose_channels("blocks.2.1", 2) == [best, other]
    jobs = f.jobs(fresh)
    assert [tuple(o.terms[0][1].channel for o in j.objectives) for j in jobs] == [(best, best), (other, other)]


def test_directions_pairs_sums_and_seeded_random_directions(ctx, model) -> None:  # type: ignore[no-untyped-def]
    f = bound(model, "directions", layer="blocks.2.1", channels=[3, 7, 9, 11], random=2)
    jobs = f.jobs(ctx)
    assert jobs[:4] == [ctx.channel_job("blocks.2.1", c) for c in (3, 7, 9, 11)]
    sums = [sorted((t.kind, t.channel) for _, t in j.objectives[0].terms) for j in jobs[4:6]]
    assert sums == [[("channel", 3), ("channel", 7)], [("channel", 9), ("channel", 11)]]
    randoms = [j.objectives[0].terms[0][1] for j in jobs[6:]]
    assert [t.kind for t in randoms] == ["direction", "direction"]
    vectors = [torch.tensor(t.vector) for t in randoms]
    assert all(len(v) == 40 and abs(float(v.norm()) - 1) < 1e-5 for v in vectors)
    assert not torch.allclose(vectors[0], vectors[1])
    assert [j.key for j in f.jobs(ctx)[6:]] == [j.key for j in jobs[6:]], "random directions are seeded"
    with pytest.raises(FeatvisError, match=r"'random' must be a whole number 0\.\.8"):
        fig("directions", layer="blocks.2.1", random=20)


def test_class_reading_names_picture_and_top_photo(tmp_path: Path, lite0) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    from generator.dataset.folder import load_view
    from generator.dataset.scan import load_or_scan
    from generator.figures.checks import class_reading
    from generator.measure.stage import Unit, measure_site

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        image = Image.new("RGB", (96, 80), (40 * i, 140, 255 - 50 * i))
        ImageDraw.Draw(image).ellipse([8 + 9 * i, 8, 60 + 6 * i, 70], fill=(230, 40 * i, 60))
        image.save(photos / f"p{i}.png")
    config = SiteConfig(root=tmp_path, cache_dir=tmp_path / "cache", seed=3, dataset=photos)
    index = load_or_scan(config, lite0, ["blocks.1.1", "blocks.5.3"], top_k=2, progress=False, workers=0)
    preset = Preset("tiny", size=224, steps=8, explorer_channels=1, figure_scale=1.0)
    ctx = DrawContext(config=config, model=lite0, preset=preset, store=ArtifactStore(tmp_path / "cache"),
                        dataset=index)
    top = index.examples("blocks.5.3", 5)[0]
    photo = load_view(top.path, 224).float() / 255
    same, other = ctx.channel_job("blocks.5.3", 5), ctx.channel_job("blocks.5.3", 6)
    put(ctx.store, same, 1.0, photo)  # a "visualization" that is the top photo itself
    put(ctx.store, other, 1.0, torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0)))
    edge = ctx.channel_job("blocks.1.1", 0)
    put(ctx.store, edge, 1.0, photo)
    units = [Unit(same, "blocks.5.3", 5), Unit(other, "blocks.5.3", 6), Unit(edge, "blocks.1.1", 0),
             Unit(ctx.channel_job("conv_head", 0), "conv_head", 0)]
    ctx.measures = measure_site(lite0, ctx.store, index, units, [])  # the stage before drawing
    reading = class_reading(ctx, same, "blocks.5.3", 5)
    assert reading is not None and reading.photo_file == top.path.name
    assert reading.meets and reading.picture[0][0] == reading.photo[0], "the same image reads the same"
    assert len(reading.picture) == 5 and reading.picture[0][1] >= reading.picture[-1][1]
    expected = [(lite0.class_names[k], p) for k, p in lite0.read(photo[None], 5)[0]]
    assert [name for name, _ in reading.picture] == [name for name, _ in expected]
    noise = class_reading(ctx, other, "blocks.5.3", 6)
    assert noise is not None
    photo6 = lite0.class_names[lite0.read(load_view(index.examples("blocks.5.3", 6)[0].path, 224).float()[None] / 255, 1)[0][0][0]]
    assert noise.photo[0] == photo6 and noise.meets == (photo6 in [n for n, _ in noise.picture])
    # An edge-band channel's picture is not read; nor is any without a scan of its layer.
    assert class_reading(ctx, edge, "blocks.1.1", 0) is None
    assert class_reading(ctx, ctx.channel_job("conv_head", 0), "conv_head", 0) is None


def test_options_are_parsed_once_into_a_frozen_value(model) -> None:  # type: ignore[no-untyped-def]
    figure = fig("negative", layer="parts[-1]")
    parsed = figure.options
    with pytest.raises(TypeError):
        parsed["layer"] = "conv_stem"  # type: ignore[index]
    figure.resolve(model)
    assert parsed["layer"] == "parts[-1]", "the parsed value is never changed"
    assert figure.options["layer"] in model.layer_names and figure.options["layer"] != "parts[-1]"
    assert set(figure.options) == set(parsed) and figure.options["caption"] == parsed["caption"]


def test_directions_keep_a_pair_under_a_small_figure_scale(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    """`channels: 2` under the quick preset's half scale still shows one pair and its sum, not an
    empty figure; a count or a list that cannot be taken in pairs stops at its line."""
    half = Preset("half", size=32, steps=8, explorer_channels=1, figure_scale=0.5)
    config = SiteConfig(root=tmp_path, cache_dir=tmp_path / "cache", seed=3)
    store = ArtifactStore(tmp_path / "cache")
    ctx = DrawContext(config=config, model=model, preset=half, store=store)
    f = bound(model, "directions", layer="blocks.2.1", channels=2, random=0)
    survey = f.jobs(ctx)
    gen = torch.Generator().manual_seed(0)
    for k, job in enumerate(survey):
        put(store, job, float(k), torch.rand(3, 32, 32, generator=gen))
    fresh = DrawContext(config=config, model=model, preset=half, store=store)
    pairs = f.pairs(fresh)
    assert pairs is not None and len(pairs) == 1, pairs
    assert len(f.jobs(fresh)) == 3, "two channels and their sum"
    for channels, line in ((3, 11), ([5], 11), ([1, 2, 3], 11)):
        with pytest.raises(FeatvisError, match=rf"a\.md:{line}: figure 'directions': 'channels' .*in pairs"):
            fig("directions", layer="blocks.2.1", channels=channels)


def test_progress_curve_reads_from_its_first_objective_to_its_last(model) -> None:  # type: ignore[no-untyped-def]
    """The line under the curve names where the run started and ended, the numbers the last
    snapshot and `objective.final` show, and its highest point apart when the run came down from
    it (it read "from 2.8 to 32.3", the curve's extremes, under a last snapshot of 29.5)."""
    from generator.figures.base import sparkline
    from generator.figures.context import ImageView
    from generator.site.env import make_env

    f = bound(model, "optimization-progress", layer="conv_stem", channel=2, snapshots=3)
    template = make_env(SiteConfig(root=Path("."))).get_template("figures/optimization-progress.html")
    frames = [ImageView("a.png", "alt", "step 48", 29.46, 0.04)]
    html = template.render(fig=f, frames=frames, curve=sparkline([2.8, 32.3, 29.46]), unit="conv_stem:2", href=None)
    assert re.search(r"objective over 48 steps, from 2\.8 to 29\.5 \(highest 32\.3\)", html), html
    rising = template.render(fig=f, frames=frames, curve=sparkline([2.8, 12.0, 29.46]), unit="conv_stem:2", href=None)
    assert "from 2.8 to 29.5 ·" in rising and "highest" not in rising


def test_a_circuit_graph_names_each_columns_layer_once() -> None:
    """Each node of a circuit graph carries its channel number, and its column's one layer is
    named above it (a whole `layer:channel` on a 64 px node was unreadable on a phone); nodes of
    several layers keep their whole units. Nothing is drawn over the header."""
    from generator.figures.circuit import WIDTH, layout

    inputs = [{"unit": "a.1:3", "weight": 1.0}, {"unit": "a.1:12", "weight": -0.5}]
    graph = layout(inputs, {"unit": "a.2:5"}, [{"unit": "b:7", "weight": 0.2}])
    assert [n["label"] for n in graph["nodes"]] == ["3", "12", "7"]
    assert [(h["text"], h["anchor"]) for h in graph["headers"]] == [
        ("a.1", "start"), ("b", "end"), ("a.2:5", "middle")]
    assert {h["y"] for h in graph["headers"]} == {graph["headers"][0]["y"]}  # one line
    assert min(n["y"] for n in [*graph["nodes"], graph["target"]]) > graph["headers"][0]["y"]
    mixed = layout([{"unit": "a:1", "weight": 1.0}, {"unit": "b:2", "weight": 1.0}],
                   {"unit": "c:0"})
    assert [n["label"] for n in mixed["nodes"]] == ["a:1", "b:2"]
    assert [(h["x"], h["anchor"], h["text"]) for h in mixed["headers"]] == [(WIDTH, "end", "c:0")]


def test_long_layer_names_above_a_circuit_graph_take_lines_of_their_own() -> None:
    """Names too long to stand side by side above the graph (a NesT block's) are drawn on
    further lines, the nodes below them all, rather than over one another."""
    from generator.figures.circuit import CHAR, layout

    long = "levels.0.transformer_encoder.0"
    graph = layout([{"unit": f"{long}:3", "weight": 1.0}], {"unit": "levels.0.transformer_encoder.1:5"},
                   [{"unit": "levels.1.transformer_encoder.0:7", "weight": 0.2}])
    spans = [(h["y"], h["x"] - {"start": 0, "middle": 0.5, "end": 1}[h["anchor"]] * len(h["text"]) * CHAR,
              len(h["text"]) * CHAR) for h in graph["headers"]]
    for k, (y, left, width) in enumerate(spans):
        for y2, left2, width2 in spans[k + 1 :]:
            assert y != y2 or left + width <= left2 or left2 + width2 <= left, graph["headers"]
    assert len({y for y, _, _ in spans}) > 1
    assert min(n["y"] for n in [*graph["nodes"], graph["target"]]) > max(y for y, _, _ in spans)
    short = layout([{"unit": "a.1:3", "weight": 1.0}], {"unit": "a.2:5"}, [{"unit": "b:7", "weight": 1.0}])
    assert graph["height"] > short["height"]


def test_a_cards_inputs_are_the_strongest_by_weight_as_a_circuits_are() -> None:
    """`inputs: 3` on a channel card shows the 3 inputs of largest weight, excitatory or
    inhibitory, as the circuit figure and a channel page's graph choose them (the card showed 3
    that excite and 3 that inhibit: 6 for 3, a weak inhibitor beside a stronger exciter left out)."""
    from generator.atlas.circuits import ChannelCircuit, Link
    from generator.figures.channel import strongest_inputs

    circuit = ChannelCircuit(
        layer="b", channel=0, method="attribution", inputs_layer="a",
        positive=tuple(Link(c, w) for c, w in [(1, 1.0), (2, 0.9), (3, 0.8)]),
        negative=tuple(Link(c, w) for c, w in [(4, -0.95), (5, -0.3), (6, -0.2)]),
        outputs_layer=None, outputs_method=None, outputs=(), outputs_negative=(),
    )
    chosen = strongest_inputs(circuit, 3)
    excite = [link for link in chosen if link.weight >= 0]
    inhibit = [link for link in chosen if link.weight < 0]
    assert [link.channel for link in excite] == [1, 2] and [link.channel for link in inhibit] == [4]
    assert [link.channel for link in chosen] == [1, 4, 2]  # strongest first, as a graph draws
    assert strongest_inputs(circuit, 0) == []
    first = ChannelCircuit(layer="a", channel=0, method=None, inputs_layer=None, positive=(),
                           negative=(), outputs_layer="b", outputs_method="attribution",
                           outputs=(), outputs_negative=())
    assert strongest_inputs(first, 3) == []


def test_a_circuit_without_inputs_says_why_for_its_layer(ctx: DrawContext) -> None:
    """A circuit or card of a layer the explorer does not show says that circuits are measured
    between the explorer's layers and names them (it said the layer "needs a visualized layer
    before it among the explorer's layers" with one there); the explorer's first says so."""
    from generator.figures.channel import no_circuit_reason
    from generator.site.env import make_env

    ctx.explorer_channels = {"blocks.1.0": {0}, "blocks.4.1": {1}, "conv_head": {2}}
    off = no_circuit_reason(ctx, "blocks.4.2")
    assert "blocks.1.0, blocks.4.1, conv_head" in off and "blocks.4.2 is not one of them" in off
    assert "before it" not in off
    assert "first" in no_circuit_reason(ctx, "blocks.1.0")
    env = make_env(SiteConfig(root=Path(".")))
    f = bound(ctx.model, "circuit", layer="blocks.4.2", channel=3)
    graph = {"nodes": [], "target": None, "headers": [], "edges": []}
    html = env.get_template("figures/circuit.html").render(
        fig=f, graph=graph, unit="blocks.4.2:3", method=None, inputs_layer=None, why=off)
    assert "blocks.4.2 is not one of them" in html, html
    card = bound(ctx.model, "channel", layer="blocks.4.2", channel=3)
    from generator.figures.context import ImageView

    html = env.get_template("figures/channel.html").render(
        fig=card, image=ImageView("a.png", "alt", "blocks.4.2:3", 1.0, 0.1), href=None, unit="blocks.4.2:3", top=[], circuit=None, inputs=[],
        inhibitors=[], no_photos=False, no_inputs=True, no_inputs_why=off)
    assert "blocks.4.2 is not one of them" in html, html


def test_a_figure_of_another_model_than_its_articles_names_it(ctx: DrawContext) -> None:
    """On a site of several models, a figure whose `model:` is not its article's says whose
    channels it shows under its caption (a Lite1 figure in a Lite0 article read
    "blocks.2.2:34" with nothing naming Lite1); its own article's model's figures say nothing."""
    from generator.site.env import make_env

    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m with context %}{{ m.figure_close(fig) }}')
    f = fig("negative", layer="blocks.2.1", channels=2, model=ctx.model.id).bind(ctx.model)
    ctx.others = {"other": ctx}
    named = macro.render(fig=f, ctx=ctx, page_model="other")
    assert f"Of <code>{ctx.model.id}</code>." in named, named
    assert "Of " not in macro.render(fig=f, ctx=ctx, page_model=ctx.model.id)
    ctx.others = {}
    assert "Of " not in macro.render(fig=f, ctx=ctx, page_model="other")  # a site of one model


def test_a_directions_sign_wraps_with_the_image_after_it(model) -> None:  # type: ignore[no-untyped-def]
    """On a phone the sum of two channels wrapped to a line of its own, leaving the line above
    ending in "="; each sign is now held with the image it joins."""
    from generator.figures.context import ImageView
    from generator.site.env import make_env

    f = bound(model, "directions", layer="blocks.2.1", channels=[1, 2], random=0)
    view = ImageView("a.png", "alt", "blocks.2.1:1", 1.0, 0.1)
    row = {"units": ["blocks.2.1:1", "blocks.2.1:2"], "hrefs": [None, None], "a": view, "b": view,
           "sum": view}
    html = make_env(SiteConfig(root=Path("."))).get_template("figures/directions.html").render(
        fig=f, rows=[row], randoms=[], layer="blocks.2.1")
    terms = re.findall(r'<span class="dir-term"><span class="op" aria-hidden="true">([+=])</span>'
                       r'\s*<div class="fv-image', html)
    assert terms == ["+", "="], html


def test_a_band_reference_past_the_bands_counts_the_layers_a_figure_takes() -> None:
    """A transformer's MLP hidden units (`blocks.N.mlp.act`) are optional layers, which no
    figure takes (`unknown layer`): a band reference a figure cannot resolve names the main
    layers' count, 13 of a 12-block ViT, not 25 with the optional ones."""
    from torch import nn

    from generator.core.errors import FeatvisError
    from generator.models.base import BANDS, LayerInfo, LoadedModel

    def info(name: str, depth: int, band: str, optional: bool = False) -> LayerInfo:
        return LayerInfo(name, name, 8, 4, 4, depth, band, optional=optional)

    main = tuple(info(f"blocks.{i}", 2 * i, BANDS[i * 5 // 13]) for i in range(13))
    hidden = tuple(info(f"blocks.{i}.mlp.act", 2 * i + 1, BANDS[i * 5 // 13], True) for i in range(12))
    model = LoadedModel(
        id="vit", net=nn.Identity(), input_size=32, mean=(0.0,) * 3, std=(1.0,) * 3, layers=main,
        optional_layers=hidden, class_names=(), weights_digest="d", weights_source="test",
    )
    with pytest.raises(FeatvisError) as err:
        fig("negative", layer="objects[5]").resolve(model)
    assert "one of 13 layer names" in str(err.value), err.value
