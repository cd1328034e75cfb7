"""Properties of the optimizer: objectives rise, batching is faithful, runs are reproducible,
truncation is exact and hooks never leak."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from generator.core.errors import FeatvisError
from generator.optvis import ParamSpec, RenderSettings, TransformSpec, render
from generator.optvis import objectives as O
from generator.optvis.evaluate import CompiledObjectives
from generator.optvis.objectives import Objective
from generator.optvis.param import ImageParam
from generator.optvis.recipe import DEFAULT_LR, LEGACY_DECAY, Recipe
from generator.optvis.render import truncated_forward
from generator.optvis.transforms import RandomTransform, affine_grid

SMALL = RenderSettings(size=48, steps=12, lr=0.05)


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) for m in model.net.modules())


OBJECTIVES = {
    "channel": O.channel("blocks.2.1", 7),
    "neuron": O.neuron("blocks.2.1", 7),
    "layer": O.deepdream("blocks.1.1"),
    "direction": O.direction("blocks.2.0", [1.0 if i % 3 == 0 else -0.5 for i in range(40)]),
    "class_logit": O.class_logit(1),
    "class_prob": O.class_prob(1),
    "negative": -O.channel("blocks.2.1", 7),
    "weighted_sum": O.channel("blocks.2.1", 7) + 0.5 * O.channel("blocks.1.1", 3),
    "regularized": O.channel("blocks.2.1", 7) - 2.0 * O.l1() - 1.0 * O.total_variation() - O.blur(),
}


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_every_objective_rises(lite0, name):
    result = render(lite0, [OBJECTIVES[name]], SMALL, seeds=[1])
    first, last = result.history[:3, 0].mean(), result.history[-3:, 0].mean()
    assert last > first, f"{name}: {first:.4f} -> {last:.4f}"


def test_penalties_and_group_terms_rise(lite0):
    """Diversity and alignment act within a group; each term alone must improve."""
    for term in (
        O.diversity("blocks.2.1"),
        O.alignment("blocks.2.1"),
        -O.l1(),
        -O.total_variation(),
        -O.blur(),
    ):
        settings = RenderSettings(size=40, steps=10, param=ParamSpec(sd=0.5))
        result = render(lite0, [term] * 3, settings, seeds=[0, 1, 2], groups=[0, 0, 0])
        total = result.history.sum(dim=1)
        assert total[-3:].mean() > total[:3].mean(), term.describe()


# The recipe before the study, at SMALL's size and steps.
SMALL_LEGACY = dataclasses.replace(
    SMALL, recipe=Recipe.legacy(), param=ParamSpec(decay=LEGACY_DECAY, anchored=False)
)


def stored(images: torch.Tensor) -> torch.Tensor:
    """[0,1] pictures as the site stores them: 8-bit levels."""
    return (images * 255).round()


# Bounds: the mean and the largest difference in 8-bit levels, and the objective's relative
# difference at every step. Measured by benchmarks/bench_tolerances.py (results/tolerances.md)
# over 2 seed sets, 1 and 2 threads, oneDNN capped at SSE4.1/AVX2/AVX-512 and ATen's default/AVX2/
# AVX-512 kernels on an AMD EPYC: at this test's seeds at most 2.0 levels mean, 12 at most, the
# objective 0.42 % (an Intel Xeon: 0.51 levels mean, recipe-before); over all seeds, one image
# of the recipe before the study drifted to 6.7 levels mean, 47 at most, the objective 3.8 %
# (SSE4.1), the default recipe at most 2.4 levels, 15, 1.8 %. The bounds stand 1.8-2.6x above
# the worst of all, 6x above this test's own, for processors not measured; a wrong pairing
# (another seed, no transforms) is 27-60 levels mean away, its objective 28-34 %.
# The default recipe at its own peak rate: at SMALL's 0.05 the anchored spectrum's 12-step pictures
# are still low in contrast (a wrong seed 7.5 levels away), at 0.30 a wrong pairing is 28 away.
SMALL_DEFAULT = dataclasses.replace(SMALL, lr=DEFAULT_LR)


@pytest.mark.parametrize(
    "settings", [SMALL_LEGACY, SMALL_DEFAULT], ids=["recipe-before", "default-recipe"]
)
def test_batched_image_matches_the_same_objective_alone(lite0, settings):
    """Image i of a batch vs the same objective and seed alone, as a reader sees them.

    Every image has its own parameters, its own seeded init and transform draws, and no batch
    statistics (eval mode), so only the float rounding of batched kernels differs, and it differs
    per processor and kernel path. Adam's early steps are nearly sign(gradient), so an element
    whose gradient is ~0 can step either way and a few pixels drift: the raw floats are no
    measure, the stored picture and the objective are, and a wrong pairing must land 2x the
    bound away.
    """
    mean, most, history = 12.0, 96, 0.1
    objectives = [O.channel("blocks.2.1", 7), O.neuron("blocks.3.0", 5), O.deepdream("blocks.1.1")]
    batched = render(lite0, objectives, settings, seeds=[10, 11, 12])
    for i, objective in enumerate(objectives):
        alone = render(lite0, [objective], settings, seeds=[10 + i])
        levels = (stored(batched.images[i]) - stored(alone.images[0])).abs()
        assert levels.mean() < mean and levels.max() <= most, (i, levels.mean(), levels.max())
        assert torch.allclose(batched.history[:, i], alone.history[:, 0], rtol=history, atol=1e-3)
    other_seed = render(lite0, [objectives[0]], settings, seeds=[11])
    still = dataclasses.replace(settings, transforms=TransformSpec.none())
    no_transforms = render(lite0, [objectives[0]], still, seeds=[10])
    for wrong in (other_seed, no_transforms):
        levels = (stored(batched.images[0]) - stored(wrong.images[0])).abs()
        assert levels.mean() > 2 * mean, levels.mean()
    assert not torch.allclose(batched.history[:, 0], other_seed.history[:, 0], rtol=history,
                              atol=1e-3)


def test_same_seed_same_bytes_on_cpu(lite0):
    objectives = [O.channel("blocks.2.1", 3), O.channel("blocks.1.0", 2)]
    a = render(lite0, objectives, SMALL, seeds=[5, 6])
    b = render(lite0, objectives, SMALL, seeds=[5, 6])
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    c = render(lite0, objectives, SMALL, seeds=[7, 6])
    assert not torch.equal(a.images[0], c.images[0]) and torch.equal(a.images[1], c.images[1])


def test_truncated_forward_matches_full_forward(lite0):
    x = torch.rand(2, 3, 96, 96)
    layers = ["blocks.1.1", "blocks.3.2", "conv_head"]
    for deepest in range(len(layers)):
        wanted = layers[: deepest + 1]
        with truncated_forward(lite0, wanted) as (acts, run):
            assert run(x) is None
            truncated = {name: acts[name].clone() for name in wanted}
        with truncated_forward(lite0, wanted, full=True) as (acts, run):
            logits = run(x)
            assert logits is not None and logits.shape == (2, 1000)
            for name in wanted:
                assert torch.equal(truncated[name], acts[name])


def test_hooks_are_removed_after_success_and_after_an_error(lite0):
    before = hook_count(lite0)
    render(lite0, [O.channel("blocks.1.0", 1)], RenderSettings(size=32, steps=2), seeds=[0])
    assert hook_count(lite0) == before

    class Boom(Exception):
        pass

    with pytest.raises(Boom), truncated_forward(lite0, ["blocks.2.0"]) as (_acts, run):
        run(torch.rand(1, 3, 32, 32))
        raise Boom
    assert hook_count(lite0) == before
    with pytest.raises(Exception, match="unknown layer"):
        render(lite0, [O.channel("blocks.9.9", 1)], RenderSettings(size=32, steps=2), seeds=[0])
    assert hook_count(lite0) == before
    # blocks.1.0 has 24 channels: caught before any kernel indexes past them (on a GPU that
    # would be a device-side assert, not an error message)
    out_of_range = r"channel blocks\.1\.0:24: channel out of range \(valid: 0\.\.23\)"
    with pytest.raises(FeatvisError, match=out_of_range):
        render(lite0, [O.channel("blocks.1.0", 24)], RenderSettings(size=32, steps=2), seeds=[0])
    with pytest.raises(FeatvisError, match=r"class out of range \(valid: 0\.\.999\)"):
        render(lite0, [O.class_logit(1000)], RenderSettings(size=32, steps=2), seeds=[0])
    assert hook_count(lite0) == before


def test_snapshots_and_history_shapes(lite0):
    settings = RenderSettings(size=32, steps=8, snapshot_steps=(0, 2, 8))
    result = render(lite0, [O.channel("blocks.1.0", 1)] * 2, settings, seeds=[0, 1])
    assert set(result.snapshots) == {0, 2, 8}
    assert torch.equal(result.snapshots[8], result.images)
    assert result.history.shape == (8, 2) and result.final.shape == (2,)
    assert result.images.min() >= 0 and result.images.max() <= 1


def test_parameterizations_and_shared_components():
    for spec in (ParamSpec(kind="pixel", decorrelate=False), ParamSpec(), ParamSpec(decay=1.5)):
        images = ImageParam(spec, 32, [0, 1])()
        assert images.shape == (2, 3, 32, 32)
    spec = ParamSpec(kind="pixel", decorrelate=False, shared=True, sd=0.5)
    shared = ImageParam(spec, 32, [0, 1, 2, 3], groups=[0, 0, 1, 1])
    raw = shared.raw().detach()
    # Frames of one group share their low-resolution components: their difference has less
    # low-frequency energy than the difference to the other group.
    own = raw[0] - raw[1]
    other = raw[0] - raw[2]
    low = lambda t: torch.nn.functional.avg_pool2d(t[None], 8).abs().mean()  # noqa: E731
    assert low(own) < low(other)


def test_transforms_identity_and_seeded():
    from generator.optvis.transforms import RandomTransform

    x = torch.rand(2, 3, 32, 32)
    same = RandomTransform(TransformSpec.none(), 32, 32, [0, 1], 4)
    assert torch.equal(same(x, 0), x)
    a = RandomTransform(TransformSpec(), 32, 48, [0, 1], 4)
    b = RandomTransform(TransformSpec(), 32, 48, [0, 5], 4)
    assert a(x, 0).shape == (2, 3, 48, 48)
    assert torch.equal(a.thetas[:, 0], b.thetas[:, 0]) and not torch.equal(
        a.thetas[:, 1], b.thetas[:, 1]
    )


def test_objective_algebra_and_round_trip():
    objective = (
        O.channel("blocks.2.1", 3) - 0.1 * O.l1() + 2 * O.direction("blocks.2.1", [0.5, -1.0])
    )
    assert objective.layers == frozenset({"blocks.2.1"})
    again = Objective.from_dict(objective.to_dict())
    assert again == objective
    assert (-objective).terms[0][0] == -1.0
    assert "channel blocks.2.1:3" in objective.describe()


def test_compiled_objectives_vectorize_per_image():
    acts = {"a": torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)}
    compiled = CompiledObjectives([O.channel("a", 1), O.channel("a", 2) - O.channel("a", 0)])
    values = compiled.evaluate(acts, None, torch.full((2, 3, 4, 4), 0.5))
    assert values.tolist() == pytest.approx([acts["a"][0, 1].mean().item(), 8.0])
    again = compiled.evaluate({"a": acts["a"] * 2}, None, torch.full((2, 3, 4, 4), 0.5))
    assert again.tolist() == pytest.approx([2 * v for v in values.tolist()]), "indices cached"


@pytest.mark.parametrize("out_size", [96, 128, 224])
def test_the_sampling_grid_is_torchs_affine_grid(out_size):
    """The transforms' own grid (two broadcast sums) against `F.affine_grid` on every step's
    maps of a seeded batch: the same sampling points up to float rounding."""
    maps = RandomTransform(TransformSpec(), 128, out_size, seeds=range(6), steps=40).thetas
    for theta in maps:
        expected = F.affine_grid(theta, [6, 3, out_size, out_size], align_corners=False)
        assert torch.allclose(affine_grid(theta, out_size), expected, atol=1e-6, rtol=0)


def test_a_diversity_set_records_its_channels_activation(lite0):
    """A diversity image's objective adds the diversity term (negative where the set's images
    are alike), no measure of the channel; `unit` is the channel's own mean activation on the
    final image, what its channel page shows beside it."""
    layer, channel = "blocks.2.1", 5
    pushed = O.channel(layer, channel) + 5.0 * O.diversity(layer)
    settings = RenderSettings(size=40, steps=6)
    result = render(lite0, [pushed] * 3, settings, seeds=[0, 1, 2], groups=[0, 0, 0])
    with torch.no_grad(), truncated_forward(lite0, [layer]) as (acts, run):
        run(result.images)
        alone = acts[layer][:, channel].mean(dim=(1, 2))
    assert result.unit is not None
    assert torch.allclose(result.unit, alone, atol=1e-5), (result.unit, alone)
    assert (result.final - result.unit).abs().min() > 1e-3  # the diversity term is not 0
    single = render(lite0, [O.channel(layer, channel)], settings, seeds=[0])
    assert single.unit is not None and torch.equal(single.unit, single.final)
