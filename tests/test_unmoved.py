"""A channel at 0 everywhere on the optimizer's starting image (a ReLU's floor, where no gradient
reaches the image): where a module makes its pre-activation, the picture is led by it until the
channel rises, and a channel that moves from the start is optimized exactly as without; where
none does, the grey picture shows nothing of the channel and its channel page, its layer page and
a figure say so, a channel the optimizer moved says nothing of the kind, and the strips that stand
for a layer show the pictures that moved first."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from inprocess import featvis_here
from samples import SAMPLE, sample_photos

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.images import load_tensor
from generator.figures.context import PlanContext
from generator.figures.registry import figure_for
from generator.jobs import VisJob
from generator.measure.living import measure_living
from generator.models import LoadedModel, load_model
from generator.models.hooks import capture
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as O
from generator.optvis.objectives import Objective
from generator.pages.content import FigureSpec
from generator.plan.explorer import channel_page_jobs

NET = """\
import torch
import torch.nn.functional as F
from torch import nn


class Floored(nn.Module):
    \"\"\"A 1x1 convolution shifted, then a ReLU (with `clamp`, a clamp to [0, 6]), all in forward
    (its input is the layer's pre-activation); with `pool`, a max pooling after the ReLU: then
    nothing before the layer's floor can be reached.\"\"\"

    def __init__(self, pool, clamp=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.pool = pool
        self.clamp = clamp

    def forward(self, x):
        out = self.conv(x) - 1.0
        out = out.clamp(0, 6) if self.clamp else torch.relu(out)
        return F.max_pool2d(out, 3, 1, 1) if self.pool else out


def _net(first):
    torch.manual_seed(0)
    net = nn.Sequential(*first, nn.Conv2d(2, 4, 3, 2, 1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    conv = net[0] if isinstance(net[0], nn.Conv2d) else net[1].conv
    with torch.no_grad():  # channel 0 at 0 unless red far exceeds green; 1 above 0 everywhere
        conv.weight[0] = torch.tensor([20.0, -20.0, 0.0]).view(3, 1, 1)
        conv.bias[0] = -15.0
        conv.weight[1] = torch.tensor([1.0, 1.0, 1.0]).view(3, 1, 1)
        conv.bias[1] = 5.0
    return net


def build():  # layer "1": the Floored block with its pooling: no pre-activation to reach
    return _net([nn.Identity(), Floored(pool=True)])


def build_shifted():  # layer "1": the Floored block, its clamp's input its pre-activation
    return _net([nn.Identity(), Floored(pool=False, clamp=True)])


def build_relu():  # layer "1": the ReLU after the convolution "0", its pre-activation
    return _net([nn.Conv2d(3, 2, 1), nn.ReLU()])


def build_weak():  # as build, but channel 1 moves weakly: channel 0 is the strongest on photos
    net = build()
    with torch.no_grad():
        net[1].conv.weight[1] = 0.05
        net[1].conv.bias[1] = 1.2
    return net
"""
ARTICLE = """\
---
title: Both
---

```figure
type: layer-gallery
layers: ["1"]
channels: 2
```
"""


def _shown_files(site: Path) -> list[str]:
    """What a built site shows a reader: its pages and scripts (the search index), less the
    versions in its footers ("torch 2.5.1+cpu"), and the words its manifest gives each
    visualization's objectives (beside the job's own spec, which names what it computes)."""
    pages = [re.sub(r"torch [\w.]+\+\w+", "torch", p.read_text(encoding="utf-8"))
             for p in sorted(site.rglob("*")) if p.suffix in (".html", ".js")]
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    return [*pages, json.dumps([entry["objectives"] for entry in manifest["visualizations"]])]


def _text(path: Path) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")).split())


def test_a_picture_left_at_zero_says_it_shows_nothing(tmp_path: Path) -> None:
    layer = _site(tmp_path, "build", 48)  # a floor no module's output comes before: no lead
    stuck, moved = _text(layer / "0.html"), _text(layer / "1.html")
    assert "obj 0 " in stuck and "This picture shows nothing of the channel" in stuck, stuck
    assert "no gradient to follow" in stuck and "led by" not in stuck, stuck
    assert "shows nothing" not in moved, moved
    layer_page = (layer.parent / "1.html").read_text(encoding="utf-8")
    cells = re.findall(r'<section class="channel" id="ch-(\d)">(.*?)</section>', layer_page, re.S)
    assert [("left at 0" in cell) for _, cell in cells] == [True, False], cells
    index = (tmp_path / "site_output" / "explorer" / "index.html").read_text(encoding="utf-8")
    first = re.search(r'<a class="strip"[^>]*><img src="[^"]*" alt="([^"]*)"', index)
    assert first and first.group(1) == "channel 1:1", "the layer's picture is one that moved"
    strip = re.search(r'<tr id="layer-1">.*?</tr>', (layer.parent / "index.html").read_text(), re.S)
    assert strip and re.findall(r'alt="channel 1:(\d)"', strip.group(0)) == ["1", "0"]
    gallery = _text(tmp_path / "site_output" / "both.html")
    assert gallery.count("left at 0: shows nothing") == 1, gallery


def _site(
    root: Path, function: str, steps: int, article: str = ARTICLE, extra: str = "",
    *, diversity: bool = False,
) -> Path:
    (root / "content").mkdir()
    (root / "content" / "both.md").write_text(article, encoding="utf-8")
    (root / "stuck.py").write_text(NET, encoding="utf-8")
    (root / "site.toml").write_text(
        f'model = "python:stuck.py:{function}"\ninput_size = 32\ndevice = "cpu"\n{extra}',
        encoding="utf-8")
    build_site(load_config(root / "site.toml"), quiet=True, preset=Preset(
        "tiny", size=32, steps=steps, explorer_channels=None if diversity else 2,
        figure_scale=1.0, diversity=diversity))
    return root / "site_output" / "explorer" / "stuck" / "1"


@pytest.mark.parametrize(("function", "floor", "at"), [
    ("build_relu", "ReLU", "at 0 ,"),  # the ReLU module's input: the convolution "0" makes it
    ("build_shifted", "clamp(0, 6)",  # its forward's clamp's input
     "at the input of the clamp(0, 6) that 1 's forward calls last,"),
])
def test_a_channel_flat_at_the_start_is_led_by_its_pre_activation(
    function: str, floor: str, at: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page names the floor the network applies, and no page, alt text, table or data file
    of the site, nor `featvis status`, shows a captured path as the network's code never
    writes it (`1@floor`, `a+b`, `m@input`)."""
    layer = _site(tmp_path, function, 48)
    led, moved = _text(layer / "0.html"), _text(layer / "1.html")
    assert f"led by its pre-activation, {at} until the channel rose above 0" in led, led
    assert f"the floor of its {floor}, where no gradient" in led, led
    assert f"minimized before the layer's {floor}, at" in led, led
    assert "shows nothing" not in led and "obj 0 " not in led, led
    assert "led by its pre-activation" not in moved, moved
    assert "left at 0" not in (layer.parent / "1.html").read_text(encoding="utf-8")
    if floor != "ReLU":
        assert "ReLU" not in led, led
    status = featvis_here("status", "--size", "32", "--steps", "48", "--channels", "2",
                          cwd=tmp_path, capture=capsys).stdout
    for shown in [*_shown_files(tmp_path / "site_output"), status]:
        assert not re.search(r"@floor|@input|\w\+\w", shown), shown


def test_the_pre_activation_leads_only_while_the_channel_is_flat(tmp_path: Path) -> None:
    (tmp_path / "stuck.py").write_text(NET, encoding="utf-8")
    model = load_model("python:stuck.py:build_relu", root=tmp_path, input_size=32)
    settings = RenderSettings(size=32, steps=24)
    alone = render(model, [O.channel("1", 0), O.channel("1", 1)], settings, seeds=[0, 1])
    led = render(model, [O.channel("1", 0, via="0"), O.channel("1", 1, via="0")], settings,
                 seeds=[0, 1])
    assert alone.final[0] == 0 and led.final[0] > 0  # flat at the start: only the lead moves it
    assert torch.equal(alone.images[1], led.images[1])  # moving from the start: the same pixels
    assert torch.equal(alone.history[:, 1], led.history[:, 1])
    # a neuron of the flat channel, led by the pre-activation at its position (the centre)
    neurons = [O.neuron("1", 0), O.neuron("1", 0, via="0"), O.neuron("1", 1, x=2, y=3),
               O.neuron("1", 1, x=2, y=3, via="0")]
    single = render(model, neurons, settings, seeds=[0, 0, 1, 1])
    assert single.final[0] == 0 and single.final[1] > 0, single.final
    assert torch.equal(single.images[2], single.images[3])


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs the ImageNet sample")
def test_a_figure_chooses_a_channel_nothing_can_lead_last(tmp_path: Path) -> None:
    """Channel 0 is the strongest on the photos but 0 on the starting image behind a floor no
    module makes or takes: its picture would show nothing, so a one-channel gallery chooses the
    weaker channel 1, whose picture moves."""
    sample_photos(tmp_path / "photos", every=50)
    _site(tmp_path, "build_weak", 8, ARTICLE.replace("channels: 2", "channels: 1"),
          'dataset = "photos"\n')
    gallery = (tmp_path / "site_output" / "both.html").read_text(encoding="utf-8")
    assert re.findall(r'alt="channel 1:(\d)"', gallery) == ["1"], gallery
    assert "left at 0" not in gallery


def test_figures_that_maximize_a_flat_channel_lead_it_too(tmp_path: Path) -> None:
    """The negative figure maximizes the channel beside its negative, the diversity figure in a
    set, the optimization figure step by step: a channel flat at the start is led there as on
    its channel page, so their pictures move."""
    figures = "".join(
        f"```figure\ntype: {kind}\nlayer: \"1\"\n{key}\n```\n\n" for kind, key in (
            ("negative", "channels: [0]"), ("diversity", "channels: [0]"),
            ("optimization-progress", "channel: 0"),
        )
    )
    _site(tmp_path, "build_relu", 48, "---\ntitle: Led\n---\n\n" + figures)
    text = _text(tmp_path / "site_output" / "both.html")
    figures_1_2 = text[: text.index("Figure 2.")]
    assert "negative (before the ReLU, 0)" in text and "positive obj" in text, text
    assert "left at 0" not in figures_1_2 and "mean activation 0 " not in figures_1_2, text
    assert re.search(r"step 48 obj [1-9]", text), text  # at 0 while led, then it rises


MIXES = """\
---
title: Mixed
---

```figure
type: regularization
layer: "1"
channel: 0
strengths: {l1: [0.5], tv: [1], blur: [30], jitter: [2], robust: [1]}
```

```figure
type: preconditioning
layer: "1"
channel: 0
snapshots: 2
```

```figure
type: objectives
layer: "1"
channel: 0
```

```figure
type: directions
layer: "1"
channels: [0, 1]
random: 0
```

```figure
type: interpolation-grid
pairs: [["1:0", "1:1"]]
frames: 3
```
"""


def _channel_0(model: LoadedModel, picture: Path, *, centre: bool = False) -> float:
    """Channel 0 of layer "1" on a picture of the site (or its neuron at the centre), as the
    network sees it."""
    x = load_tensor(picture)[None]
    with torch.no_grad(), capture(model.net, ["1"]) as got:
        model.net(model.preprocess(x))
    maps = got["1"][0, 0]
    return float(maps[maps.shape[0] // 2, maps.shape[1] // 2] if centre else maps.mean())


def test_the_other_figures_and_the_explorers_diversity_set_lead_a_flat_channel(
    tmp_path: Path,
) -> None:
    """Every picture that maximizes a flat channel, alone or as a term of a mix (a regularized
    objective, a parameterization's steps, the objectives figure's channel and neuron cells, a
    sum of two channels, an interpolation's frames), is led as its channel page's is: channel 0
    rises above 0 on each (behind `build_relu`'s ReLU, nothing else lifts it). The channel page
    finds its diversity set, led too, under the one key the plan made."""
    _site(tmp_path, "build_relu", 24, MIXES, 'explorer_layers = ["1"]\n', diversity=True)
    out = tmp_path / "site_output"
    model = load_model("python:stuck.py:build_relu", root=tmp_path, input_size=32)
    html = (out / "both.html").read_text(encoding="utf-8")
    shown = re.findall(r'<img[^>]*? src="([^"]+)"[^>]*? alt="([^"]*channel 1:0[^"]*)"', html)
    final = [(src, alt) for src, alt in shown if " after " not in alt or "after 24 steps" in alt]
    kinds = {"l1", "tv", "blur", "channel 1:1", "alignment"}
    assert {k for k in kinds for _, alt in final if k in alt} == kinds, shown
    lifted = [(alt, _channel_0(model, out / src)) for src, alt in final]
    (neuron,) = re.findall(r'<img[^>]*? src="([^"]+)"[^>]*? alt="neuron 1:0"', html)
    lifted.append(("neuron 1:0", _channel_0(model, out / neuron, centre=True)))
    assert min(value for _, value in lifted) > 0, lifted
    page = (out / "explorer" / "stuck" / "1" / "0.html").read_text(encoding="utf-8")
    diverse = re.findall(r'alt="diversity \d"|>diversity \d<', page)
    assert diverse and "not computed" not in page, page
    acts = [float(v) for v in re.findall(r"act ([0-9.]+)</span>", page)]
    assert len(acts) == 4 and min(acts) > 0, acts


FIGURES = {  # each figure that maximizes a channel of layer "1", about channel c
    "regularization": lambda c: {"channel": c},
    "preconditioning": lambda c: {"channel": c},
    "objectives": lambda c: {"channel": c, "class": 0},
    "directions": lambda c: {"channels": [c, c], "random": 0},
    "interpolation-grid": lambda c: {"pairs": [[f"1:{c}", f"1:{c}"]]},
    "diversity": lambda c: {"channels": [c]},
    "negative": lambda c: {"channels": [c]},
    "optimization-progress": lambda c: {"channel": c},
}


def _plain(job: VisJob) -> VisJob:
    """`job` with no term led by a pre-activation."""
    return dataclasses.replace(job, objectives=tuple(
        Objective(tuple((w, dataclasses.replace(t, via=None)) for w, t in o.terms))
        for o in job.objectives
    ))


def test_a_channel_that_moves_keeps_its_keys_and_a_flat_one_is_led_in_every_figure(
    tmp_path: Path, lite0: LoadedModel
) -> None:
    """Leading flat channels changes no job of a channel that moves from the start (its cached
    pictures stay valid), in any figure or on its channel page, nor any of Lite0's, whose
    catalog layers have no floor; every term of a flat channel is led, in every figure."""
    (tmp_path / "stuck.py").write_text(NET, encoding="utf-8")
    (tmp_path / "site.toml").write_text(
        'model = "python:stuck.py:build_relu"\ninput_size = 32\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    model = load_model(config.model, root=tmp_path, input_size=32)
    measure_living(model, config.cache_dir)
    preset = Preset("tiny", size=32, steps=8, explorer_channels=None, figure_scale=1.0)
    ctx = PlanContext(config=config, model=model, preset=preset)
    lite = PlanContext(config=config, model=lite0, preset=preset)
    assert ctx.asleep("1") == {0}
    for kind, options in FIGURES.items():
        for c, led in ((0, True), (1, False)):
            given = {"layer": "1", **options(c)}
            lines = {key: 10 + i for i, key in enumerate(given)}
            spec = FigureSpec(kind, given, Path("content/a.md"), 9, lines, 0)
            jobs = figure_for(spec).bind(model).jobs(ctx)
            jobs += channel_page_jobs(ctx, "1", c).values()
            terms = [t for j in jobs for o in j.objectives for _, t in o.terms
                     if t.kind in ("channel", "neuron") and t.layer == "1"]
            assert terms and all((t.via == "0") is led for t in terms), (kind, c, terms)
            if not led:
                assert [j.key for j in jobs] == [_plain(j).key for j in jobs], kind
    for layer in ("conv_stem", "blocks.3.0", "conv_head"):
        jobs = [lite.channel_job(layer, 5), *channel_page_jobs(lite, layer, 5).values()]
        assert [j.key for j in jobs] == [_plain(j).key for j in jobs], layer
