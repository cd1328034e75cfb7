"""Every kind of network, end to end: for each architecture of the matrix a small site builds
with photos (every figure type once, the explorer's layer and channel pages with photos, a circuit
and accentuations), the serve preview renders it from the cache, and the flagship article binds
to it unchanged; one network of each kind (`WITHOUT_PHOTOS_TOO`) builds without photos first.
Random weights, 32 px images, 2 steps, one channel.

The networks: the embedded Lite0; torchvision's resnet18, googlenet, mobilenet_v3_large,
convnext_tiny and vit_b_16 (at 32 px, from a checkpoint whose head is not zero); timm's resnet50,
convnext_tiny, efficientnet_b0 and vit_tiny_patch16_224 (at its fixed 224 px, the preset's images
resized to it); a plain `nn.Sequential` CNN and a residual network of the user's own, from
`python:` files, with and without a classes file; and an MNIST-style network of grey input (one
channel, 28 px only, one mean and one std), whose every picture in the site is grey.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import generator.models.site as site_models
from generator.build import build_site
from generator.check import check_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.figures.registry import bind_articles, read_articles
from generator.models import BANDS, load_model
from generator.models.base import LoadedModel

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"
TINY = Preset("tiny", size=32, steps=2, explorer_channels=1, figure_scale=0.5)
PHOTOS = 12

SEQUENTIAL = '''\
from torch import nn


def build():
    """A plain stack: six 3x3 convolutions with ReLU, pooling after every second."""
    layers, width = [], 3
    for i, out in enumerate((16, 16, 32, 32, 64, 64)):
        layers += [nn.Conv2d(width, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        if i % 2:
            layers.append(nn.MaxPool2d(2))
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))
'''

GREY = '''\
from torch import nn


class MnistNet(nn.Module):
    """An MNIST-style network: grey 28 px pictures, three convolution blocks, two linear
    layers."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 12, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(12, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(),
                                  nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.block3(self.block2(self.block1(x))))


def build():
    return MnistNet()
'''

# name -> (model id, input_size or None for the family's own)
MATRIX = {
    "lite0": ("efficientnet_lite0", 64),
    "tv-resnet18": ("torchvision:resnet18", 64),
    "tv-googlenet": ("torchvision:googlenet", 64),
    "tv-mobilenet_v3_large": ("torchvision:mobilenet_v3_large", 64),
    "tv-convnext_tiny": ("torchvision:convnext_tiny", 64),
    "tv-vit_b_16": ("torchvision:vit_b_16", 32),  # 2x2 patches: the cheapest grid
    "timm-resnet50": ("timm:resnet50", 64),
    "timm-convnext_tiny": ("timm:convnext_tiny", 64),
    "timm-efficientnet_b0": ("timm:efficientnet_b0", 64),
    "timm-vit_tiny": ("timm:vit_tiny_patch16_224", None),
    "sequential": ("python:seqcnn.py:build", 64),
    "residual": ("python:tiny_cnn.py:build", 64),
    "grey": ("python:mnist.py:build", 28),
}

# The cells that build without photos first: one of each kind (the embedded model, a torchvision
# CNN, a timm CNN, a transformer at its fixed size, the user's own networks, grey input). What a
# site without photos draws (placeholders, channels chosen without measurements) is the same code
# for every network; the other cells' second build, 10 to 60 s each, would only repeat it.
WITHOUT_PHOTOS_TOO = {
    "lite0", "tv-resnet18", "timm-efficientnet_b0", "timm-vit_tiny", "sequential", "residual",
    "grey",
}

# Every figure type once, at its smallest, on band references.
ARTICLE = """\
---
title: Matrix
---

```figure
type: layer-gallery
layers: ["edges[-1]", "textures[1]", "objects[-1]"]
channels: 1
```

```figure
type: optimization-progress
layer: "patterns[0]"
snapshots: 2
```

```figure
type: objectives
layer: "objects[0]"
```

```figure
type: negative
layer: "parts[0]"
channels: 1
```

```figure
type: dataset-examples
layer: "parts[0]"
channels: 1
examples: 2
```

```figure
type: diversity
layer: "parts[0]"
channels: 1
images: 2
```

```figure
type: interpolation-grid
layer: "parts[0]"
pairs: 1
frames: 3
```

```figure
type: directions
layer: "parts[0]"
channels: 2
random: 1
```

```figure
type: regularization
layer: "parts[0]"
strengths: {l1: [2], tv: [10], blur: [300], jitter: [2], robust: [1]}
```

```figure
type: preconditioning
layer: "parts[0]"
snapshots: 2
```

```figure
type: channel
layer: "parts[0]"
```

```figure
type: circuit
layer: "parts[0]"
inputs: 2
```
"""


def _random_unless_given(
    spec: str, *, weights: object = None, random_weights: bool = False, **options: Any
) -> LoadedModel:
    return load_model(spec, weights=weights, random_weights=random_weights or weights is None,
                      **options)


@pytest.fixture(autouse=True)
def _random_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sites load their models with seeded random weights (no download), unless site.toml names
    a checkpoint."""
    monkeypatch.setattr(site_models, "load_model", _random_unless_given)


@pytest.fixture(scope="module")
def vit_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of torchvision's vit_b_16 at 64 px: seeded random weights and a head drawn
    from a seeded normal. torchvision initializes the head to zero, so its random weights alone
    give every image the same output (nothing for photos, classes or circuits to tell apart)."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torchvision.models.vit_b_16(weights=None, image_size=MATRIX["tv-vit_b_16"][1])
    head = net.heads.head
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.02)
        head.bias.copy_(torch.randn(head.bias.shape, generator=gen) * 0.02)
    path = tmp_path_factory.mktemp("vit") / "vit_b_16-64px.pth"
    torch.save(net.state_dict(), path)
    return path


def cell(request: pytest.FixtureRequest, root: Path, name: str) -> Path:
    """`make_site` for a cell of the matrix, with the checkpoint it needs (vit_b_16's)."""
    weights = request.getfixturevalue("vit_weights") if name == "tv-vit_b_16" else None
    return make_site(root, name, weights=weights)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dozen photos of the ImageNet sample, or drawn ones where the sample is absent."""
    folder = tmp_path_factory.mktemp("photos")
    if SAMPLE.is_dir():
        for path in sorted(p for p in SAMPLE.iterdir() if p.is_file())[:PHOTOS]:
            shutil.copyfile(path, folder / path.name)
        return folder
    from PIL import Image, ImageDraw

    for i in range(PHOTOS):
        image = Image.new("RGB", (96, 80), (20 * i, 120, 255 - 20 * i))
        draw = ImageDraw.Draw(image)
        for k in range(0, 96, 5 + i):
            draw.line([(k, 0), (k + 7 * (i % 4), 79)], fill=(255, 250 - 20 * i, 0), width=2)
        draw.ellipse([8 + 4 * i, 12, 40 + 4 * i, 44], fill=(200, 20 * i, 90))
        image.save(folder / f"photo{i:02d}.png")
    return folder


def make_site(
    root: Path, name: str, article: str = ARTICLE, *, classes: bool = True,
    weights: Path | None = None,
) -> Path:
    spec, size = MATRIX[name]
    (root / "content").mkdir(parents=True)
    (root / "content" / "matrix.md").write_text(article, encoding="utf-8")
    if name == "sequential":
        (root / "seqcnn.py").write_text(SEQUENTIAL, encoding="utf-8")
    if name == "residual":
        shutil.copyfile(REPO / "examples" / "own-model" / "tiny_cnn.py", root / "tiny_cnn.py")
    if name == "grey":
        (root / "mnist.py").write_text(GREY, encoding="utf-8")
    python = classes and spec.startswith("python:")
    if python:  # a user's network names its classes (one a line, one per logit)
        names = "\n".join(f"class {i}" for i in range(10))
        (root / "classes.txt").write_text(names + "\n", encoding="utf-8")
    lines = [
        'classes = "classes.txt"' if python else "",
        f'model = "{spec}"',
        f'weights = "{weights}"' if weights else "",
        f"input_size = {size}" if size else "",
        "mean = [0.1307]\nstd = 0.3081" if name == "grey" else "",
        'explorer_layers = ["parts[0]"]',
        'device = "cpu"',
        "workers = 1",
    ]
    (root / "site.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _manifest(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _layer_page_numbers(out: Path, manifest: dict) -> tuple[int, int]:  # type: ignore[type-arg]
    channel = manifest["channels"][0]
    folder = (out / channel["page"]).parent
    layer_page = folder.parent / f"{folder.name}.html"
    text = " ".join(layer_page.read_text(encoding="utf-8").split())
    found = re.search(r"Layer (\d+) of (\d+):", text)
    assert found, layer_page
    return int(found.group(1)), int(found.group(2))


def _all_grey(out: Path) -> None:
    """Every picture of the site (visualizations, photos, accentuations, filters) has R = G = B,
    and the photos among them came from colour photos."""
    import numpy as np
    from PIL import Image

    pictures = sorted(p for p in (out / "images").rglob("*") if p.suffix in (".png", ".jpg"))
    kinds = {p.parent.name for p in pictures}
    assert {"dataset", "accent"} <= kinds and len(pictures) > 20, kinds
    for path in pictures:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB")).astype(int)
        assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all(), path


def _builds_without_photos(root: Path, out: Path) -> None:
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    assert check_site(out) == []
    manifest = _manifest(out)
    assert manifest["channels"], "the explorer shows a channel of parts[0]"
    position, count = _layer_page_numbers(out, manifest)
    assert 1 <= position <= count
    article = (out / "matrix.html").read_text(encoding="utf-8")
    card = article[article.index('class="fv-figure fv-channel'):]
    card = card[: card.index("</figure>")]
    assert "No top photos" in card  # the card says what it cannot show
    assert ">1 step<" in article and "1 steps" not in article  # the preconditioning's first column


@pytest.mark.parametrize("name", list(MATRIX))
def test_a_site_builds_with_photos(
    name: str, tmp_path: Path, photos: Path, request: pytest.FixtureRequest
) -> None:
    root = cell(request, tmp_path / "site", name)
    out = root / "site_output"
    if name in WITHOUT_PHOTOS_TOO:
        _builds_without_photos(root, out)

    with (root / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'dataset = "{photos}"\n')
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    assert check_site(out) == []
    manifest = _manifest(out)
    entry = manifest["channels"][0]
    circuit, block = entry["circuit"], entry["circuit"]["block_inputs"]
    measured = [link["weight"] for link in (block or {}).get("positive", []) + circuit["positive"]]
    assert measured and all(w == w for w in measured), circuit  # measured, and no NaN
    page = (out / entry["page"]).read_text(encoding="utf-8")
    assert "Accentuated photos" in page and "Activation over the photos" in page
    article = (out / "matrix.html").read_text(encoding="utf-8")
    assert article.count("<figure") >= 12 and "fv-placeholder" not in article
    assert "No top photos" not in article
    if name == "tv-googlenet":  # an Inception block: its branches' ReLUs, each at its own branch
        assert "the branch that makes this channel" in page and "No negative" not in page
        label = r"negative \(before the ReLU, channel \d+ of inception\w+\.branch\d"
        assert re.search(label, article)
    if name == "grey":  # what the pages show is what the network saw
        assert manifest["models"][0]["input_channels"] == 1
        _all_grey(out)
        # and what they say of how its pictures were made: one grey channel, no colour basis
        layer_page = (out / f"{Path(entry['page']).parent}.html").read_text(encoding="utf-8")
        assert "in one grey channel" in layer_page and "decorrelated colour" not in layer_page
        assert "Fourier, one grey channel" in article
        assert "Fourier, decorrelated colour" not in article
        # a figure's channel has a page without the negative: the page speaks of none
        pages = [c.read_text(encoding="utf-8") for c in (out / "explorer").glob("*/*/*.html")]
        bare = [c for c in pages if "<h3>Negative</h3>" not in c]
        assert bare and not [c for c in bare if "The negative is minimized" in c]
        bars = re.findall(r"<title>(\d+ photos?)</title>", "".join(pages))
        assert "1 photo" in bars and "1 photos" not in bars  # the distribution's bars, counted

    from generator.serve.preview import Preview

    config = load_config(root / "site.toml")
    preview = Preview(argparse.Namespace(), read_config=lambda: config,
                      read_preset=lambda _c, _d: TINY, say=lambda _m: None, compute=False)
    try:
        assert preview.refresh(reason="test")
        assert (preview.current / "matrix.html").is_file()
        assert (preview.current / entry["page"]).is_file()
        assert not preview.missing
    finally:
        preview.close()


@pytest.mark.parametrize("name", list(MATRIX))
def test_the_flagship_binds_unchanged(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every band reference of the shipped flagship article resolves for every network."""
    root = cell(request, tmp_path / "site", name)
    shutil.rmtree(root / "content")
    shutil.copytree(REPO / "content", root / "content")
    config = load_config(root / "site.toml")
    (model,) = site_models.load_site_models(config, "cpu")
    assert {layer.band for layer in model.layers} == set(BANDS)
    (article,) = [a for a in read_articles(config) if a.page.slug == "feature-visualization"]
    bind_articles([article], model)
    names = set(model.layer_names)
    for figure in article.figures:
        chosen = figure.options.get("layers") or (figure.options.get("layer"),)
        assert set(chosen) <= names, (figure.id, chosen)


@pytest.mark.parametrize(
    ("name", "classes"),
    [("sequential", True), ("sequential", False), ("residual", False), ("grey", True)],
)
def test_the_flagship_builds_with_photos_for_a_users_cnn(
    name: str, classes: bool, tmp_path: Path, photos: Path
) -> None:
    """The whole flagship article, photos included, for a user's `nn.Sequential` of six
    convolutions, a residual network of their own and an MNIST-style network of grey input: a
    catalog of only a few blocks still fills the five bands, without a classes file the class
    figures name the head's logits, and a grey network's pictures are all grey."""
    root = make_site(tmp_path / "site", name, classes=classes)
    shutil.rmtree(root / "content")
    shutil.copytree(REPO / "content", root / "content")
    with (root / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'dataset = "{photos}"\n')
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    out = root / "site_output"
    assert check_site(out) == []
    html = (out / "feature-visualization.html").read_text(encoding="utf-8")
    assert "fv-placeholder" not in html and "{{" not in html
    if not classes:  # 10 logits of an untrained network, no names: its outputs, by number
        assert re.search(r"which here is <em>output \d</em>", html), "the output, by index"
        assert "10 categories" in html
        example = re.search(r"shown by number \(&ldquo;output (\d+)&rdquo;\)", html)
        assert example and int(example.group(1)) < 10, "the note's example is an output it has"
    if name == "grey":
        assert "It sees grey pictures" in html  # the article says why its pictures are grey
        assert "no colour to decorrelate, so the last two rows are one optimization" in html
        _all_grey(out)
