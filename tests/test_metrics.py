"""Quality numbers: the article's claim about parameterization, and the pattern-agreement maths."""

from __future__ import annotations

import math

import pytest
import torch

from generator.core.images import to_pil
from generator.metrics import (
    FLAT_LEVELS,
    contrast_levels,
    cosine_similarity,
    high_freq_share,
    rank_correlation,
    relative_activation,
)
from generator.optvis import ParamSpec, RenderSettings, TransformSpec, render
from generator.optvis import objectives as obj


def test_pixel_unregularized_is_noisier_than_fourier_decorrelated(lite0):
    """Distill, "Feature Visualization": optimizing pixels directly gives high-frequency noise; a
    decorrelated Fourier parameterization does not. Same objectives, steps, seeds, no transforms:
    only the parameterization differs."""
    model = lite0
    objectives = [obj.channel("blocks.3.0", c) for c in range(4)]
    common = {"size": 64, "steps": 48, "transforms": TransformSpec.none()}
    pixel = render(model, objectives, RenderSettings(
        param=ParamSpec(kind="pixel", decorrelate=False), **common), seeds=0)
    fourier = render(model, objectives, RenderSettings(param=ParamSpec(), **common), seeds=0)
    for result in (pixel, fourier):  # both optimizations did their job
        assert (result.final > result.history[0] + 1.0).all()
    noisy, smooth = high_freq_share(pixel.images), high_freq_share(fourier.images)
    assert (noisy > smooth).all(), (noisy, smooth)
    assert float(noisy.mean()) > 1.5 * float(smooth.mean())


def test_high_freq_share_separates_smooth_from_noise():
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, 64, 64, generator=gen)
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    assert float(high_freq_share(noise)) > 0.6 > 0.05 > float(high_freq_share(ramp))


def test_a_flat_image_is_told_from_a_faint_pattern():
    """A grey image with a residue of a level or two (what a strong L1 or blur penalty leaves)
    is flat, though most of its faint energy is at high frequencies; a pattern of a tenth of
    the range is not; a uniform colour is."""
    gen = torch.Generator().manual_seed(0)
    residue = 0.5 + (torch.rand(2, 3, 64, 64, generator=gen) - 0.5) * 3 / 255
    assert float(high_freq_share(residue[:1])) > 0.6
    x = torch.linspace(0, 6.28 * 4, 64)
    stripes = (0.5 + 0.05 * torch.sin(x)).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    colour = torch.tensor([0.8, 0.2, 0.4]).view(1, 3, 1, 1).expand(1, 3, 64, 64)
    spread = [contrast_levels(to_pil(image).histogram())
              for image in torch.cat([residue, stripes, colour])]
    assert spread[:2] == [3, 3] and spread[2] > 20 and spread[3] == 0
    assert max(spread[:2]) <= FLAT_LEVELS < spread[2]
    assert contrast_levels(to_pil(residue[0]).convert("L").histogram()) <= FLAT_LEVELS


def test_relative_activation():
    assert relative_activation(8.2, 2.0) == pytest.approx(4.1)
    assert relative_activation(-1.0, 2.0) == pytest.approx(-0.5)
    assert relative_activation(3.0, 0.0) is None
    assert relative_activation(3.0, -1.0) is None
    assert relative_activation(math.nan, 1.0) is None


def test_cosine_similarity():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert cosine_similarity(a, 2 * a) == pytest.approx(1.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 5.0])
    assert cosine_similarity(e1, e2) == pytest.approx(0.0)
    assert cosine_similarity(a, torch.zeros(3)) == 0.0


def test_rank_correlation_matches_spearman_formula():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    n = a.numel()
    d = (a.argsort().argsort() - b.argsort().argsort()).double()
    expected = 1 - 6 * float((d**2).sum()) / (n * (n**2 - 1))  # no ties: the textbook formula
    assert rank_correlation(a, b) == pytest.approx(expected, abs=1e-9)
    assert rank_correlation(a, a.exp()) == pytest.approx(1.0)  # monotone: ranks are equal
    assert rank_correlation(a, -a) == pytest.approx(-1.0)


def test_rank_correlation_averages_ties():
    # ranks of x: 0, 1.5, 1.5, 3 ; of y: 0, 1, 2, 3 -> Pearson of ranks
    x = torch.tensor([1.0, 2.0, 2.0, 3.0])
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    rx = torch.tensor([0.0, 1.5, 1.5, 3.0]) - 1.5
    ry = torch.tensor([0.0, 1.0, 2.0, 3.0]) - 1.5
    assert rank_correlation(x, y) == pytest.approx(float(rx @ ry / (rx.norm() * ry.norm())))
    assert rank_correlation(torch.ones(5), y.repeat(2)[:5]) == 0.0
