"""Transformers as timm and people write them: blocks that return their tokens with the grid's size
(MViTv2's `(tokens, [height, width])`), register tokens before the patch grid, and the patch
embedding, the layer that sees the pixels. Small networks of the architectures' own shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.atlas.circuits.attribution import attribution_matrix, input_attribution_matrix
from generator.atlas.circuits.inputs import block_probe
from generator.models import BANDS, capture, load_model
from generator.models.hooks import TokenGrid, tensor_of, with_tensor
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.transforms import TransformSpec

SIZED = '''\
import torch
from torch import nn


class Embed(nn.Module):
    """A patch embedding that returns its tokens and the grid's size."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 4, 4)

    def forward(self, x):
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), [x.shape[2], x.shape[3]]


class Block(nn.Module):
    """A block of tokens that pools them by `stride` first, returning the tokens and their grid."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.stride = stride
        self.skip = nn.Linear(cin, cout)
        self.mlp = nn.Sequential(nn.Linear(cin, cout), nn.GELU(), nn.Linear(cout, cout))

    def forward(self, x, size):
        h, w = size
        if self.stride > 1:
            maps = x.transpose(1, 2).unflatten(2, (h, w))[:, :, :: self.stride, :: self.stride]
            h, w = maps.shape[2:]
            x = maps.flatten(2).transpose(1, 2)
        return self.skip(x) + self.mlp(x), (h, w)


class Stage(nn.Module):
    def __init__(self, cin, cout, depth):
        super().__init__()
        self.blocks = nn.ModuleList(
            [Block(cin, cout, 1 if cin == cout else 2)] + [Block(cout, cout) for _ in range(depth - 1)]
        )

    def forward(self, x, size):
        for block in self.blocks:
            x, size = block(x, size)
        return x, size


class MViT(nn.Module):
    """MViTv2's shape: every block, stage and the patch embedding return (tokens, size)."""

    def __init__(self):
        super().__init__()
        self.patch_embed = Embed()
        self.stages = nn.ModuleList([Stage(8, 8, 1), Stage(8, 16, 2), Stage(16, 16, 2)])
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x, size = self.patch_embed(x)
        for stage in self.stages:
            x, size = stage(x, size)
        return self.head(x.mean(1))


def build():
    return MViT()
'''


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "sized.py"
    path.write_text(SIZED, encoding="utf-8")
    return path


def test_the_tensor_of_an_output_with_its_size() -> None:
    tokens = torch.zeros(1, 4, 2)
    assert tensor_of(tokens) is tokens and tensor_of((tokens, [2, 2])) is tokens
    assert tensor_of([tokens, tokens]) is None and tensor_of((1, 2)) is None
    leaf = torch.ones(1, 4, 2)
    assert with_tensor((tokens, [2, 2]), leaf) == (leaf, [2, 2])
    assert with_tensor([[2, 2], tokens], leaf) == [[2, 2], leaf]


def test_blocks_that_return_tokens_and_their_size_are_layers(sized: Path) -> None:
    """MViTv2's blocks, stages and patch embedding return `(tokens, [height, width])`: each is a
    layer, read through its tensor by the catalog, the optimizer, the circuits and the block
    probe alike (timm's mvitv2_tiny started at `stages.1.blocks.0.mlp`: the catalog fell back to
    the MLPs inside the blocks, and had no stem and no first stage)."""
    model = load_model(f"python:{sized}:build", random_weights=True, input_size=32)
    shown = [(i.name, i.channels, i.height) for i in model.layers]
    assert shown == [
        ("patch_embed", 8, 8), ("stages.0", 8, 8), ("stages.1.blocks.0", 16, 4),
        ("stages.1.blocks.1", 16, 4), ("stages.2.blocks.0", 16, 4), ("stages.2.blocks.1", 16, 4),
    ], shown
    assert all(isinstance(i.layout, TokenGrid) for i in model.layers)
    assert {i.band for i in model.layers} == set(BANDS)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), capture(model.net, ["stages.1.blocks.1"]) as out:
        model.net(images)
    assert tuple(out["stages.1.blocks.1"].shape) == (2, 16, 4, 4)
    matrix = attribution_matrix(model, "stages.0", "stages.2.blocks.1", images)
    assert matrix.shape == (16, 8) and torch.isfinite(matrix).all() and matrix.abs().sum() > 0
    inputs = input_attribution_matrix(model, "stages.1.blocks.1", images, targets=[0, 3])
    assert inputs.shape == (2, 16) and inputs.abs().sum() > 0
    probe = block_probe(model, "stages.1.blocks.1")
    assert probe.parts[0].layer == "stages.1.blocks.0"
    settings = RenderSettings(size=32, steps=3, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("stages.1.blocks.1", 2)], settings, seeds=0)
    assert (result.history[-1] > result.history[0]).all(), result.history

