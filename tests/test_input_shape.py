"""A network that takes one non-square size (site.toml's `input_size = [H, W]`): the schema reads
the pair (one number stays a square), the load probes at H x W, every picture is stretched to
H x W inside `preprocess`, the description says so, and a site builds with photos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from samples import sample_photos

from generator.build import build_site
from generator.check import check_site
from generator.config.presets import Preset
from generator.config.schema import parse_flag
from generator.config.site import SITE_OPTIONS, load_config
from generator.core.errors import FeatvisError
from generator.dataset.fields import measure_receptive_fields
from generator.models import load_model
from generator.models.site import load_spec
from generator.optvis.render import truncated_forward

TINY = Preset("tiny", size=32, steps=2, explorer_channels=1, figure_scale=0.5)

# A pedestrian-crop network of 16 x 32 px (height x width): its flatten + linear head takes
# that one size only.
CROPS = '''\
from torch import nn


def build():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 8, 4),
    )
'''

ARTICLE = """\
---
title: Crops
---

{{ model.description }} Its grid shrinks from {{ model.input_size }} pixels to
{{ model.grid_shape }}.

```figure
type: layer-gallery
layers: [edges, objects]
channels: 1
```

```figure
type: dataset-examples
layer: objects
channels: 1
examples: 2
```
"""


def _site(root: Path, *lines: str, model: str = 'model = "python:crops.py:build"') -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "crops.py").write_text(CROPS, encoding="utf-8")
    toml = root / "site.toml"
    toml.write_text("\n".join([model, *lines]) + "\n", encoding="utf-8")
    return toml


def _row(size: str) -> str:
    return f'models = [{{model = "python:crops.py:build", input_size = {size}}}]'


def test_the_schema_reads_a_height_and_a_width(tmp_path: Path) -> None:
    assert load_config(_site(tmp_path / "a", "input_size = [16, 32]")).input_size == (16, 32)
    assert load_config(_site(tmp_path / "b", "input_size = 40")).input_size == 40
    assert parse_flag("--input-size", SITE_OPTIONS["input_size"], "16x32") == (16, 32)
    with pytest.raises(FeatvisError, match=r"^--input-size must be .*\[H, W\] or \"HxW\""):
        parse_flag("--input-size", SITE_OPTIONS["input_size"], "8x32")
    rows = load_config(_site(tmp_path / "c", model=_row("[40, 120]")))
    assert rows.model_specs[0].input_size == (40, 120)
    toml = _site(tmp_path / "d", model=_row("[40, 0]"))
    with pytest.raises(FeatvisError, match=r"site.toml:1: models: 'input_size' must be .*\[H, W\]"):
        load_config(toml)


@pytest.mark.parametrize("value", ["[0, 5]", "[1, 2, 3]", '"a"', "[16]"])
def test_a_bad_size_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    toml = _site(tmp_path, 'device = "cpu"', f"input_size = {value}")
    with pytest.raises(FeatvisError) as caught:
        load_config(toml)
    message = str(caught.value)
    assert message.startswith(f"{toml}:3: 'input_size' must be a whole number 16..4096")
    assert "[H, W]" in message and "\n" not in message


def test_a_flatten_head_at_16_by_32_loads_and_stretches_every_picture(tmp_path: Path) -> None:
    (tmp_path / "crops.py").write_text(CROPS, encoding="utf-8")
    model = load_model("python:crops.py:build", random_weights=True, input_size=(16, 32),
                       root=tmp_path)
    assert model.fixed_input and model.input_shape == (16, 32) and model.input_size == 32
    assert [(info.height, info.width) for info in model.layers] == [(16, 32), (8, 16)]
    assert model.preprocess(torch.rand(2, 3, 32, 32)).shape == (2, 3, 16, 32)
    assert model.preprocess(torch.rand(1, 3, 96, 80)).shape == (1, 3, 16, 32)
    assert model.resized(torch.rand(1, 3, 64, 64)).shape == (1, 3, 16, 32)
    with truncated_forward(model, ["4"], full=True) as (acts, run):  # the optimizer's pass
        logits = run(torch.rand(2, 3, 32, 32))
        assert logits is not None and logits.shape == (2, 4) and acts["4"].shape[-2:] == (8, 16)
    assert model.description.endswith(
        "It takes 16 x 32 px (height x width) input only, so every picture here, square as they "
        "all are, is stretched to 16 x 32 px (height x width) on its way in (inside the "
        "optimization, where gradients pass)."
    )
    with pytest.raises(FeatvisError, match=r"at 32 px failed.*set input_size .*\[H, W\]"):
        load_model("python:crops.py:build", random_weights=True, input_size=32, root=tmp_path)


def test_receptive_fields_follow_the_stretch_across(tmp_path: Path) -> None:
    """A unit of the 8 x 16 map looks at its place in the 32 px square picture: 4 px apart down,
    2 px apart across (the picture squeezed to 16 x 32 on its way in)."""
    (tmp_path / "crops.py").write_text(CROPS, encoding="utf-8")
    model = load_model("python:crops.py:build", random_weights=True, input_size=(16, 32),
                       root=tmp_path)
    field = measure_receptive_fields(model, ["4"])["4"]
    (top, left), (bottom, right) = field.centre(0, 0), field.centre(7, 15)
    assert -3 < top < 5 and 27 < bottom < 35, (top, bottom)
    assert -3 < left < 5 and 27 < right < 35, (left, right)


def test_a_size_the_head_does_not_take_names_the_input_size_line(tmp_path: Path) -> None:
    toml = _site(tmp_path, "random_weights = true", "input_size = [16, 48]")
    config = load_config(toml)
    with pytest.raises(FeatvisError) as caught:
        load_spec(config, config.model_specs[0], "cpu")
    assert str(caught.value).startswith(f"{toml}:3: model 'python:crops.py:build': a forward "
                                        "pass at 16 x 48 px (height x width) failed")


def test_a_site_of_the_network_builds_with_photos(tmp_path: Path, sample_dir: Path) -> None:
    photos = sample_photos(tmp_path / "photos", count=4)
    toml = _site(tmp_path / "site", "random_weights = true", "input_size = [16, 32]",
                 f'dataset = "{photos}"', 'device = "cpu"', "workers = 1")
    (toml.parent / "content").mkdir()
    (toml.parent / "content" / "crops.md").write_text(ARTICLE, encoding="utf-8")
    build_site(load_config(toml), preset=TINY, quiet=True)
    out = toml.parent / "site_output"
    assert check_site(out) == []
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["channels"] and (out / manifest["channels"][0]["page"]).is_file()
    assert manifest["models"][0]["input_shape"] == [16, 32]
    article = " ".join((out / "crops.html").read_text(encoding="utf-8").split())
    assert "is stretched to 16 x 32 px" in article and "fv-placeholder" not in article
    assert re.search(r"Its grid shrinks from 16 × 32 pixels to \d+ by \d+\.", article)
    assert list((out / "images").rglob("*.jpg")), "the photos of the dataset examples"


def test_a_timm_transformer_runs_at_a_height_and_a_width() -> None:
    """timm builds a ViT for [32, 48]: 2 x 3 patches, laid out as the picture is; torchvision's
    ViT, whose image_size is one number, is refused in one line that says what to set."""
    model = load_model("timm:deit_tiny_patch16_224", random_weights=True, input_size=(32, 48))
    assert model.fixed_input and model.input_shape == (32, 48)
    assert [(i.height, i.width) for i in model.layers] == [(2, 3)] * 13  # patch_embed.proj too
    with truncated_forward(model, ["blocks.5"], full=True) as (acts, run):
        assert run(torch.rand(2, 3, 48, 48)).shape == (2, 1000)
        assert acts["blocks.5"].shape == (2, 192, 2, 3)
    with pytest.raises(FeatvisError) as caught:
        load_model("torchvision:vit_b_16", random_weights=True, input_size=(32, 48))
    assert str(caught.value) == (
        "model 'torchvision:vit_b_16' takes square pictures only (its image_size is one number), "
        "not 32 x 48 px (height x width): set input_size to one number, such as 48")
