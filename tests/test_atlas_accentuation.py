"""Feature accentuation: the photo inverts exactly into the parameterization, accentuation raises
the channel above the photo's activation while staying closer to the photo than a free
visualization, jobs hash their settings, and results are cached atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from generator.atlas.accentstore import AccentStore, accentuate_cached
from generator.atlas.accentuation import (
    PIXELS,
    accent_job,
    accentuate,
    default_anchor,
    pattern_agreement,
    photo_param,
)
from generator.atlas.site import ACCENT_LR, ACCENT_RECIPE
from generator.compute import World
from generator.core.errors import FeatvisError
from generator.dataset import list_images, load_view
from generator.dataset.checks import layer_vectors
from generator.models import LoadedModel
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.param import ParamSpec
from generator.optvis.transforms import TransformSpec

SIZE = 64


def photo(sample_dir: Path, name: str) -> torch.Tensor:
    path = next(sample_dir / f for f in list_images(sample_dir) if name in f)
    view = load_view(path, 224).float()[None] / 255
    return F.interpolate(view, size=SIZE, mode="bilinear", antialias=True)[0]


@pytest.mark.parametrize(
    "spec", [ParamSpec(), ParamSpec(kind="pixel"), ParamSpec(decorrelate=False)]
)
def test_photo_inverts_into_the_parameterization(spec: ParamSpec) -> None:
    gen = torch.Generator().manual_seed(0)
    photos = torch.rand(2, 3, 16, 16, generator=gen).clamp(0.01, 0.99)
    param = photo_param(spec, photos, [0, 1], torch.device("cpu"))
    assert torch.allclose(param(), photos, atol=1e-5)


def test_anchor_is_an_early_layer(lite0: LoadedModel) -> None:
    assert default_anchor(lite0, "conv_stem") == PIXELS
    assert default_anchor(lite0, "blocks.1.0") == "conv_stem"
    assert lite0.layer(default_anchor(lite0, "conv_head")).depth == 4


@pytest.mark.parametrize(
    "recipe", [{}, {"lr": ACCENT_LR, "recipe": ACCENT_RECIPE}], ids=["constant-adam", "site"]
)
def test_accentuation_raises_the_channel_and_stays_near_the_photo(
    lite0: LoadedModel, sample_dir: Path, recipe: dict
) -> None:
    layer, channel = "blocks.3.0", 11
    image = photo(sample_dir, "golden_retriever")
    settings = {"steps": 48, "size": SIZE, "transforms": TransformSpec.jitter_only(2), **recipe}
    job = accent_job(lite0, layer, channel, image, **settings)
    (result,) = accentuate(lite0, [job], image[None])
    assert result.image_activation > result.photo_activation + 0.5
    free = render(lite0, [obj.channel(layer, channel)],
                  RenderSettings(size=SIZE, steps=48, transforms=TransformSpec.jitter_only(2)),
                  seeds=0)
    # closer to the photo than the free visualization, pixel-wise and in the channel's layer
    assert (result.image - image).abs().mean() < (free.images[0] - image).abs().mean()
    vectors = layer_vectors(lite0, torch.stack([image, free.images[0]]), [layer])[layer]
    assert result.agreement > pattern_agreement(vectors[1], vectors[0], None)
    assert result.image.shape == (3, SIZE, SIZE)
    assert 0 <= result.image.min() <= result.image.max() <= 1


def test_jobs_hash_and_cache(lite0: LoadedModel, tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(1)
    photos = torch.rand(2, 3, 32, 32, generator=gen)
    settings = {"steps": 3, "size": 32, "transforms": TransformSpec.none()}
    jobs = [accent_job(lite0, "blocks.0.0", c, photos[c], **settings) for c in (0, 1)]
    assert jobs[0].key != jobs[1].key and jobs[0].batch_signature() == jobs[1].batch_signature()
    assert accent_job(lite0, "blocks.0.0", 0, photos[1], **settings).key != jobs[0].key
    assert accent_job(lite0, "blocks.0.0", 0, photos[0], **settings).key == jobs[0].key
    store = AccentStore(tmp_path / "accentuation")
    first = accentuate_cached(lite0, jobs, photos, store)
    again = accentuate_cached(lite0, jobs, torch.zeros_like(photos), store)  # read, not computed
    assert [r.image_activation for r in again] == [r.image_activation for r in first]
    assert all(torch.equal(a.image_vector, f.image_vector) and a.agreement == f.agreement
               for a, f in zip(again, first, strict=True)), "the vectors kept exactly"
    assert torch.allclose(again[0].image, first[0].image, atol=1 / 255)
    image_path, meta_path = store.paths(jobs[0].key)
    assert image_path.is_file() and meta_path.is_file()
    image_path.write_bytes(b"broken")
    assert store.get(jobs[0]) is None
    with pytest.raises(FeatvisError, match="out of range"):
        accent_job(lite0, "blocks.0.0", 16, photos[0])


def test_processes_share_the_batches(lite0: LoadedModel, tmp_path: Path) -> None:
    """Two processes that saw the same cache compute disjoint batches that cover every job."""
    gen = torch.Generator().manual_seed(2)
    photos = torch.rand(3, 3, 32, 32, generator=gen)
    settings = {"steps": 2, "size": 32, "transforms": TransformSpec.none()}
    jobs = [accent_job(lite0, "blocks.0.0", c, photos[c], **settings) for c in range(3)]
    met = []

    class Met(World):  # two ranks in one process: the barrier is counted, not waited at
        def barrier(self) -> None:
            met.append(1)

    stores = [AccentStore(tmp_path / f"rank{rank}") for rank in (0, 1)]
    found = [
        accentuate_cached(lite0, jobs, photos, stores[rank], batch_size=1,
                          world=Met(rank=rank, size=2, device=lite0.device))
        for rank in (0, 1)
    ]
    assert len(met) == 2  # each met the others after reading the cache, before computing
    assert [r is not None for r in found[0]] == [True, False, True]
    assert [r is not None for r in found[1]] == [False, True, False]
    for i, job in enumerate(jobs):
        assert (stores[0].get(job) is not None) != (stores[1].get(job) is not None), i
