"""A channel whose optimization never leaves a ReLU's 0 (at 0 on the starting image too, so no
gradient reaches the image) has a grey picture that shows nothing of it: its channel page, its
layer page and a figure say so, a channel the optimizer moved says nothing of the kind, and the
strips that stand for a layer show the pictures that moved first."""

from __future__ import annotations

import re
from pathlib import Path

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config

NET = """\
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 3, 2, 1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():  # channel 0 at 0 unless red far exceeds green; 1 above 0 everywhere
        net[0].weight[0] = torch.tensor([20.0, -20.0, 0.0]).view(3, 1, 1)
        net[0].bias[0] = -15.0
        net[0].weight[1] = torch.tensor([1.0, 1.0, 1.0]).view(3, 1, 1)
        net[0].bias[1] = 5.0
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


def _text(path: Path) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")).split())


def test_a_picture_left_at_zero_says_it_shows_nothing(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "both.md").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "stuck.py").write_text(NET, encoding="utf-8")
    (tmp_path / "site.toml").write_text(
        'model = "python:stuck.py:build"\ninput_size = 32\ndevice = "cpu"\n', encoding="utf-8")
    build_site(load_config(tmp_path / "site.toml"), quiet=True, preset=Preset(
        "tiny", size=32, steps=8, explorer_channels=2, figure_scale=1.0, diversity=False))
    layer = tmp_path / "site_output" / "explorer" / "stuck" / "1"
    stuck, moved = _text(layer / "0.html"), _text(layer / "1.html")
    assert "obj 0 " in stuck and "This picture shows nothing of the channel" in stuck, stuck
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
