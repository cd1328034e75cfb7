"""Any network: one activation layout (maps, channels-last maps, tokens) for the optimizer, the
circuits and accentuation; input sizes found by probing; a person's catalog of a small network
with band references that resolve; and the one-line errors of a network that cannot be shown."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.atlas.accentuation import PIXELS, default_anchor
from generator.atlas.circuits.attribution import attribution_matrix, input_attribution_matrix
from generator.atlas.circuits.inputs import block_probe
from generator.cli import main
from generator.core.errors import FeatvisError
from generator.core.publish import OUTPUT_MARKER
from generator.models import BANDS, capture, load_model, resolve_layer_ref
from generator.models.hooks import ChannelsLast, TokenGrid
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.render import truncated_forward
from generator.optvis.transforms import TransformSpec

REPO = Path(__file__).resolve().parents[1]
NETS = '''\
import torch
from torch import nn


class LastBlock(nn.Module):
    """A ConvNeXt-like block that keeps its channels last: (B, H, W, C) in and out."""

    def __init__(self, width):
        super().__init__()
        self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, x):
        y = self.dw(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(self.norm(y))


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 2, stride=2)

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class ChannelsLastNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 4, stride=4)
        self.stages = nn.Sequential(LastBlock(6), LastBlock(6), Down(6, 12), LastBlock(12),
                                    LastBlock(12), Down(12, 16), LastBlock(16))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stages(self.stem(x).permute(0, 2, 3, 1))
        return self.head(x.mean((1, 2)))


class Sized(nn.Module):
    """A CNN whose forward asserts its input size, as a vision transformer does."""

    def __init__(self, side=48):
        super().__init__()
        self.side = side
        self.body = nn.Sequential(*(m for w in (8, 8, 16, 16, 16) for m in
                                    (nn.LazyConv2d(w, 3, padding=1), nn.ReLU())))
        self.body(torch.zeros(1, 3, 8, 8))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        assert x.shape[-1] == self.side, f"Input width ({x.shape[-1]}) doesn't match model."
        return self.head(self.body(x).mean((2, 3)))


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


class FourBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1, self.b2, self.b3, self.b4 = Block(3, 8), Block(8, 16), Block(16, 16), Block(16, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.b4(self.b3(self.b2(self.b1(x)))).mean((2, 3)))


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x, mask):
        return self.conv(x) * mask


class Dict(nn.Module):
    def __init__(self, key="logits"):
        super().__init__()
        self.key = key
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())

    def forward(self, x):
        y = self.body(x)
        return {self.key: y.mean((2, 3)), "maps": y}


class Functional(nn.Module):
    """Convolutions as plain attributes, activations called in forward: no blocks, no ReLU
    modules."""

    def __init__(self, tuple_out=False):
        super().__init__()
        self.tuple_out = tuple_out
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, 2, 1)
        self.c, self.d = nn.Conv2d(8, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1)
        self.e, self.head = nn.Conv2d(16, 16, 3, 2, 1), nn.Linear(16, 4)

    def forward(self, x):
        for conv in (self.a, self.b, self.c, self.d, self.e):
            x = torch.relu(conv(x))
        y = self.head(x.mean((2, 3)))
        if self.tuple_out == "maps":
            return x, y
        return (y, x) if self.tuple_out else y


def functional():
    return Functional()


def tuple_output():
    return Functional(tuple_out=True)


def maps_first():
    return Functional(tuple_out="maps")


def rgba():
    return nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))


def two_channels():
    return nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))


def zero_head():
    net = plain(5)
    nn.init.zeros_(net[-1].weight)
    return net


def channels_last():
    return ChannelsLastNet()


def sized():
    return Sized()


def sized_224():
    return Sized(224)


def four_blocks():
    return FourBlocks()


def plain(n=6):
    layers, width = [], 3
    for out in (8, 8, 16, 16, 32, 32, 48, 48, 64)[:n]:
        layers += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def three():
    return plain(3)


def five():
    return plain(5)


def one():
    return plain(1)


def six():
    return plain(6)


def seven():
    return plain(7)


def nine():
    return plain(9)


def two():
    return plain(2)


def masked():
    return Masked()


def dict_output():
    return Dict()


def dict_without_logits():
    return Dict(key="scores")


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.ReLU(), nn.Linear(10, 10))


class Fusion(nn.Module):
    """Two branches that meet again, as HRNet's do: the low one, at half the map's size, is
    upsampled by 2 and added, so the network takes multiples of 4 px only."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.stem(x)
        x = x + nn.functional.interpolate(self.down(x), scale_factor=2.0)
        return self.head(x.mean((2, 3)))


def fusion():
    return Fusion()


def late_kernel():
    """Two stride-2 convolutions, then a 5x5 one without padding: rejects pictures under 20 px."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(8, 8, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nets") / "nets.py"
    path.write_text(NETS, encoding="utf-8")
    return path


def _spec(nets: Path, function: str) -> str:
    return f"python:{nets}:{function}"


def _rises(model, layer: str, size: int = 32) -> None:  # type: ignore[no-untyped-def]
    """Three optimizer steps raise a channel's and a neuron's objective."""
    info = model.layer(layer)
    objectives = [obj.channel(layer, 1), obj.neuron(layer, 1, info.height // 2, info.width // 2)]
    settings = RenderSettings(size=size, steps=3, lr=0.05, transforms=TransformSpec.none())
    result = render(model, objectives, settings, seeds=0)
    assert torch.isfinite(result.final).all()
    assert (result.history[-1] > result.history[0]).all(), result.history


def test_channels_last_maps_reach_everything_as_nchw(nets: Path) -> None:
    model = load_model(_spec(nets, "channels_last"), input_size=32)
    laid = [layer for layer in model.layers if isinstance(layer.layout, ChannelsLast)]
    assert len(laid) >= 5 and {layer.band for layer in model.layers} == set(BANDS)
    first, last = laid[0], laid[-1]
    assert (first.channels, first.height) == (6, 8) and (last.channels, last.height) == (16, 2)
    with torch.no_grad(), capture(model.net, [first.module_path]) as out:
        model.net(torch.rand(2, 3, 32, 32))
    assert tuple(out[first.module_path].shape) == (2, 6, 8, 8)
    _rises(model, laid[2].name)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    matrix = attribution_matrix(model, first.name, laid[2].name, images)
    assert matrix.shape == (laid[2].channels, first.channels) and torch.isfinite(matrix).all()
    block = block_probe(model, laid[1].name)
    assert block.residual and block.parts[0].layer == first.name
    inputs = input_attribution_matrix(model, laid[1].name, images)
    assert inputs.shape == (laid[1].channels, 6) and inputs.abs().sum() > 0
    # at a non-square size (Swin at [32, 48]) the maps are told by the picture's proportions:
    # (B, 8, 12, 6) is 6 channels of 8 x 12, not 8 channels of 12 x 6
    wide = load_model(_spec(nets, "channels_last"), input_size=(32, 48))
    shapes = [(i.channels, i.height, i.width) for i in wide.layers]
    assert shapes == [(6, 8, 12)] * 2 + [(12, 4, 6)] * 3 + [(16, 2, 3)] * 2, shapes
    assert all(isinstance(i.layout, ChannelsLast) for i in wide.layers)
    small = load_model(_spec(nets, "channels_last"), input_size=16)  # its last stage: 1 x 1
    assert [(i.channels, i.height) for i in small.layers][-1] == (12, 2), small.layers


def test_transformer_circuits_anchor_and_position() -> None:
    """A ViT's blocks (tokens) in circuits and accentuation; its optional MLP layers take
    depths, so positions, not depths, count the catalog."""
    model = load_model("timm:vit_tiny_patch16_224", random_weights=True, input_size=32)
    assert isinstance(model.layer("blocks.3").layout, TokenGrid)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    matrix = attribution_matrix(model, "blocks.1", "blocks.3", images, targets=[0, 5])
    assert matrix.shape == (2, 192) and torch.isfinite(matrix).all() and matrix.abs().sum() > 0
    inputs = input_attribution_matrix(model, "blocks.2", images, targets=[1])
    assert inputs.shape == (1, 192) and inputs.abs().sum() > 0
    assert block_probe(model, "blocks.2").residual
    anchors = {default_anchor(model, name) for name in model.layer_names}
    assert anchors <= {PIXELS, *model.layer_names} and len(anchors) > 1
    assert [layer.position for layer in model.layers] == list(range(13))  # patch_embed.proj first
    assert model.layer("blocks.3.mlp.act").position == 4


def test_a_fixed_input_size_is_found_by_probing(nets: Path) -> None:
    """A network that asserts its size gets the optimizer's images resized to it; one that
    takes any size does not; the description says so."""
    model = load_model(_spec(nets, "sized"), input_size=48)
    assert model.fixed_input and "48 px input only" in model.description
    _rises(model, model.layer_names[2], size=32)
    with pytest.raises(FeatvisError, match=r"a forward pass at 64 px failed \(Input width \(64\)"):
        load_model(_spec(nets, "sized"), input_size=64)
    assert not load_model(_spec(nets, "five"), input_size=32).fixed_input
    vit = load_model("timm:vit_tiny_patch16_224", random_weights=True)
    assert vit.fixed_input and vit.input_size == 224


def test_a_network_of_few_blocks_shows_their_insides(nets: Path) -> None:
    model = load_model(_spec(nets, "four_blocks"), input_size=32)
    paths = [layer.module_path for layer in model.layers]
    assert {"b1", "b2", "b3", "b4"} <= set(paths) and len(paths) >= 5
    assert {layer.band for layer in model.layers} == set(BANDS)
    for ref in ("edges[-1]", "textures[1]", "patterns[0]", "parts[0]", "objects[0]", "objects[-1]"):
        assert resolve_layer_ref(ref, model.layers) in model.layer_names


def test_a_network_of_convolutions_and_functional_activations_shows_its_convolutions(
    nets: Path,
) -> None:
    model = load_model(_spec(nets, "functional"), input_size=32)
    assert [layer.module_path for layer in model.layers] == ["a", "b", "c", "d", "e"]
    assert [layer.band for layer in model.layers] == list(BANDS)
    _rises(model, "d")


def test_random_weights_redraw_a_head_the_architecture_starts_at_zero(nets: Path) -> None:
    """An untrained network whose zero-initialized head (torchvision's ViT) would give every
    image the same logits gets a head drawn from the seed; a network's own weights are kept,
    and refused when the output does not depend on the input."""
    from generator.models.site import probe_model

    untrained = load_model(_spec(nets, "zero_head"), input_size=32, random_weights=True)
    probe_model(untrained)
    assert untrained.net[-1].weight.abs().sum() > 0
    again = load_model(_spec(nets, "zero_head"), input_size=32, random_weights=True)
    assert again.weights_digest == untrained.weights_digest
    with pytest.raises(FeatvisError, match="same output for every image"):
        probe_model(load_model(_spec(nets, "zero_head"), input_size=32))


def test_an_untrained_network_whose_activations_vanish_gets_measured_norms() -> None:
    """GoogLeNet's own initialization (0.01-wide weights, batch norms at mean 0 and variance 1)
    gives every image the same logits in eval mode; untrained, its norms' statistics are
    measured on seeded noise, the same each time."""
    from generator.models.site import probe_model

    model = load_model("torchvision:googlenet", random_weights=True)
    probe_model(model)
    again = load_model("torchvision:googlenet", random_weights=True)
    assert again.weights_digest == model.weights_digest


def test_an_untrained_network_whose_signal_fades_gets_measured_norms() -> None:
    """torchvision's MobileNetV2, untrained, gives two noise images logits 1e-10 apart and
    activations of 1e-9 at its last layers, too faint for the optimizer to move a picture; its
    norms' statistics are measured on seeded noise, so its outputs follow the image."""
    model = load_model("torchvision:mobilenet_v2", random_weights=True, input_size=64)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    path = model.layers[-1].module_path
    with torch.no_grad(), capture(model.net, [path]) as seen:
        out = model.net(images)
    assert float((out[0] - out[1]).abs().max()) > 1e-2
    assert float(seen[path].abs().mean()) > 1e-3
    again = load_model("torchvision:mobilenet_v2", random_weights=True, input_size=64)
    assert again.weights_digest == model.weights_digest


def test_band_references_of_a_small_catalog(nets: Path) -> None:
    """Five layers: one a band, `textures[1]` is the textures band's one layer (not the next
    band's), and a reference past the network's reach is an error naming the bands; fewer
    layers than bands: an empty band is the layer at its depth and any index the band's
    layer."""
    model = load_model(_spec(nets, "five"), input_size=32)
    names = list(model.layer_names)
    assert len(names) == 5 and [layer.band for layer in model.layers] == list(BANDS)
    assert resolve_layer_ref("textures[1]", model.layers) == names[1]
    assert resolve_layer_ref("parts[-2]", model.layers) == names[3]
    assert resolve_layer_ref("objects[-1]", model.layers) == names[4]
    with pytest.raises(FeatvisError) as err:
        resolve_layer_ref("parts[7]", model.layers, model.id)
    message = str(err.value)
    assert "cannot resolve layer 'parts[7]'" in message
    assert "edges 1, textures 1, patterns 1, parts 1, objects 1" in message
    assert "\n" not in message and len(message.replace(model.id, "")) <= 200
    small = load_model(_spec(nets, "three"), input_size=32)
    three = list(small.layer_names)
    assert [layer.band for layer in small.layers] == ["edges", "textures", "parts"]
    assert [resolve_layer_ref(band, small.layers) for band in BANDS] == [
        three[0], three[1], three[1], three[2], three[2]
    ]
    assert resolve_layer_ref("patterns[-1]", small.layers) == three[1]
    assert resolve_layer_ref("objects[3]", small.layers) == three[2]
    assert resolve_layer_ref("textures[-4]", small.layers) == three[1]


def test_the_flagship_binds_for_a_network_of_any_depth(nets: Path) -> None:
    """The flagship article's figures resolve and check for networks of one to nine layers (as
    `featvis init --model python:...` then `featvis build` meets them), its gallery in depth
    order; from five layers on (every band holds one) each band keeps its row, its own layer,
    where `textures[1]` of a one-layer textures band once repeated `patterns[0]`'s."""
    from generator.config.site import load_config
    from generator.figures.registry import page_figures, read_pages

    flagship = next(
        page for page in read_pages(load_config(REPO / "site.toml"))
        if page.slug == "feature-visualization"
    )
    for depth in ("one", "two", "three", "five", "six", "seven", "nine"):
        model = load_model(_spec(nets, depth), input_size=32)
        gallery = next(f for f in page_figures(flagship, model) if f.type == "layer-gallery")
        used = gallery.layers_used(model)
        assert used == sorted(used, key=lambda name: model.layer(name).depth), (depth, used)
        assert len(set(used)) == len(used), (depth, used)
        if len(model.layer_names) >= len(BANDS):
            assert [model.layer(name).band for name in used] == list(BANDS), (depth, used)
        if len(model.layer_names) <= 3:
            assert used == list(model.layer_names), (depth, used)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("masked", r"its forward needs more than a batch of images \(.*'mask'\)"),
        ("dict_without_logits", r"its forward returns a dict, not one logits tensor \(nor a "
                                r"tuple whose first element is one, nor a dict with 'logits'\)"),
        ("maps_first", r"its forward returns a tuple, not one logits tensor"),
        ("rgba", r"its first layer takes 4 input channels; featvis shows networks RGB images "
                 r"\(3 channels\) or grey ones \(1 channel\): wrap it"),
        ("two_channels", r"its first layer takes 2 input channels; featvis shows networks RGB "
                         r"images \(3 channels\) or grey ones \(1 channel\)"),
        ("mlp", r"no layer gives a \(B, C, H, W\) feature map or \(B, tokens, D\) patch tokens"),
    ],
)
def test_a_network_that_cannot_be_shown_is_one_line(
    nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], function: str, expected: str
) -> None:
    with pytest.raises(FeatvisError, match=expected) as err:
        load_model(_spec(nets, function), input_size=32)
    assert "\n" not in str(err.value) and f"model 'python:{nets}:{function}'" in str(err.value)
    site = tmp_path / "site"
    (site / "content").mkdir(parents=True)
    (site / "site_output").mkdir()
    (site / "site_output" / "index.html").write_text("published", encoding="utf-8")
    (site / "site_output" / OUTPUT_MARKER).write_text("", encoding="utf-8")
    before = sorted(p.name for p in (site / "site_output").iterdir())
    (site / "site.toml").write_text(
        f'model = "python:{nets}:{function}"\ninput_size = 32\n', encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["build", "--config", str(site / "site.toml"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "site.toml:1:" in lines[0], lines
    assert sorted(p.name for p in (site / "site_output").iterdir()) == before
    assert (site / "site_output" / "index.html").read_text(encoding="utf-8") == "published"


def test_a_tuple_or_dict_output_is_read_for_its_logits(nets: Path) -> None:
    """A forward that returns (logits, features) or {"logits": ..., ...}, as training code often
    has it, loads as it is: the network gives its logits, its layers keep their paths."""
    plain = load_model(_spec(nets, "functional"), input_size=32)
    both = load_model(_spec(nets, "tuple_output"), input_size=32)
    x = torch.rand(2, 3, 32, 32)
    assert both.layer_names == plain.layer_names and both.classes == 4
    with torch.no_grad():
        assert torch.equal(both.net(x), plain.net(x))  # the same seeded weights
    named = load_model(_spec(nets, "dict_output"), input_size=32)
    with torch.no_grad():
        out = named.net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4) and named.classes == 4
    _rises(both, "d")


def test_zoo_and_own_models_have_readable_names_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `name`, a zoo or `python:` model is titled and foldered by what it is, not by its
    loader string; with `name`, its explorer folder (and an article's old
    `explorer/<layer>.html` link) follows the name; two models of one name are one line."""
    import re
    import shutil

    import generator.models.site as site_models
    from generator.config.site import load_config
    from generator.core.urls import model_url
    from generator.figures.registry import read_pages

    monkeypatch.setattr(site_models, "load_model", lambda spec, **kw: load_model(
        spec, **{**kw, "random_weights": True}))
    for copy in ("tiny_cnn.py", "other_cnn.py"):
        shutil.copyfile(Path(__file__).resolve().parents[1] / "examples/own-model/tiny_cnn.py",
                        tmp_path / copy)
    toml = tmp_path / "site.toml"
    ids = ["torchvision:squeezenet1_1", "python:tiny_cnn.py:build"]
    tables = ", ".join(f'{{model = "{i}", input_size = 32}}' for i in ids)
    toml.write_text(f"models = [{tables}]\n", encoding="utf-8")
    models = site_models.load_site_models(load_config(toml), "cpu")
    assert [m.name for m in models] == ["squeezenet1_1", "TinyCNN"]
    assert [m.slug for m in models] == ["torchvision-squeezenet1_1", "tiny_cnn"]
    for m in models:
        assert re.fullmatch(r"explorer/[A-Za-z0-9._-]+/index\.html", model_url(m.slug)), m.slug

    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(
        "---\ntitle: A\n---\n\nSee [a layer](explorer/stem.html).\n", encoding="utf-8")
    toml.write_text('model = "python:tiny_cnn.py:build"\nname = "My Net"\n', encoding="utf-8")
    config = load_config(toml)
    (model,) = site_models.load_site_models(config, "cpu")
    assert (model.name, model.slug) == ("My Net", "my-net")
    assert "(explorer/my-net/stem.html)" in read_pages(config)[0].body

    toml.write_text('models = [{model = "python:tiny_cnn.py:build", name = "Net"},\n'
                    '          {model = "python:other_cnn.py:build", name = "net"}]\n',
                    encoding="utf-8")
    # named by the line of the second entry, the one that would share the first's folder
    with pytest.raises(FeatvisError, match=r"site\.toml:2: .*share the explorer folder 'net'"):
        site_models.load_site_models(load_config(toml), "cpu")


def test_loading_leaves_the_norm_statistics_alone(tmp_path: Path) -> None:
    """Loading probes the network in eval mode: a checkpoint's batch-norm statistics arrive as
    saved, and a network whose last stage is 1x1 at a small input size loads at all."""
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = timm.create_model("regnetx_002", pretrained=False)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save(saved, tmp_path / "regnet.pth")
    model = load_model("timm:regnetx_002", weights=tmp_path / "regnet.pth", fold_norms=False,
                       input_size=64)
    loaded = model.net.state_dict()
    assert all(torch.equal(loaded[k].cpu(), v) for k, v in saved.items() if "running" in k)
    assert load_model("timm:regnetx_002", random_weights=True, input_size=32).layers


def test_pictures_under_a_networks_smallest_input_are_enlarged(nets: Path) -> None:
    """A network that rejects small pictures (a late kernel larger than its map) is probed for
    the smallest size it takes; the optimizer's smaller pictures and photos reach it enlarged."""
    model = load_model(_spec(nets, "late_kernel"), input_size=64)
    assert (model.fixed_input, model.min_input) == (False, 32)
    assert model.preprocess(torch.rand(2, 3, 16, 24)).shape[-2:] == (32, 48)
    assert model.preprocess(torch.rand(1, 3, 40, 40)).shape[-2:] == (40, 40)
    settings = RenderSettings(size=16, steps=3, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("4", 1)], settings, seeds=0)
    assert torch.isfinite(result.final).all() and result.images.shape[-1] == 16
    # an input_size under its smallest (Inception v3 at 64 px) names that smallest, and a network
    # of one size only (one that asserts it) that size: neither claims the other
    with pytest.raises(FeatvisError) as small:
        load_model(_spec(nets, "late_kernel"), input_size=16)
    assert str(small.value).endswith(
        "takes pictures of 32 px and more (input_size 16 px asked for): set "
        "input_size to 32 or more, or leave it out"), small.value
    with pytest.raises(FeatvisError, match=r"takes 224 px input only \(input_size 16 px asked "
                                           r"for\): set input_size to 224, or leave it out$"):
        load_model(_spec(nets, "sized_224"), input_size=16)


def test_overflowing_activations_leave_the_distribution_drawable() -> None:
    """A network whose activations overflow on some photos (random Inception v3 weights) still
    gets its channel page: values that are not finite are left out of the histogram."""
    from generator.site.channels import histogram

    drawn = histogram([1.0, float("nan"), 3.0, float("inf"), 2.0])
    assert drawn is not None and drawn["n"] == 3 and (drawn["min"], drawn["max"]) == (1.0, 3.0)
    assert histogram([float("nan"), 1.0]) is None
    assert histogram([-1e308, 1e308]) is None


def test_a_stem_of_convolutions_and_activation_modules_shows_each_activation() -> None:
    """LeViT's stem, a Sequential of (convolution + norm) modules each followed by its activation
    module: the activation shows those channels after the nonlinearity, so the module before it
    is not a layer of its own (it was: half of LeViT's edges and textures bands repeated)."""
    from torch import nn

    from generator.models.candidates import candidate_paths

    class ConvNorm(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout)

    stem = nn.Sequential(ConvNorm(3, 8), nn.Hardswish(), ConvNorm(8, 16), nn.Hardswish(),
                         ConvNorm(16, 32))
    net = nn.Sequential(stem, nn.Sequential(ConvNorm(32, 32), ConvNorm(32, 32)))
    assert candidate_paths(net) == ["0.1", "0.3", "0.4", "1.0", "1.1"]


def test_a_layer_and_the_next_ones_pre_activation_are_read_in_one_pass(nets: Path) -> None:
    """A batch of a layer's channel and the next layer's negative (AlexNet's `features.9` and
    `features.10`, the convolution before `features.11`'s ReLU): the pre-activation shares the
    layer's depth, and the forward goes on until both are read (it stopped after the layer: a
    traceback from the build); and a pass inside that one reads its own layer (AlexNet's
    accentuations: a KeyError)."""
    from generator.models.preact import negative_layer

    model = load_model(_spec(nets, "five"), input_size=32)
    assert negative_layer(model, "5") == "4" and model.layer("4").depth == model.layer("3").depth
    with torch.no_grad(), truncated_forward(model, ["4", "3"]) as (acts, run):
        assert run(torch.rand(1, 3, 32, 32)) is None  # stopped before the head
        assert acts.get("3") is not None and acts.get("4") is not None
        # a pass of its own inside (accentuation's anchor): the outer context does not stop it
        with truncated_forward(model, ["3"]) as (inner, again):
            again(torch.rand(1, 3, 32, 32))
            assert inner.get("3") is not None


def test_a_block_made_of_named_parts_is_one_layer() -> None:
    """MaxViT's layer holds `layers`, a pipeline of named parts of two kinds (`MBconv`,
    `window_attention`, `grid_attention`): the layer is the block, where the catalog went into
    it (five layers of 60-character names per block, of the SE module and the attentions)."""
    from collections import OrderedDict

    from torch import nn

    from generator.models.candidates import candidate_paths

    def part() -> nn.Module:
        return nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.norm = nn.Linear(8, 24), nn.LayerNorm(8)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(OrderedDict(
                conv=nn.Sequential(OrderedDict(a=part(), b=part(), se=Attention())),
                window_attention=Attention(), grid_attention=Attention()))

    class Stage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([Layer(), Layer()])

    net = nn.Module()
    net.blocks = nn.ModuleList([Stage(), Stage()])
    assert candidate_paths(net) == [f"blocks.{s}.layers.{i}" for s in (0, 1) for i in (0, 1)]


def test_blocks_of_parts_and_plain_modules_are_shown_whole() -> None:
    """ConvMixer's blocks, each a Sequential of a residual part, a convolution, GELU and a norm:
    each block is one layer (`blocks.3`), where the catalog showed two of its insides apiece
    (65 layers of `blocks.N.0` and `blocks.N.2`)."""
    from torch import nn

    from generator.models.candidates import candidate_paths

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fn = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.GELU())

    def block() -> nn.Module:
        return nn.Sequential(Residual(), nn.Conv2d(8, 8, 1), nn.GELU(), nn.BatchNorm2d(8))

    net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 4, 4), nn.GELU()),
                        nn.Sequential(*(block() for _ in range(4))))
    assert candidate_paths(net) == ["0.1", "1.0", "1.1", "1.2", "1.3"]


def test_a_stem_of_a_convolution_and_a_norm_is_a_layer() -> None:
    """A network's first Sequential of a strided convolution and a norm, no activation module
    (ConvNeXt's patch embedding), is its first layer, where the catalog started at the blocks
    after it; the same unit between stages (ConvNeXt's downsampling), or followed by its
    activation module (which shows its channels), is none. A network that has no other
    candidate (its forward calls F.relu) still shows its convolutions, the stem's among them."""
    from torch import nn

    from generator.models.candidates import candidate_paths
    from generator.models.catalog import probe_catalog

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act = nn.Conv2d(8, 8, 3, padding=1), nn.GELU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.act(self.conv(x))

    def unit() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 4, 4), nn.BatchNorm2d(8))

    stage = nn.Sequential(Block(), Block())
    down = nn.Sequential(nn.BatchNorm2d(8), nn.Conv2d(8, 8, 2, 2))
    net = nn.Sequential(unit(), stage, down, nn.Sequential(Block(), Block()))
    assert candidate_paths(net) == ["0", "1.0", "1.1", "3.0", "3.1"]
    assert candidate_paths(nn.Sequential(unit(), nn.GELU(), stage)) == ["1", "2.0", "2.1"]

    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.a, self.b = unit(), nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(self.stem(x)))).mean((2, 3))

    layers = probe_catalog(Functional().eval(), 32).layers
    assert [layer.module_path for layer in layers] == ["stem.0", "a", "b"]


def test_tokens_before_the_class_token_joins_are_a_grid_and_attention_tensors_no_map() -> None:
    """CaiT's and XCiT's blocks run on patch tokens alone (their class token joins after them,
    though the model counts one prefix token): each block is a layer, where the network was
    refused ("no layer gives a feature map"); and CoaT's relative position encodings, (B, heads,
    tokens, D) tensors, are no layer (they were shown as maps of 8 x 3137 and 50 x 40 pixels)."""
    from torch import nn

    from generator.models.catalog import probe_catalog

    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mix = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.mix(x)

    class Heads(nn.Module):  # an attention's insides: (B, 2 heads, tokens, 4)
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.qkv(x).unflatten(2, (2, 4)).transpose(1, 2)

    class CaiT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 8, 4, 4)
            self.blocks = nn.Sequential(Tokens(), Tokens())
            self.rel = Heads()
            self.head = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.blocks(self.patch(x).flatten(2).transpose(1, 2))
            return self.head(self.rel(tokens).mean((1, 2)).repeat(1, 2))

    catalog = probe_catalog(CaiT(), 32, ["patch", "blocks.0", "blocks.1", "rel"],
                            prefix_tokens=1)
    assert [(i.name, i.channels, i.height, i.width) for i in catalog.layers] == [
        ("patch", 8, 8, 8), ("blocks.0", 8, 8, 8), ("blocks.1", 8, 8, 8)]


def test_a_block_that_returns_several_maps_is_shown_by_its_branches() -> None:
    """HRNet's stages, each a module that runs its branches' blocks at several resolutions and
    returns a list of maps: the blocks of every branch are layers (the stages were missing, and
    the catalog held only the stem, the transitions and the head's modules)."""
    from torch import nn

    from generator.models.candidates import candidate_paths
    from generator.models.catalog import probe_catalog

    class Block(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.conv, self.act = nn.Conv2d(width, width, 3, padding=1), nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(x + self.conv(x))

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branches = nn.ModuleList(
                nn.Sequential(Block(w), Block(w)) for w in (4, 8))

        def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
            return [branch(x) for branch, x in zip(self.branches, xs, strict=True)]

    class HRNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU())
            self.down = nn.Conv2d(4, 8, 3, 2, 1)
            self.stage = Branches()
            self.head = nn.Linear(12, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            high, low = self.stage([x, self.down(x)])
            return self.head(torch.cat([high.mean((2, 3)), low.mean((2, 3))], 1))

    net = HRNet()
    shown = ["stem.1", *(f"stage.branches.{b}.{i}" for b in (0, 1) for i in (0, 1))]
    assert [info.name for info in probe_catalog(net, 32).layers] == shown
    # a family's own candidates (timm's stages, opened): the same
    assert [info.name for info in probe_catalog(net, 32, candidate_paths(net)).layers] == shown


def test_pictures_reach_a_network_of_fused_branches_at_a_size_it_takes(nets: Path) -> None:
    """A network whose branches meet again after striding (HRNet's fusion) takes multiples of its
    stride only: the optimizer's pictures and photos of another size reach it enlarged to the
    next multiple (an HRNet site at 48 px failed every batch: "The size of tensor a (12) must
    match the size of tensor b (16)")."""
    model = load_model(_spec(nets, "fusion"), input_size=32)
    assert model.input_multiple == 4
    assert model.preprocess(torch.rand(1, 3, 30, 30)).shape[-2:] == (32, 32)
    assert model.preprocess(torch.rand(1, 3, 28, 36)).shape[-2:] == (28, 36)
    settings = RenderSettings(size=30, steps=3, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("stem.1", 1)], settings, seeds=0)
    assert torch.isfinite(result.final).all() and result.images.shape[-1] == 30


def test_stages_of_one_block_open_like_their_siblings() -> None:
    """timm's davit_tiny has stages of 1, 1, 3 and 1 blocks: the stage of three showed its
    downsampling and its blocks, the others were one layer each. A stage of one block beside
    stages of its kind that open is opened too; stages of one block alone stay whole."""
    from torch import nn

    from generator.models.candidates import candidate_paths

    class Stage(nn.Module):
        def __init__(self, depth: int) -> None:
            super().__init__()
            self.blocks = nn.Sequential(*[
                nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()) for _ in range(depth)
            ])

    class Net(nn.Module):
        def __init__(self, depths: tuple[int, ...]) -> None:
            super().__init__()
            self.stages = nn.Sequential(*[Stage(d) for d in depths])

    paths = candidate_paths(Net((1, 3, 1)))
    assert paths == ["stages.0.blocks.0.1", *[f"stages.1.blocks.{i}.1" for i in range(3)],
                     "stages.2.blocks.0.1"], paths
    assert candidate_paths(Net((1, 1))) == ["stages.0", "stages.1"]


def test_stages_of_a_norm_a_convolution_and_blocks_open_like_the_first() -> None:
    """timm's rdnet_tiny: its first stage (its blocks alone) showed its blocks, the six after it
    (a norm, a convolution, then the blocks) were one layer each, read as a block of parts
    repeated (ConvMixer's way). A stage whose part is a Sequential of blocks opens as the first."""
    from torch import nn

    from generator.models.candidates import candidate_paths

    def dense() -> nn.Sequential:
        return nn.Sequential(*[nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
                               for _ in range(2)])

    net = nn.Module()
    net.stages = nn.Sequential(nn.Sequential(dense()), *[
        nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), dense()) for _ in range(2)])
    assert candidate_paths(net) == [
        f"stages.{s}.{p}.{b}.1" for s, p in ((0, 0), (1, 2), (2, 2)) for b in (0, 1)
    ], candidate_paths(net)
