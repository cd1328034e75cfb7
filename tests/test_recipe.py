"""The optimizer recipe: schedules, coarse-to-fine, MACO, early stop, the captured-step fallback
and the valid ranges of the options a site may set."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from test_optvis import OBJECTIVES

from generator.core.errors import FeatvisError
from generator.metrics import clipped_fraction
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as O
from generator.optvis.param import ImageParam, ParamSpec, fourier_scale, rfft2d_freqs
from generator.optvis.recipe import (
    LEGACY_DECAY,
    LEGACY_LR,
    RANGES,
    Recipe,
    check_option,
    check_options,
)
from generator.optvis.spectrum import magnitude
from generator.optvis.steps import AccelWarning

# the default recipe (NAdam: a warm-up, then the cosine decay) and the recipe before the study
# (Adam at a constant rate), short
FEW = {
    "default": RenderSettings(size=48, steps=16),
    "legacy": RenderSettings(size=48, steps=16, lr=LEGACY_LR, recipe=Recipe.legacy(),
                             param=ParamSpec(decay=LEGACY_DECAY, anchored=False)),
}


def test_the_default_is_the_studys_winner_and_the_recipe_before_it_an_option():
    assert Recipe() != Recipe.legacy()
    assert (Recipe().optimizer, Recipe().schedule) == ("nadam", "cosine")
    assert (RenderSettings().steps, RenderSettings().lr) == (128, 0.30)
    assert (RenderSettings().param.decay, RenderSettings().param.anchored) == (1.4, True)
    lrs = Recipe().lrs(40, 1.0)
    assert lrs[0] < lrs[1] == 1.0  # it warms up over 5 % of the steps (2 of 40)
    assert lrs[-1] == pytest.approx(0.1) and max(lrs) == 1.0  # then decays to a tenth


@pytest.mark.parametrize("recipe", list(FEW))
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_the_recipe_raises_every_objective_in_a_few_steps(lite0, name, recipe):
    result = render(lite0, [OBJECTIVES[name]], FEW[recipe], seeds=[3])
    first, last = result.history[:3, 0].mean(), result.history[-3:, 0].mean()
    assert last > first, f"{name}: {first:.4f} -> {last:.4f}"


def test_learning_rate_schedules():
    cos = Recipe(schedule="cosine", warmup=0.25, final_lr=0.1).lrs(8, 1.0)
    assert cos[:2] == [0.5, 1.0] and cos[2] == pytest.approx(1.0)
    assert cos[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(cos[1:], cos[2:], strict=False))
    step = Recipe(schedule="step", warmup=0.0, final_lr=0.1).lrs(9, 2.0)
    assert step == [2.0] * 6 + [pytest.approx(0.2)] * 3
    assert set(Recipe.legacy().lrs(5, 0.3)) == {0.3}


def test_coarse_phase_shrinks_the_input_and_low_passes():
    recipe = Recipe(coarse=0.5, coarse_scale=0.5)
    assert recipe.phase_at(0, 10).input_scale == 0.5 and recipe.phase_at(0, 10).lowpass == 0.25
    assert recipe.phase_at(5, 10).input_scale == 1.0 and recipe.phase_at(5, 10).lowpass is None
    param = ImageParam(ParamSpec(sd=0.5), 32, [0])
    with torch.no_grad():
        spectrum = torch.fft.rfft2(param.raw(lowpass=0.25), norm="ortho").abs()
    assert spectrum[..., rfft2d_freqs(32, 32) > 0.25].max() < 1e-4
    assert spectrum[..., rfft2d_freqs(32, 32) <= 0.25].max() > 1e-2


def test_maco_optimizes_only_the_phase():
    """The image's magnitude spectrum is the natural one whatever the phases are."""
    param = ImageParam(ParamSpec(kind="maco"), 32, [0, 1])
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        param.values.add_(torch.randn(param.values.shape, generator=gen))
        got = torch.fft.rfft2(param.raw(), norm="ortho").abs()
    want = magnitude(32)
    # columns 1..w-2 are free of the real transform's symmetry constraints; measured 2.1e-6
    # relative at most over kernel paths (benchmarks/results/tolerances.md), 48x under the bound
    assert torch.allclose(got[:, :, :, 1:-1], want[None, :, :, 1:-1].expand_as(got[:, :, :, 1:-1]),
                          rtol=1e-4, atol=1e-5)
    image = param().detach()
    assert image.shape == (2, 3, 32, 32) and 0.1 < float(image.std()) < 0.45


# three images of which some stop early: 24 steps at a constant rate, patience 3
EARLY_STOP_OBJECTIVES = [O.channel("blocks.2.1", 7), O.channel("blocks.1.1", 3), -O.l1()]
EARLY_STOP = RenderSettings(
    size=40, steps=24, lr=0.05,
    recipe=Recipe(schedule="constant", warmup=0.0, patience=3, min_gain=0.05),
)


def test_early_stopped_images_are_the_images_of_their_stopping_step(lite0):
    objectives, stop = EARLY_STOP_OBJECTIVES, EARLY_STOP
    stopped = render(lite0, objectives, stop, seeds=[0, 1, 2])
    assert stopped.stopped_at is not None
    when = stopped.stopped_at.tolist()
    assert any(k < 24 for k in when), when
    plain = dataclasses.replace(
        stop, recipe=dataclasses.replace(stop.recipe, patience=0),
        snapshot_steps=tuple(sorted(set(when))),
    )
    full = render(lite0, objectives, plain, seeds=[0, 1, 2])
    for i, k in enumerate(when):
        assert torch.equal(stopped.images[i], full.snapshots[k][i]), (i, k)
    assert full.stopped_at is not None and full.stopped_at.tolist() == [24, 24, 24]


def test_an_early_stopped_images_history_holds_whatever_its_batch_does(lite0):
    objectives, stop = EARLY_STOP_OBJECTIVES, EARLY_STOP
    result = render(lite0, objectives, stop, seeds=[0, 1, 2])
    assert result.stopped_at is not None
    when = result.stopped_at.tolist()
    assert min(when) < max(when), when  # one image stopped while another went on
    for i, k in enumerate(when):
        assert torch.equal(result.history[k:, i], result.history[k - 1, i].expand(24 - k)), (i, k)


def test_early_stop_freezes_a_group_as_a_whole(lite0):
    settings = RenderSettings(
        size=32, steps=12, param=ParamSpec(shared=True),
        recipe=Recipe(schedule="constant", warmup=0.0, patience=2, min_gain=1.0),
    )
    result = render(lite0, [O.channel("blocks.1.1", 3)] * 2 + [O.channel("blocks.2.1", 5)],
                    settings, seeds=[0, 1, 2], groups=[0, 0, 1])
    assert result.stopped_at is not None
    when = result.stopped_at.tolist()
    assert when[0] == when[1] < 12  # min_gain 1.0: every image stops at the first check
    assert result.history.shape == (12, 3)


def test_the_default_recipe_is_deterministic_on_the_cpu(lite0):
    default = FEW["default"]
    settings = dataclasses.replace(default, recipe=dataclasses.replace(default.recipe, patience=4))
    objectives = [O.channel("blocks.2.1", 7), O.neuron("blocks.1.1", 2)]
    a = render(lite0, objectives, settings, seeds=[5, 6])
    b = render(lite0, objectives, settings, seeds=[5, 6])
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    c = render(lite0, objectives, settings, seeds=[5, 7])
    assert not torch.equal(a.images[1], c.images[1])


def test_a_failing_captured_step_falls_back_to_eager_with_the_same_pictures(lite0):
    """Forced on the CPU, the CUDA-graph path runs its eager warm-up steps, fails to capture,
    warns once in one line and finishes eagerly: the pictures are the eager loop's."""
    objectives = [O.channel("blocks.2.1", 7), O.channel("blocks.1.1", 3)]
    forced = dataclasses.replace(FEW["default"], accel="graph")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = render(lite0, objectives, forced, seeds=[0, 1])
    messages = [str(w.message) for w in caught if issubclass(w.category, AccelWarning)]
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert "continuing eagerly" in messages[0]
    assert a.accel == "eager"
    b = render(lite0, objectives, dataclasses.replace(FEW["default"], accel="eager"), seeds=[0, 1])
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    assert b.accel == "eager" and render(lite0, objectives[:1], dataclasses.replace(
        FEW["default"], steps=2), seeds=[0]).accel == "eager"  # auto is eager on the CPU


def test_bf16_runs_the_network_under_autocast(lite0):
    settings = RenderSettings(size=32, steps=4, precision="bf16")
    result = render(lite0, [O.channel("blocks.2.1", 7)], settings, seeds=[0])
    assert result.history.dtype == torch.float32 and torch.isfinite(result.final).all()
    with pytest.raises(ValueError, match="precision"):
        RenderSettings(precision="fp8")


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("steps", 0, "an integer from 1 to 4096"),
        ("steps", 2.5, "an integer from 1 to 4096"),
        ("lr", 3.0, "a number from 0.0001 to 1"),
        ("lr", True, "a number from 0.0001 to 1"),
        ("schedule", "linear", "one of constant, cosine, step"),
        ("warmup", 0.8, "a number from 0 to 0.5"),
        ("optimizer", "sgd", "one of adam, nadam"),
        ("anchored", "yes", "true or false"),
        ("anchored", 0, "true or false"),
    ],
)
def test_out_of_range_recipe_options_are_one_line_errors(key, value, shown):
    with pytest.raises(FeatvisError) as err:
        check_option(key, value, where="site.toml:7")
    message = str(err.value)
    assert message.startswith(f"site.toml:7: '{key}' must be {shown}, not ")
    assert "\n" not in message


def test_valid_options_pass_and_unknown_ones_are_named():
    assert check_options({"steps": 96, "lr": 0.05, "schedule": "cosine"}) == {
        "steps": 96, "lr": 0.05, "schedule": "cosine"}
    with pytest.raises(FeatvisError, match="unknown recipe option 'lrate'.*valid: steps, lr"):
        check_option("lrate", 1)
    with pytest.raises(FeatvisError, match="'warmup' must be a number from 0 to 0.5"):
        Recipe(warmup=0.75)
    assert {"steps", "lr", "schedule"} <= set(RANGES)


@pytest.mark.parametrize("size", [32, 128, 224])
def test_the_anchored_spectrum_has_lucids_gain_at_one_cycle_per_image_at_every_size(size):
    lucid = fourier_scale(ParamSpec(decay=1.0, anchored=False), size)
    for decay in (1.0, 1.4, 2.0):
        anchored = fourier_scale(ParamSpec(decay=decay), size)
        assert float(anchored.max()) == pytest.approx(float(lucid.max()))
        assert float(anchored.max()) == pytest.approx(0.25 * size)
        assert torch.all(anchored <= lucid * (1 + 1e-5))  # steeper: never a larger step
    # lucid's 1/f^decay: the lowest frequencies' gain grows as size^decay
    steep = fourier_scale(ParamSpec(decay=1.6, anchored=False), size)
    assert float(steep.max()) == pytest.approx(0.25 * size**1.6, rel=1e-4)


def test_the_default_recipe_does_not_saturate_an_early_channel(lite0):
    # blocks.0.0's channel 5 of the trained Lite0: lucid's spectrum at decay 1.6 and a peak of
    # 0.10 clipped a tenth of its 64 px picture's values to 0 or 255
    result = render(lite0, [O.channel("blocks.0.0", 5)], RenderSettings(size=64), seeds=[0])
    assert float(clipped_fraction(result.images)[0]) < 0.01
    assert float(result.final[0]) > 5.0  # and it still drives the channel
