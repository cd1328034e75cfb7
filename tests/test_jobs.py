"""Job keys and the planner that packs jobs into optimizer batches."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from generator.jobs import (
    FILLER,
    Batch,
    VisJob,
    default_batch_size,
    plan_batches,
    unique_jobs,
)
from generator.models import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis import render
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import Recipe
from generator.optvis.render import RenderResult
from generator.optvis.transforms import TransformSpec

BASE = VisJob(
    model="efficientnet_lite0",
    weights_digest="0123456789abcdef",
    objectives=(obj.channel("blocks.1.0", 3),),
    steps=64,
    size=64,
    seed=0,
)


def _variants() -> dict[str, VisJob]:
    """One changed copy of BASE per field, nested fields and objective parts included."""
    r = dataclasses.replace
    top = {
        "model": r(BASE, model="torchvision:resnet18"),
        "weights_digest": r(BASE, weights_digest="fedcba9876543210"),
        "objectives": r(BASE, objectives=(obj.channel("blocks.1.0", 4),)),
        "param": r(BASE, param=ParamSpec(kind="pixel", decorrelate=False)),
        "transforms": r(BASE, transforms=TransformSpec.none()),
        "steps": r(BASE, steps=65),
        "size": r(BASE, size=65),
        "input_size": r(BASE, input_size=224),
        "lr": r(BASE, lr=0.051),
        "seed": r(BASE, seed=1),
        "snapshot_steps": r(BASE, snapshot_steps=(8,)),
        "recipe": r(BASE, recipe=Recipe.legacy()),
        "precision": r(BASE, precision="bf16"),
    }
    nested = {
        "objective layer": r(BASE, objectives=(obj.channel("blocks.1.1", 3),)),
        "objective kind": r(BASE, objectives=(obj.neuron("blocks.1.0", 3),)),
        "objective sign": r(BASE, objectives=(-obj.channel("blocks.1.0", 3),)),
        "objective weight": r(BASE, objectives=(obj.channel("blocks.1.0", 3) * 2,)),
        "objective regularizer": r(
            BASE, objectives=(obj.channel("blocks.1.0", 3) - 0.05 * obj.l1(),)
        ),
        "second image": r(BASE, objectives=BASE.objectives * 2),
        **{
            f"param.{f.name}": r(
                BASE, param=r(BASE.param, **{f.name: _other(getattr(BASE.param, f.name))})
            )
            for f in dataclasses.fields(ParamSpec)
        },
        **{
            f"transforms.{f.name}": r(
                BASE,
                transforms=r(
                    BASE.transforms, **{f.name: _other(getattr(BASE.transforms, f.name))}
                ),
            )
            for f in dataclasses.fields(TransformSpec)
        },
        **{
            f"recipe.{f.name}": r(
                BASE, recipe=r(BASE.recipe, **{f.name: _other(getattr(BASE.recipe, f.name))})
            )
            for f in dataclasses.fields(Recipe)
        },
    }
    return {**top, **nested}


def _other(value: object) -> object:
    """A different value of the same type (defaults may change; the test must not)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, float) and 0 <= value <= 1:  # fractions of the steps, of the rate
        return value + 0.05 if value <= 0.45 else value - 0.05
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, tuple):
        return (*value, 2.0)
    return {
        "fourier": "pixel", "pixel": "fourier", "maco": "fourier",
        "adam": "nadam", "nadam": "adam",
        "cosine": "step", "step": "constant", "constant": "cosine",
    }[value]


def test_every_field_is_varied():
    covered = set(_variants())
    assert {f.name for f in dataclasses.fields(VisJob)} <= covered


def test_changing_any_field_changes_the_key():
    variants = _variants()
    keys = {name: job.key for name, job in variants.items()}
    assert all(key != BASE.key for key in keys.values()), keys
    assert len(set(keys.values())) == len(keys)


def test_key_survives_a_round_trip_and_is_hex():
    again = VisJob.from_dict(BASE.to_dict())
    assert again == BASE and again.key == BASE.key
    assert len(BASE.key) == 24 and int(BASE.key, 16) >= 0
    for job in _variants().values():
        assert VisJob.from_dict(job.to_dict()).key == job.key


def _job(layer: str, ch: int, *, n: int = 1, steps: int = 64, seed: int = 0) -> VisJob:
    return dataclasses.replace(
        BASE, objectives=(obj.channel(layer, ch),) * n, steps=steps, seed=seed
    )


def test_unique_jobs_keeps_first_occurrence_in_order():
    a, b = _job("conv_stem", 0), _job("conv_stem", 1)
    assert unique_jobs([a, b, a, b]) == [a, b]


def test_planner_packs_by_signature_within_the_batch_size():
    jobs = [_job("blocks.1.0", c) for c in range(7)]
    jobs += [_job("blocks.1.0", c, steps=32) for c in range(3)]
    jobs += [_job("blocks.1.0", 99, n=3)]
    batches = plan_batches(jobs, 4)
    planned = [job for b in batches for job in b.jobs]
    assert sorted(j.key for j in planned) == sorted(j.key for j in jobs)
    for batch in batches:
        assert batch.n_images <= 4
        assert len({job.batch_signature() for job in batch.jobs}) == 1
    # Greedy and in order: 4 singles, then 3 (the 3-image job does not fit), it, the 32-step ones.
    assert [b.n_images for b in batches] == [4, 3, 3, 3]
    assert plan_batches(jobs, 4) == batches  # deterministic


def test_a_job_larger_than_the_batch_stays_whole():
    big = _job("blocks.1.0", 1, n=5)
    batches = plan_batches([_job("blocks.1.0", 0), big, _job("blocks.1.0", 2)], 2)
    assert Batch((big,), 2) in batches and Batch((big,), 2).fill == 0
    assert all(b.n_images <= 2 for b in batches if b.jobs != (big,))


def test_depth_orders_jobs_within_a_signature():
    jobs = [_job("deep", 0), _job("shallow", 0), _job("deep", 1), _job("shallow", 1)]
    depth = {"shallow": 1, "deep": 5}
    batches = plan_batches(jobs, 2, depth=lambda j: depth[next(iter(j.objectives[0].layers))])
    assert [{next(iter(j.objectives[0].layers)) for j in b.jobs} for b in batches] == [
        {"shallow"}, {"deep"}
    ]


def test_batch_layout_and_split():
    a, b = _job("conv_stem", 0, n=2, seed=10), _job("conv_stem", 1, seed=20)
    batch = Batch((a, b))
    assert batch.seeds() == [10, 11, 20]
    assert batch.groups() == [0, 0, 1]
    assert batch.objectives() == [*a.objectives, *b.objectives]
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    result = RenderResult(
        images=images,
        snapshots={4: images + 10},
        history=torch.arange(6.0).view(2, 3),
        final=torch.tensor([0.0, 1.0, 2.0]),
        seconds=3.0,
    )
    first, second = batch.per_job(result)
    assert first.images[:, 0, 0, 0].tolist() == [0, 1]
    assert second.images[:, 0, 0, 0].tolist() == [2]
    assert second.snapshots[4][0, 0, 0, 0] == 12
    assert first.history.tolist() == [[0, 1], [3, 4]] and second.history.tolist() == [[2], [5]]
    assert first.final.tolist() == [0, 1] and first.seconds == pytest.approx(2.0)
    with pytest.raises(ValueError):
        Batch((a,)).per_job(result)


def test_every_planned_batch_is_filled_to_the_batch_size():
    jobs = [_job("blocks.1.0", c) for c in range(6)] + [_job("blocks.1.0", 9, n=3)]
    batches = plan_batches(jobs, 4)
    assert [(b.n_images, b.fill) for b in batches] == [(4, 0), (2, 2), (3, 1)]
    a, b = _job("conv_stem", 0, n=2, seed=10), _job("conv_stem", 1, seed=20)
    filled = Batch((a, b), 5)
    assert filled.seeds() == [10, 11, 20, 0, 0]
    assert filled.groups() == [0, 0, 1, 2, 3]  # each filler a group of its own
    assert filled.objectives() == [*a.objectives, *b.objectives, FILLER, FILLER]
    assert not FILLER.layers and not FILLER.needs_logits  # no deeper forward pass, no logits
    images = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 3, 2, 2)
    result = RenderResult(images=images, snapshots={}, history=torch.zeros(2, 5),
                          final=torch.arange(5.0), seconds=5.0)
    first, second = filled.per_job(result)  # the fillers' results dropped
    assert first.final.tolist() == [0, 1] and second.final.tolist() == [2]
    with pytest.raises(ValueError):
        filled.per_job(RenderResult(images=images[:3], snapshots={}, history=torch.zeros(2, 3),
                                  final=torch.zeros(3)))


def test_a_jobs_pixels_do_not_depend_on_what_else_its_batch_holds(lite0: LoadedModel):
    def job(ch: int) -> VisJob:
        return dataclasses.replace(_job("blocks.1.0", ch, steps=2, seed=ch), size=32,
                                   weights_digest=lite0.digest)

    def pixels(batch: Batch) -> torch.Tensor:
        result = render(lite0, batch.objectives(), batch.settings(), seeds=batch.seeds(),
                        groups=batch.groups())
        return batch.per_job(result)[-1].images

    alone, = plan_batches([job(0)], 4)  # what a build over a cache holding 1 and 2 computes
    together, = plan_batches([job(1), job(2), job(0)], 4)  # what a cold build computes
    assert together.jobs[-1] == alone.jobs[-1] == job(0)
    assert torch.equal(pixels(alone), pixels(together))
    # the CPU's kernels follow the batch's shape: a batch of one alone gives other pixels
    assert not torch.equal(pixels(Batch(alone.jobs)), pixels(together))


def test_default_batch_size_is_larger_on_gpu():
    assert default_batch_size("cuda") > default_batch_size("cpu") >= 1
    with pytest.raises(ValueError):
        plan_batches([BASE], 0)
