"""Feature accentuation (Hamblin, Fel, Saha, Konkle, Alvarez 2024): what in a real photo a
channel responds to.

The photo is inverted into the parameterization every featvis visualization uses (`ImageParam`:
a Fourier spectrum scaled by 1/f^decay, colours in the decorrelated basis, a sigmoid), so the
optimizer starts exactly at the photo, and then raises the channel's spatial-mean activation while
a penalty keeps an early layer's activations close to the photo's:

    objective = channel(x) / rms(photo's channel map) - weight * |A(x) - A(photo)|^2 / |A(photo)|^2

where A is the anchor layer (by default the layer a third of the way to the channel, at most
`ANCHOR_MAX_DEPTH`; raw pixels for the first layer), both seen through the same random transform
at every step. The result holds what the network gives: the accentuated image, the channel
activation of the photo and of the image, and the per-channel spatial means of both at the
channel's layer. Its pattern agreements (the cosine of `generator.dataset.check_patterns`: of the
image with its photo, and, given the dataset index, of each with the channel's top photos) are
computed from those means by `scored` with a scan's mean, spread and pattern, so a cached
accentuation is scored against the folder as it is now (photos added or removed run no network
for it).

Design: an `AccentJob` is its own frozen spec with a content hash rather than a new objective term
inside `VisJob`. A visualization starts from seeded noise and its objectives are small JSON terms;
an accentuation starts from a photo and its penalty needs that photo's activations, so it would
change both `render`'s start and the objective's inputs. Instead it reuses the pieces, `ImageParam`,
`RandomTransform`, `CompiledObjectives` and `truncated_forward`, in a short loop of its own, and
the job names the photo by the hash of its pixels as the model sees them (`images_digest`).
Jobs with equal `batch_signature()` run as one batch. `atlas.accentstore.AccentStore` caches
results like the artifact cache does: an image and a sidecar per key, each written atomically, the
sidecar last and holding the image's sha256.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch

from generator.atlas.circuits import images_digest
from generator.core.errors import FeatvisError
from generator.core.images import grey, luminance
from generator.jobs import canonical_json
from generator.metrics import cosine_similarity
from generator.models.base import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis.evaluate import CompiledObjectives
from generator.optvis.param import ImageParam, ParamSpec
from generator.optvis.recipe import LEGACY_DECAY, Recipe, make_optimizer
from generator.optvis.render import truncated_forward
from generator.optvis.steps import set_lr
from generator.optvis.transforms import RandomTransform, TransformSpec, resize_for_model

ACCENT_VERSION = 2  # in every key: bump when what a result holds or how it is made changes
ANCHOR_MAX_DEPTH = 4  # no deeper than blocks.1.1 of the embedded model: edges and textures
PIXELS = ""  # the anchor "layer" of a channel in the first layer: the image itself
# The spectrum's decay accentuation's steps and rates were measured with (`benchmarks/bench_atlas.py
# accent`); the photo it starts from fixes the picture's spectrum, not the decay.
ACCENT_DECAY = LEGACY_DECAY
PER_PHOTO = ("layer", "channel", "photo", "seed")  # an accentuation's own fields, not its batch's
_EPS = 1.0 / 512  # photos are clamped into [eps, 1-eps] before the sigmoid is inverted


def default_transforms() -> TransformSpec:
    """Small jitter, scale and rotation: enough for robustness, little enough to keep the photo."""
    return TransformSpec(pad=4, jitter=4, scales=(1.0, 0.975, 1.025), angles=(-2.0, 0.0, 2.0),
                         jitter2=2)


@dataclass(frozen=True)
class AccentJob:
    """Everything that determines one accentuated image. `photo` is `images_digest` of the photo
    as the model sees it; `anchor` the layer kept close to the photo's (PIXELS for the image)."""

    model: str
    weights_digest: str
    layer: str
    channel: int
    photo: str
    anchor: str
    anchor_weight: float = 1.0
    param: ParamSpec = field(
        default_factory=lambda: ParamSpec(decay=ACCENT_DECAY, anchored=False)
    )
    transforms: TransformSpec = field(default_factory=default_transforms)
    steps: int = 128
    size: int = 128
    input_size: int | None = None
    lr: float = 0.025
    seed: int = 0
    recipe: Recipe = field(default_factory=Recipe.legacy)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["transforms"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.transforms).items()
        }
        return data

    def batch_signature(self) -> str:
        return batch_signature(self.to_dict())

    @cached_property
    def key(self) -> str:
        payload = canonical_json({"accentuation": ACCENT_VERSION, "job": self.to_dict()})
        return hashlib.sha256(payload.encode()).hexdigest()[:24]


def batch_signature(spec: dict[str, Any]) -> str:
    """What one batch's jobs share: a job's spec (`to_dict`, a sidecar's "job") less `PER_PHOTO`."""
    return canonical_json({k: v for k, v in spec.items() if k not in PER_PHOTO})


def default_anchor(model: LoadedModel, layer: str) -> str:
    """The main catalog's layer a third of the way to `layer` (never past the catalog's
    ANCHOR_MAX_DEPTH-th); pixels for the first layer. Positions count in the catalog's order
    (an optional layer sits where the forward pass reaches it), whatever depths it skips."""
    depth = model.layer(layer).depth
    position = sum(1 for info in model.layers if info.depth < depth)
    if position == 0:
        return PIXELS
    return model.layers[min(ANCHOR_MAX_DEPTH, position // 3)].name


def accent_job(
    model: LoadedModel, layer: str, channel: int, photo: torch.Tensor, **settings: Any
) -> AccentJob:
    """The job for `photo` ((3,H,W) in [0,1], as the model sees it) and a channel."""
    model.check_channel(layer, channel)
    anchor = settings.pop("anchor", None)
    return AccentJob(
        model=model.id, weights_digest=model.digest, layer=layer, channel=int(channel),
        photo=images_digest(photo[None]), anchor=default_anchor(model, layer) if anchor is None
        else anchor, **settings,
    )


# -- inverting a photo into the parameterization -------------------------------------------------


def photo_param(
    spec: ParamSpec, photos: torch.Tensor, seeds: Sequence[int], device: torch.device,
    *, channels: int = 3,
) -> ImageParam:
    """An `ImageParam` whose images are `photos` (n,3,S,S in [0,1]), up to 8-bit rounding;
    with `channels=1`, grey images of the photos' luminance."""
    if spec.shared:
        raise FeatvisError("accentuation: the shared parameterization has no photo to start from")
    size = photos.shape[-1]
    param = ImageParam(spec, size, seeds, device=device, channels=channels)
    x = photos.to(device, torch.float32)
    if channels == 1:
        x = luminance(x)
    raw = torch.logit(x.clamp(_EPS, 1 - _EPS))
    if spec.decorrelate and channels == 3:
        inverse = torch.linalg.inv(param.color.double()).float()
        raw = torch.einsum("ij,njhw->nihw", inverse, raw)
    if spec.kind == "fourier":
        spectrum = torch.fft.rfft2(raw, norm="ortho")
        values = torch.view_as_real(spectrum) / param.scale
    else:
        values = raw
    with torch.no_grad():
        param.values.copy_(values)
    return param


# -- the optimizer -------------------------------------------------------------------------------


@dataclass
class AccentResult:
    """What the network gives for one accentuation, and the agreements `scored` adds."""

    image: torch.Tensor  # (3, S, S) in [0, 1], CPU
    photo_activation: float
    image_activation: float
    anchor_distance: float  # |A(image) - A(photo)|^2 / |A(photo)|^2, untransformed
    photo_vector: torch.Tensor  # (C,) the photo's per-channel spatial means at the layer, CPU
    image_vector: torch.Tensor  # (C,) the image's, untransformed
    seconds: float = 0.0
    # from the vectors and a scan (`scored`): None until scored
    agreement: float | None = None  # the image's pattern against its photo's
    photo_pattern: float | None = None  # photo vs the channel's top photos (with an index)
    image_pattern: float | None = None  # image vs the channel's top photos (with an index)

    def numbers(self) -> dict[str, Any]:
        """Every number, not the image or the vectors (the channel page and the manifest's
        `accentuation` entry)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in TENSORS}

    def measured(self) -> dict[str, Any]:
        """What the network gave, as JSON (the sidecar): the numbers, and the vectors as base64
        of their little-endian float32 bytes (exact, a quarter of a decimal list's size); not
        the image or the agreements, which depend on the scan they are scored against."""
        data = {k: v for k, v in self.numbers().items() if k not in SCORED}
        return data | {name: _encode(getattr(self, name)) for name in VECTORS}

    @classmethod
    def from_measured(cls, image: torch.Tensor, data: dict[str, Any]) -> AccentResult:
        """The inverse of `measured`, unscored; ValueError when the vectors differ in length."""
        photo, image_vector = (_decode(data[name]) for name in VECTORS)
        if photo.shape != image_vector.shape:
            raise ValueError("the photo's and the image's vectors differ in length")
        return cls(
            image=image,
            photo_activation=float(data["photo_activation"]),
            image_activation=float(data["image_activation"]),
            anchor_distance=float(data["anchor_distance"]),
            photo_vector=photo,
            image_vector=image_vector,
            seconds=float(data["seconds"]),
        )


def _encode(vector: torch.Tensor) -> str:
    return base64.b64encode(vector.detach().cpu().numpy().astype("<f4").tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    data = base64.b64decode(text.encode("ascii"), validate=True)
    return torch.from_numpy(np.frombuffer(data, dtype="<f4").astype(np.float32))


VECTORS = ("photo_vector", "image_vector")
TENSORS = ("image", *VECTORS)
SCORED = ("agreement", "photo_pattern", "image_pattern")


def scored(result: AccentResult, layer: str, channel: int, index: Any = None) -> AccentResult:
    """`result` with its pattern agreements computed from its vectors: standardized by `index`'s
    (a `DatasetIndex`, or None) mean and spread at `layer`, and against the channel's top
    photos' pattern there; no network runs."""
    stats = standardizer(index, layer)
    photo, image = result.photo_vector, result.image_vector
    reference = index.pattern(layer, channel) if index is not None else None
    return replace(
        result,
        agreement=pattern_agreement(image, photo, stats),
        photo_pattern=None if reference is None else pattern_agreement(photo, reference, stats),
        image_pattern=None if reference is None else pattern_agreement(image, reference, stats),
    )


def _anchor_values(
    acts: Any, anchor: str, images: torch.Tensor
) -> torch.Tensor:
    return images if anchor == PIXELS else acts[anchor]


def _photo_anchor(model: LoadedModel, anchor: str, seen: torch.Tensor) -> torch.Tensor:
    """The anchor layer's activations of the (transformed) photos; the pass stops there."""
    if anchor == PIXELS:
        return seen.detach()
    with torch.no_grad(), truncated_forward(model, [anchor]) as (acts, run):
        run(seen)
        return acts[anchor].clone()


def _relative_distance(a: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(1, a.dim()))
    return ((a - a0) ** 2).mean(dim=dims) / (a0**2).mean(dim=dims).clamp(min=1e-8)


def standardizer(index: Any, layer: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The dataset's per-channel mean and spread at `layer` (as `check_patterns` uses them)."""
    if index is None:
        return None
    return index.channel_means(layer), index.channel_stds(layer).clamp(min=1e-6)


def pattern_agreement(
    a: torch.Tensor, b: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None
) -> float:
    """`check_patterns`' cosine of two per-channel spatial-mean vectors, standardized by `stats`
    when given."""
    if stats is not None:
        mean, std = stats
        a, b = (a - mean) / std, (b - mean) / std
    return cosine_similarity(a, b)


def accentuate(
    model: LoadedModel,
    jobs: Sequence[AccentJob],
    photos: torch.Tensor,
    *,
    index: Any = None,
) -> list[AccentResult]:
    """Accentuate `photos[i]` for `jobs[i]`, all in one batch. `index` (a `DatasetIndex`, or
    None) standardizes the patterns and adds the agreements with the channel's top photos."""
    start = time.perf_counter()
    if not jobs or len(jobs) != photos.shape[0]:
        raise ValueError("one photo per accentuation job")
    if len({job.batch_signature() for job in jobs}) != 1:
        raise ValueError("accentuation jobs of one batch must share their settings")
    first, device = jobs[0], model.device
    for job in jobs:
        model.check_channel(job.layer, job.channel)
        if job.anchor != PIXELS:
            model.layer(job.anchor)
    model_input = first.input_size or first.size
    photos = resize_for_model(photos.to(device, torch.float32), first.size)
    if model.grey:  # the start and the pixel anchor: the photo as the network sees it
        photos = grey(photos)
    seeds = [job.seed for job in jobs]
    param = photo_param(first.param, photos, seeds, device, channels=model.input_channels)
    optimizer = make_optimizer(first.recipe, list(param.parameters()), first.lr, device)
    lrs = first.recipe.lrs(first.steps, first.lr)
    transform = RandomTransform(
        first.transforms, first.size, model_input, seeds, first.steps, device
    )
    compiled = CompiledObjectives([obj.channel(job.layer, job.channel) for job in jobs])
    anchor = first.anchor
    layers = sorted(compiled.layers | ({anchor} - {PIXELS}))
    with truncated_forward(model, layers) as (acts, run):
        with torch.no_grad():
            run(resize_for_model(photos, model_input))
            photo_values = compiled.evaluate(acts, None, photos)
            scale = torch.stack(
                [acts[j.layer][i, j.channel].pow(2).mean().sqrt() for i, j in enumerate(jobs)]
            ).clamp(min=1e-3)
        for step in range(first.steps):
            set_lr(optimizer, lrs[step])
            optimizer.zero_grad(set_to_none=True)
            target = _photo_anchor(model, anchor, transform(photos, step))
            images = param()
            seen = transform(images, step)
            run(seen)
            values = compiled.evaluate(acts, None, images) / scale
            penalty = _relative_distance(_anchor_values(acts, anchor, seen), target)
            (-(values - first.anchor_weight * penalty).sum()).backward()
            optimizer.step()
    with torch.no_grad():
        images = param()
        results = _measure(model, jobs, photos, images, index, model_input)
    seconds = (time.perf_counter() - start) / len(jobs)
    for result, photo_value in zip(results, photo_values.tolist(), strict=True):
        result.photo_activation, result.seconds = float(photo_value), seconds
    return results


def _measure(
    model: LoadedModel,
    jobs: Sequence[AccentJob],
    photos: torch.Tensor,
    images: torch.Tensor,
    index: Any,
    model_input: int,
) -> list[AccentResult]:
    """Activations, patterns and anchor distances of photos and images, untransformed."""
    compiled = CompiledObjectives([obj.channel(job.layer, job.channel) for job in jobs])
    anchor = jobs[0].anchor
    layers = sorted(compiled.layers | ({anchor} - {PIXELS}))
    both = torch.cat([photos, images])
    n = len(jobs)
    with truncated_forward(model, layers) as (acts, run):
        seen = resize_for_model(both, model_input)
        run(seen)
        vectors = {name: acts[name].float().mean(dim=(2, 3)).cpu() for name in compiled.layers}
        anchored = _anchor_values(acts, anchor, seen)
        distance = _relative_distance(anchored[n:], anchored[:n]).cpu()
        run(resize_for_model(images, model_input))
        image_values = compiled.evaluate(acts, None, images).cpu()
    return [
        scored(
            AccentResult(
                image=images[i].detach().cpu(),
                photo_activation=0.0,
                image_activation=float(image_values[i]),
                anchor_distance=float(distance[i]),
                photo_vector=vectors[job.layer][i].clone(),
                image_vector=vectors[job.layer][n + i].clone(),
            ),
            job.layer, job.channel, index,
        )
        for i, job in enumerate(jobs)
    ]
