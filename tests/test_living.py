"""Living channels: on a network of the user's own whose first channels of every layer are dead
by construction (a large negative bias before a ReLU), dead channels are found from the
optimizer's starting images (and photos where there are some), never chosen, marked and counted;
a channel whose photos sit at a floor says so instead of showing arbitrary bottom photos."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.progress import Progress
from generator.figures.context import PlanContext
from generator.measure.living import _key, asleep_channels, dead_channels, measure_living
from generator.measure.store import MeasureStore
from generator.models.site import load_site_models
from generator.plan.explorer import explorer_jobs

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"
DEAD = 3  # channels 0..DEAD-1 of every layer are dead
LAYERS = ["stem", "block1", "block2", "block3", "block4"]

NET = f'''\
import torch
from torch import nn


class DeadCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 12, 3, 2, 1), nn.ReLU())
        self.block3 = nn.Sequential(nn.Conv2d(12, 12, 3, 1, 1), nn.ReLU())
        self.block4 = nn.Sequential(nn.Conv2d(12, 16, 3, 2, 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)
        with torch.no_grad():
            for seq in (self.stem, self.block1, self.block2, self.block3, self.block4):
                seq[0].bias[:{DEAD}] = -1e4  # below any input's reach: 0 after the ReLU
                seq[0].bias[{DEAD}:] = 0.5  # the others live

    def forward(self, x):
        for seq in (self.stem, self.block1, self.block2, self.block3, self.block4):
            x = seq(x)
        return self.fc(self.pool(x).flatten(1))


def build():
    torch.manual_seed(0)
    return DeadCNN()
'''

TINY = Preset("tiny", size=32, steps=2, explorer_channels=2, figure_scale=0.5)

ARTICLE = """\
---
title: Gallery
---

```figure
type: layer-gallery
id: gallery
layers: [stem, block2, block4]
channels: 2
```
"""


def dead_site(root: Path, photos: int = 0, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)
    (root / "deadcnn.py").write_text(NET, encoding="utf-8")
    layers = ", ".join(f'"{n}"' for n in LAYERS)
    lines = ['model = "python:deadcnn.py:build"', "input_size = 48", f"layers = [{layers}]"]
    if photos:
        if not SAMPLE.is_dir():
            pytest.skip(f"{SAMPLE} is absent")
        (root / "photos").mkdir(exist_ok=True)
        for path in sorted(SAMPLE.iterdir())[:photos]:
            shutil.copyfile(path, root / "photos" / path.name)
        lines += ['dataset = "photos"', "dataset_top_k = 3"]
    (root / "site.toml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return root


def test_dead_channels_from_the_starting_images(tmp_path: Path) -> None:
    config = load_config(dead_site(tmp_path).joinpath("site.toml"))
    (model,) = load_site_models(config, "cpu")
    assert dead_channels(model, config.cache_dir, "stem") == frozenset()  # not measured yet
    constant = measure_living(model, config.cache_dir)
    assert constant is not None
    for name in LAYERS:
        assert set(constant[name]) == set(range(DEAD)), name
        assert dead_channels(model, config.cache_dir, name) == frozenset(range(DEAD))
    assert measure_living(model, config.cache_dir, compute=False) == constant  # cached


def test_channels_flat_on_the_starting_images_alone(tmp_path: Path) -> None:
    """Flat on the starting images (a dead channel is, and so may a living one be): read by
    planning to lead such a channel by its pre-activation. A measurement written before this
    list was kept is read as it is when nothing may compute, and made again when a build can."""
    config = load_config(dead_site(tmp_path).joinpath("site.toml"))
    (model,) = load_site_models(config, "cpu")
    assert asleep_channels(model, config.cache_dir, "stem") == frozenset()  # not measured yet
    store = MeasureStore(config.cache_dir)
    store.put(_key(model), {"constant": {name: [0] for name in LAYERS}})  # an earlier form
    assert measure_living(model, config.cache_dir, compute=False) == {n: [0] for n in LAYERS}
    assert asleep_channels(model, config.cache_dir, "stem") == frozenset()
    constant = measure_living(model, config.cache_dir)
    assert constant is not None and set(constant["stem"]) == set(range(DEAD))
    for name in LAYERS:
        assert asleep_channels(model, config.cache_dir, name) >= frozenset(range(DEAD)), name


def test_dead_channels_are_never_sampled_nor_chosen(tmp_path: Path) -> None:
    config = load_config(dead_site(tmp_path).joinpath("site.toml"))
    (model,) = load_site_models(config, "cpu")
    measure_living(model, config.cache_dir)
    ctx = PlanContext(config=config, model=model, preset=TINY)
    explorer = explorer_jobs(config, model, TINY, ctx.channel_job)
    for name in LAYERS:
        channels = list(explorer[name])
        assert channels == [DEAD, DEAD + 1], name
        surveyed = {job.objectives[0].terms[0][1].channel for job in ctx.survey_jobs(name, 2)}
        assert surveyed and not surveyed & set(range(DEAD)), name


def _page(root: Path, url: str) -> str:
    return " ".join((root / "site_output" / url).read_text(encoding="utf-8").split())


def _gallery_channels(html: str) -> set[int]:
    gallery = html.split('id="gallery"', 1)[1].split("</figure>", 1)[0]
    return {int(c) for c in re.findall(r"(?:block\d|stem):(\d+)", gallery)}


@pytest.mark.parametrize("photos", [0, 6])
def test_a_build_shows_living_channels(tmp_path: Path, photos: int) -> None:
    """With and without photos: the gallery picks living channels, the layer page counts the
    dead, a dead channel's page (asked for by `explorer_channels` beyond the living) says so,
    and with photos a post-ReLU channel shows its photos at the floor, not bottom photos."""
    root = dead_site(tmp_path, photos)
    (root / "content" / "gallery.md").write_text(ARTICLE, encoding="utf-8")
    preset = Preset("tiny", size=32, steps=2, explorer_channels=8, figure_scale=1.0)
    toml = root / "site.toml"
    toml.write_text(toml.read_text() + 'explorer_layers = ["stem"]\n', encoding="utf-8")
    log = io.StringIO()
    build_site(load_config(toml), preset=preset, progress=Progress(stream=log, terminal=False))
    chosen = _gallery_channels(_page(root, "gallery.html"))
    assert chosen and not chosen & set(range(DEAD))
    layer = _page(root, "explorer/deadcnn/stem.html")
    assert f"{DEAD} dead channels" in layer
    assert f'placeholder="stem:{DEAD}, edges, a label"' in layer  # the site's own model
    assert layer.count('class="dead-mark"') == DEAD
    dead = _page(root, "explorer/deadcnn/stem/0.html")
    live = _page(root, "explorer/deadcnn/stem/5.html")
    assert "Dead channel:" in dead and "Dead channel:" not in live
    assert "minimized before the layer's ReLU, at <code>stem.0</code>" in live
    assert ("every photo of the folder" in dead) == bool(photos)
    index = _page(root, "explorer/deadcnn/index.html")  # named by its class, not its loader
    assert "<title>Explorer: DeadCNN ·" in index and "<h1>DeadCNN</h1>" in index
    lines = log.getvalue()  # the measure stage counts as compute does, in a log
    assert re.search(r"featvis: circuits: (\d+)/\1 \(100%\), [\d.]+ circuits/s", lines), lines
    if photos:
        assert re.search(r"featvis: accentuations: (\d+)/\1 \(100%\), [\d.]+ photos/s", lines)
        assert re.search(r"featvis: pattern checks: (\d+)/\1 \(100%\)", lines)
        assert re.search(r"\d+ photos at the floor", live)
        assert "Bottom" in live and 'class="channel-row photos negative"' not in live
        # every photo gives a dead channel one value: no top, bottom or floor photos to show
        # (which would be the folder's order), no pattern check or class reading against them
        assert "photo-grid" not in dead and "fv-agree" not in dead
        every = r"Every photo of the folder \(\d+\) gives this channel one value, 0,"
        assert re.search(every, dead)
        assert "photo-grid" in live and "Every photo of the folder" not in live
        assert "every photo: 0, one value" in layer


def test_the_negative_is_made_before_the_relu(tmp_path: Path) -> None:
    """A post-ReLU channel is minimized at its pre-activation (there it can go below 0); in a
    residual block whose ReLU module takes a sum computed in `forward` (and is called twice),
    the pre-activation is that module's input at its last call; a floor without one says why."""
    from generator.cache.store import ArtifactStore
    from generator.compute import compute_jobs
    from generator.models import load_model
    from generator.models.preact import NO_PRE_ACTIVATION, negative_layer
    from generator.plan.explorer import channel_page_jobs

    config = load_config(dead_site(tmp_path).joinpath("site.toml"))
    (model,) = load_site_models(config, "cpu")
    assert negative_layer(model, "stem") == "stem.0"
    assert model.layer("stem.0").channels == model.layer("stem").channels
    preset = Preset("tiny", size=32, steps=32, explorer_channels=2, figure_scale=1.0)
    ctx = PlanContext(config=config, model=model, preset=preset)
    floored = channel_page_jobs(ctx, "stem", DEAD + 1)["negative"]
    at_layer = ctx.job([-ctx.channel_job("stem", DEAD + 1).objectives[0]])
    assert floored.key != at_layer.key
    store = ArtifactStore(config.cache_dir)
    compute_jobs([floored, at_layer], model, store, batch_size=2, quiet=True)
    before = store.get(floored).sidecar.final[0]  # type: ignore[union-attr]
    after = store.get(at_layer).sidecar.final[0]  # type: ignore[union-attr]
    assert after <= 0.0 < before  # -activation: only the pre-activation goes below 0

    example = REPO / "examples" / "own-model" / "tiny_cnn.py"
    own = load_model(f"python:{example}:build", layers=["stem", "stage1.0"], input_size=32)
    assert negative_layer(own, "stem") == "stem.0"
    assert negative_layer(own, "stage1.0") == "stage1.0.relu@input"
    own_ctx = PlanContext(config=config, model=own, preset=preset)
    summed = channel_page_jobs(own_ctx, "stage1.0", 0)["negative"]
    compute_jobs([summed], own, store, batch_size=1, quiet=True)
    sidecar = store.get(summed).sidecar  # type: ignore[union-attr]
    assert sidecar.final[0] > sidecar.history[0][0]  # the sum lowered: its gradient reaches
    assert "ReLU" in NO_PRE_ACTIVATION


def test_a_modules_input_is_captured_before_an_in_place_module_changes_it() -> None:
    """The input of a ReLU that a block calls twice, in place, as its last call saw it: the
    block's output is exactly that clamped at 0, whether or not the block itself is captured
    (a forward that stops at the deepest layer would stop at the module's first call)."""
    import torch

    from generator.models import load_model
    from generator.optvis.render import truncated_forward

    model = load_model("torchvision:resnet18", random_weights=True, input_size=32)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with truncated_forward(model, ["layer1.0.relu@input", "layer1.0"]) as (acts, run):
        run(x)
        pre, out = acts["layer1.0.relu@input"], acts["layer1.0"]
    with truncated_forward(model, ["layer1.0.relu@input"]) as (acts, run):
        run(x)
        alone = acts["layer1.0.relu@input"]
    assert float(pre.min()) < 0 and torch.equal(out, pre.clamp(min=0)) and torch.equal(alone, pre)


INPLACE = '''\
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, 1, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.conv(x)
        out += x  # the ReLU's input is this sum, though it is the same tensor as conv's output
        return self.relu(out)


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), Block(), nn.AdaptiveAvgPool2d(1))
'''


def test_a_sum_made_in_place_is_not_the_module_before_it(tmp_path: Path) -> None:
    from generator.models import load_model
    from generator.models.preact import negative_layer

    (tmp_path / "inplace.py").write_text(INPLACE, encoding="utf-8")
    model = load_model(f"python:{tmp_path / 'inplace.py'}:build", layers=["0", "1"],
                       input_size=32)
    assert negative_layer(model, "0") == "0"  # no ReLU after it: minimized where it is
    assert negative_layer(model, "1") == "1.relu@input"  # not conv's output: the ReLU's input


ACTIVATIONS = '''\
import torch
import torch.nn.functional as F
from torch import nn


class Functional(nn.Module):  # the ReLU called in forward, in place, after a norm
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Clamped(nn.Module):  # a ReLU6-style clamp in forward
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, 1, 1)

    def forward(self, x):
        return torch.clamp(self.conv(x), 0, 0.5)


class Hard(nn.Module):  # a Hardtanh module: a floor below 0
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, 1, 1)
        self.act = nn.Hardtanh(-0.05, 0.05)

    def forward(self, x):
        return self.act(self.conv(x))


class Concat(nn.Module):  # two ReLU'd branches side by side: no one module before the floor
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 3, 1, 1)

    def forward(self, x):
        return torch.cat([torch.relu(self.a(x)), self.b(x).relu()], 1)


class Smooth(nn.Module):  # GELU goes below 0: minimized where it is
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, 1, 1)

    def forward(self, x):
        return F.gelu(self.conv(x))


class Residual(nn.Module):  # a sum floored in forward by F.relu, no ReLU module
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, 1, 1)

    def forward(self, x):
        out = self.conv(x)
        out += x
        return F.relu(out)


class Pooled(nn.Module):  # a branch pooled after its ReLU by a module: it cannot go below 0
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 1)
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        return torch.cat([F.relu(self.a(x)), self.pool(F.relu(self.b(x)))], 1)


class FlooredCat(nn.Module):  # one ReLU over a concatenation of which a part is pooled
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return F.relu(torch.cat([self.a(x), F.max_pool2d(x[:, :4], 3, 1, 1)], 1))


def build():
    return nn.Sequential(Functional(), Clamped(), Hard(), Concat(), Smooth(), Residual(),
                         Pooled(), FlooredCat(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))
'''


SIXES = """\
import torch.nn.functional as F
from torch import nn


class Conv(nn.Module):  # a convolution and what its forward floors it with
    def __init__(self, floor):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.floor = floor

    def forward(self, x):
        return self.floor(self.conv(x))


def build():
    return nn.Sequential(
        Conv(F.relu6), Conv(lambda x: x.clamp(min=0)), nn.Conv2d(3, 3, 1), nn.ReLU6(),
        Conv(lambda x: F.hardtanh(x, 0.0, 6.0)), nn.Conv2d(3, 3, 1), nn.Hardtanh(0.0, 6.0),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
"""


def test_each_floor_is_named_as_the_network_applies_it(tmp_path: Path) -> None:
    """A ReLU6 module is a Hardtanh(0, 6), and `F.relu6` calls a hardtanh: each is named as the
    network's code writes it, so its pages speak of "its ReLU6", not of a ReLU."""
    from generator.figures.negative import negative_label
    from generator.models import load_model
    from generator.models.preact import floor_of

    (tmp_path / "sixes.py").write_text(SIXES, encoding="utf-8")
    layers = ["0", "1", "3", "4", "6"]
    model = load_model(f"python:{tmp_path / 'sixes.py'}:build", layers=layers, input_size=16,
                       random_weights=True)
    assert [str(floor_of(model, layer)) for layer in layers] == [
        "ReLU6", "clamp(min=0)", "ReLU6", "hardtanh(0, 6)", "Hardtanh(0, 6)"]
    assert negative_label(model, "3", 1) == "negative (before the ReLU6, 2)"


def test_functional_relus_and_clamps_have_their_pre_activation(tmp_path: Path) -> None:
    """ReLUs called in `forward` (in place or not), clamps and Hardtanh modules floor a layer as
    an `nn.ReLU` does: its negative is made at the module before them, read as that module made
    it (an in-place ReLU overwrites it afterwards); a concatenation of floored branches has its
    branches' outputs side by side; a sum floored by `F.relu` in `forward` at that function's
    input; a GELU layer is minimized where it is."""
    import torch

    from generator.figures.negative import negative_label
    from generator.models import load_model
    from generator.models.preact import (
        branch_of,
        floor_of,
        negative_layer,
        negative_of,
        shown_in,
        unit_in,
    )
    from generator.optvis.objectives import channel
    from generator.optvis.render import truncated_forward

    (tmp_path / "acts.py").write_text(ACTIVATIONS, encoding="utf-8")
    model = load_model(f"python:{tmp_path / 'acts.py'}:build", layers=list("01234567"),
                       input_size=32, random_weights=True)
    assert negative_layer(model, "0") == "0.conv"  # its norm folded into it
    assert negative_layer(model, "1") == "1.conv"
    assert negative_layer(model, "2") == "2.conv"
    assert negative_layer(model, "3") == "3.a+3.b"
    assert branch_of(model, "3.a+3.b", 5) == ("3.b", 1)
    assert branch_of(model, "0.conv", 5) == ("0.conv", 5)
    assert negative_layer(model, "4") == "4"
    assert negative_layer(model, "5") == "5@floor"  # the input of the F.relu that made it
    assert negative_layer(model, "6") is None  # its pooled branch's channels stop at 0
    assert negative_layer(model, "7") is None  # as do those of a pooled part that F.relu takes
    # the convolution's channels beside them have theirs, one by one (`models.perchannel`)
    assert [negative_of(model, layer, c) for layer in "67" for c in (3, 4)] == [
        ("6.a", 3), None, ("7.a", 3), None]
    # the negative figure's label names the branch's own channel, and a floor function plainly
    assert negative_label(model, "3", 5) == "negative (before the ReLU, channel 1 of 3.b)"
    assert negative_label(model, "5", 0) == "negative (before the ReLU that 5's forward calls last)"
    assert negative_label(model, "0", 2) == "negative (before the ReLU, 0.conv)"
    assert negative_label(model, "4", 2) == "negative"
    # the floor named as the network applies it, where it is not a ReLU
    assert [str(floor_of(model, layer)) for layer in "01235"] == [
        "ReLU", "clamp(0, 0.5)", "Hardtanh(-0.05, 0.05)", "ReLU", "ReLU"]
    assert floor_of(model, "4") is None  # GELU: no floor
    assert negative_label(model, "1", 0) == "negative (before the clamp(0, 0.5), 1.conv)"
    assert negative_label(model, "2", 0) == "negative (before the Hardtanh(-0.05, 0.05), 2.conv)"
    assert shown_in(model, "5@floor") == "the input of the ReLU that 5's forward calls last"
    negative = -channel("3.a+3.b", 5)  # as a figure's alt text and its table name it
    assert negative.describe() == "- channel 5 of 3.a and 3.b side by side"
    assert negative.describe(lambda path, c: unit_in(model, path, c)) == "- channel 3.b:1"
    assert channel("5@floor", 2).describe(lambda path, c: unit_in(model, path, c)) == (
        "channel 2 of the input of the ReLU that 5's forward calls last")
    assert model.layer("1.conv").depth < model.layer("1").depth
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for layer in ("0", "3", "5"):
        at = negative_layer(model, layer)
        with truncated_forward(model, [at, layer]) as (acts, run):
            run(x)
            pre, out = acts[at], acts[layer]
        assert float(pre.min()) < 0 and torch.equal(out, pre.clamp(min=0))
