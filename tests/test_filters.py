"""Filters of layers that are affine in the pixels, measured from input gradients."""

from __future__ import annotations

import torch

from generator.core.images import filter_image
from generator.measure.filters import linear_filters
from generator.models import load_model


def test_the_stem_is_affine_and_its_filters_are_its_weights(lite0):  # type: ignore[no-untyped-def]
    filters = linear_filters(lite0, "conv_stem")
    assert filters is not None and filters.shape == (32, 3, 3, 3)
    # conv_stem is hooked after its batch norm (folded into the convolution in `lite0`, kept
    # apart here); the model's input is (x - 0.5) / 0.5
    net = load_model(lite0.id, fold_norms=False).net
    bn_scale = net.bn1.weight / torch.sqrt(net.bn1.running_var + net.bn1.eps)
    expected = net.conv_stem.weight * bn_scale[:, None, None, None] * 2
    # measured over kernel paths and thread counts: 3.8e-6 at most (benchmarks/results/
    # tolerances.md), 26x under the bound
    torch.testing.assert_close(filters, expected.detach(), atol=1e-4, rtol=1e-4)


def test_layers_past_a_nonlinearity_have_no_filter(lite0):  # type: ignore[no-untyped-def]
    assert linear_filters(lite0, "blocks.0.0") is None
    assert linear_filters(lite0, "blocks.3.0") is None


def test_filter_image_maps_zero_to_grey_and_signs_to_light_and_dark():
    w = torch.zeros(3, 3, 3)
    w[0, 0, 0], w[2, 2, 2] = 2.0, -2.0
    image = filter_image(w, 2.0, size=3)
    assert image.size == (3, 3)
    assert image.getpixel((0, 0)) == (255, 128, 128)
    assert image.getpixel((2, 2)) == (128, 128, 0)
    assert image.getpixel((1, 1)) == (128, 128, 128)


FLOORED_AT_THE_CENTRE = '''\
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):  # a convolution floored by F.relu in forward: no ReLU module to see
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, 1, 1)
        with torch.no_grad():
            self.conv.bias[:2] = -1e4  # channels 0 and 1 at 0 on every image: no gradient

    def forward(self, x):
        return F.relu(self.conv(x))


def build():
    torch.manual_seed(0)
    return nn.Sequential(Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))
'''


def test_a_layer_floored_at_its_first_channels_is_not_affine(tmp_path):  # type: ignore[no-untyped-def]
    """A ReLU layer whose first channels are 0 on the probing images gives them no gradient,
    the same (zero) on every image: that does not make the layer affine in the pixels."""
    (tmp_path / "floored.py").write_text(FLOORED_AT_THE_CENTRE, encoding="utf-8")
    model = load_model(f"python:{tmp_path / 'floored.py'}:build", layers=["0"], input_size=16)
    assert linear_filters(model, "0") is None
