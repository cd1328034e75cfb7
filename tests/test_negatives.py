"""Negatives per channel: a layer whose output sets channels a floor inside it makes beside
channels floored before it (torchvision's Inception v3 reduction block, a ShuffleNet v2 block that
passes half its channels on and shuffles them) has no pre-activation as a whole, yet each channel
a floor inside it makes is minimized before that floor, and a pooled or passed-through channel
has no negative and says why, on a built site's layer and channel pages too."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import torch

from generator.config.presets import Preset
from generator.config.site import load_config
from generator.figures.context import PlanContext
from generator.models import LoadedModel, load_model
from generator.models.preact import (
    NO_PRE_ACTIVATION,
    negative_layer,
    negative_of,
    no_negative_reason,
    passed_from,
    per_channel,
)

# real torchvision blocks, small: a ShuffleNet v2 block (its first 4 channels passed on, the
# other 4 from a branch ending in a ReLU, shuffled: odd channels are the branch's) and an
# Inception v3 reduction block (Mixed_6a's: 384 + 96 convolution channels beside 8 pooled)
BLOCKS = """\
from torch import nn
from torchvision.models.inception import InceptionB
from torchvision.models.shufflenetv2 import InvertedResidual


def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), InvertedResidual(8, 8, 1),
                         InceptionB(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(488, 10))
"""


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = tmp_path_factory.mktemp("blocks") / "blocks.py"
    path.write_text(BLOCKS, encoding="utf-8")
    return load_model(f"python:{path}:build", layers=["1", "2", "3"], input_size=32,
                      random_weights=True)


def test_each_channel_made_inside_a_layer_is_minimized_before_its_own_floor(
    blocks: LoadedModel,
) -> None:
    """The shuffled block's odd channels are its branch's, in order, its even ones passed on;
    the reduction block's first 480 its convolution branches', its last 8 pooled; each match
    holds on other images than the probe's, where the pre-activation goes below 0."""
    assert negative_layer(blocks, "2") is None and negative_layer(blocks, "3") is None
    shuffled = per_channel(blocks, "2")
    assert shuffled == tuple(
        None if c % 2 == 0 else ("2.branch2.5", c // 2) for c in range(8)
    )
    assert negative_of(blocks, "3", 5) == ("3.branch3x3.conv", 5)
    assert negative_of(blocks, "3", 384 + 7) == ("3.branch3x3dbl_3.conv", 7)
    assert [negative_of(blocks, "3", c) for c in range(480, 488)] == [None] * 8
    assert negative_of(blocks, "1", 3) == ("0", 3)  # a whole layer's, as before
    assert blocks.layer("3.branch3x3.conv").channels == 384
    from generator.optvis.render import truncated_forward

    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    units = [("2", 3), ("3", 5), ("3", 391)]
    paths = sorted({p for layer, c in units for p in (layer, negative_of(blocks, layer, c)[0])})
    with truncated_forward(blocks, paths) as (acts, run):
        run(x)
    for layer, c in units:
        at, there = negative_of(blocks, layer, c)  # type: ignore[misc]
        assert float(acts[at][:, there].min()) < 0
        assert torch.equal(acts[layer][:, c], acts[at][:, there].clamp(min=0))


def test_a_channel_page_has_a_negative_where_its_channel_has_one(
    blocks: LoadedModel, tmp_path: Path
) -> None:
    """The channel page's jobs: a negative at the branch's own channel, none for a channel
    passed on; its reason names that channel's case, not the whole layer's; the job lowers the
    pre-activation."""
    from generator.cache.store import ArtifactStore
    from generator.compute import compute_jobs
    from generator.figures.negative import negative_label
    from generator.plan.explorer import channel_page_jobs

    (tmp_path / "site.toml").write_text('[site]\ntitle = "t"\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    preset = Preset("tiny", size=32, steps=8, explorer_channels=2, figure_scale=1.0)
    ctx = PlanContext(config=config, model=blocks, preset=preset)
    assert "negative" not in channel_page_jobs(ctx, "2", 0)
    job = channel_page_jobs(ctx, "2", 3)["negative"]
    assert [t.layer for _, t in job.objectives[0].terms] == ["2.branch2.5"]
    assert [t.channel for _, t in job.objectives[0].terms] == [1]
    assert negative_label(blocks, "2", 3) == "negative (before the ReLU, channel 1 of 2.branch2.5)"
    assert negative_label(blocks, "2", 2) == (
        "negative (none below the floor: floored before the layer)")
    assert "channel 1 of 1, its layer's input, which the layer passes on untouched" in (
        no_negative_reason(blocks, "2", 2))
    assert passed_from(blocks, "2") == "1"  # the layer whose output is its input, by identity
    assert passed_from(blocks, "3") is None  # it passes nothing on untouched
    assert "pooling" in no_negative_reason(blocks, "3", 480)
    assert no_negative_reason(blocks, "1", 0) == NO_PRE_ACTIVATION
    store = ArtifactStore(config.cache_dir)
    compute_jobs([job], blocks, store, batch_size=1, quiet=True)
    sidecar = store.get(job).sidecar  # type: ignore[union-attr]
    assert sidecar.final[0] > sidecar.history[0][0]  # -pre-activation rose: it went lower


def test_a_negative_figure_chooses_channels_that_have_a_negative(
    blocks: LoadedModel, tmp_path: Path
) -> None:
    """Chosen from its survey, a negative figure's channels are those with a negative, though
    the channels passed on score higher: their negatives could not go below the floor."""
    from generator.cache.store import ArtifactStore
    from generator.config.site import SiteConfig
    from generator.figures.channels import single_channel
    from generator.figures.registry import figure_for
    from generator.optvis.render import RenderResult
    from generator.pages.content import FigureSpec

    config = SiteConfig(root=tmp_path, cache_dir=tmp_path / "cache", seed=3)
    store = ArtifactStore(config.cache_dir)
    preset = Preset("tiny", size=32, steps=8, explorer_channels=1, figure_scale=1.0)
    ctx = PlanContext(config=config, model=blocks, preset=preset, store=store)
    spec = FigureSpec("negative", {"layer": "2", "channels": 2}, Path("a.md"), 1,
                      {"layer": 2, "channels": 3})
    figure = figure_for(spec).bind(blocks)
    survey = figure.jobs(ctx)
    gen = torch.Generator().manual_seed(0)
    for job in survey:  # the passed-on (even) channels the strongest
        channel = single_channel(job)[1]  # type: ignore[index]
        value = 10.0 if channel % 2 == 0 else 1.0 + channel / 10
        store.put(job, RenderResult(images=torch.rand(1, 3, 32, 32, generator=gen), snapshots={},
                                    history=torch.zeros(job.steps, 1),
                                    final=torch.full((1,), value)), device="cpu")
    ctx.forget_missing()  # the survey, now in the cache
    chosen = figure.channels(ctx, "2")
    assert chosen is not None and len(chosen) == 2
    assert all(negative_of(blocks, "2", c) for c in chosen), chosen


# a layer "1" whose channels alternate: a branch's (a 1x1 convolution and a ReLU) and the
# floored input's, passed on; the branch's channel 1 (the layer's channel 2) is 0 on a grey image
# and rises where red exceeds green
LED = """\
import torch
from torch import nn


class Interleaved(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        return torch.stack([torch.relu(self.conv(x)), x], 2).flatten(1, 2)


def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU()), Interleaved(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[0][0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).view(2, 3, 1, 1))
        net[0][0].bias.fill_(1.0)
        net[1].conv.weight.copy_(torch.tensor([[1.0, 0], [20.0, -20.0]]).view(2, 2, 1, 1))
        net[1].conv.bias.copy_(torch.tensor([0.5, -15.0]))
    return net
"""


def test_a_flat_channel_is_led_by_its_own_pre_activation(tmp_path: Path) -> None:
    """A channel at 0 on the starting images whose pre-activation is another channel of a
    tensor inside its layer is led there (`via_channel`), and rises; a channel whose
    pre-activation is the same channel of the layer's keeps its objective as before."""
    from generator.measure.living import measure_living
    from generator.optvis import RenderSettings, render
    from generator.optvis import objectives as O

    (tmp_path / "led.py").write_text(LED, encoding="utf-8")
    model = load_model("python:led.py:build", root=tmp_path, input_size=32, layers=["0", "1"])
    assert per_channel(model, "1") == (("1.conv", 0), None, ("1.conv", 1), None)
    (tmp_path / "site.toml").write_text('[site]\ntitle = "t"\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    measure_living(model, config.cache_dir)
    preset = Preset("tiny", size=32, steps=8, explorer_channels=2, figure_scale=1.0)
    ctx = PlanContext(config=config, model=model, preset=preset)
    ((_, term),) = ctx.channel_job("1", 2).objectives[0].terms
    assert (term.via, term.via_channel) == ("1.conv", 1)
    assert O.channel("1", 2, via=("1.conv", 2)) == O.channel("1", 2, via="1.conv")
    settings = RenderSettings(size=32, steps=24)
    alone = render(model, [O.channel("1", 2)], settings, seeds=[0])
    led = render(model, [O.channel("1", 2, via=("1.conv", 1))], settings, seeds=[0])
    assert alone.final[0] == 0 and led.final[0] > 0  # flat at the start: only the lead moves it


# one ReLU module over a concatenation of a convolution and a pooling of its floored input
RELU_CAT = """\
import torch
import torch.nn.functional as F
from torch import nn


class ReluCat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(torch.cat([self.conv(x), F.max_pool2d(x, 3, 1, 1)], 1))


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, 1, 1), nn.ReLU(), ReluCat(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
"""


def test_a_relu_module_over_a_pooled_part_minimizes_only_the_convolutions_channels(
    tmp_path: Path,
) -> None:
    """The ReLU module's input is the layer's whole output before its floor, but half of it is a
    pooling of floored maps: not minimized there (its pooled channels could not go below 0),
    the convolution's channels at the convolution, the pooled ones not at all."""
    (tmp_path / "relucat.py").write_text(RELU_CAT, encoding="utf-8")
    model = load_model("python:relucat.py:build", root=tmp_path, input_size=32,
                       layers=["1", "2"], random_weights=True)
    assert negative_layer(model, "2") is None
    assert per_channel(model, "2") == (*[("2.conv", c) for c in range(4)], *[None] * 4)
    assert "a pooling" in no_negative_reason(model, "2", 5)


# a ShuffleNet v2 block alone: of its 8 channels the odd ones its branch's (a ReLU inside it), the
# even ones its input's first 4, passed on untouched and shuffled in between
SHUFFLE = """\
from torch import nn
from torchvision.models.shufflenetv2 import InvertedResidual


def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), InvertedResidual(8, 8, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
"""


def test_a_built_sites_pages_say_which_channels_have_a_negative(tmp_path: Path) -> None:
    """A site whose explorer shows the shuffled block, every channel: the layer page says how
    many channels a floor inside it makes and marks the passed-on ones "no negative"; the page of
    a branch channel shows its Negative set and names the branch's channel it was minimized at;
    the page of a passed-on channel shows none, names the channel of the layer before it that it
    is and links to that channel's page. The layer before, floored as a whole, says none of it."""
    from generator.build import build_site
    from generator.check import check_site

    (tmp_path / "content").mkdir()
    (tmp_path / "shuffle.py").write_text(SHUFFLE, encoding="utf-8")
    (tmp_path / "site.toml").write_text(
        'model = "python:shuffle.py:build"\ninput_size = 32\nlayers = ["1", "2"]\n'
        'explorer_layers = ["1", "2"]\ndevice = "cpu"\nworkers = 1\n', encoding="utf-8"
    )
    preset = Preset("tiny", size=32, steps=2, explorer_channels=None, figure_scale=1.0)
    build_site(load_config(tmp_path / "site.toml"), preset=preset, quiet=True)
    out = tmp_path / "site_output"
    assert check_site(out) == []
    (layer_page,) = (out / "explorer").glob("*/2.html")

    def text(path: Path) -> str:  # its lines joined, its entities (&#39;) as the reader sees them
        return html.unescape(" ".join(path.read_text(encoding="utf-8").split()))

    layer = text(layer_page)
    headings = re.findall(r'<h2><a href="2/\d+\.html">2:(\d+)</a>(.*?)</h2>', layer)
    assert [int(c) for c, _ in headings] == list(range(8)), headings
    assert {int(c) for c, mark in headings if "no negative" in mark} == {0, 2, 4, 6}
    assert ("4 channels of its 8 are made by a ReLU inside it, and each of those has a negative, "
            "minimized before that floor; the other 4 are channels of its input passed on "
            "untouched") in layer, layer[layer.index("layer-negatives"):][:800]
    for channel in range(8):
        page = text(layer_page.parent / "2" / f"{channel}.html")
        if channel % 2:  # the branch's channel channel // 2, before its ReLU
            assert "<h3>Negative</h3>" in page and "No negative" not in page, channel
            said = re.search(r"The negative is minimized before the (\w+) inside the layer that "
                             r"makes this channel, at channel (\d+) of (.*?), where", page)
            assert said and said[1] == "ReLU" and int(said[2]) == channel // 2, channel
            assert "<code>2.branch2.5</code>" in said[3], said[3]
        else:
            assert "<h3>Negative</h3>" not in page and "minimized" not in page, channel
            assert (f"No negative: this channel is channel {channel // 2} of 1, its layer's "
                    "input, which the layer passes on untouched") in page, channel
            link = re.search(r"That channel's page: <a href=\"([^\"]+)\">(.*?)</a>", page)
            assert link and link[2] == f"1:{channel // 2}", channel
            assert (layer_page.parent / "2" / link[1]).resolve() == (
                layer_page.parent / "1" / f"{channel // 2}.html").resolve(), link[1]
    before = text(layer_page.parent / "1.html")
    assert "no-negative-mark" not in before and "layer-negatives" not in before
