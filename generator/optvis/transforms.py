"""Transformation robustness: random pad, jitter, scale and rotation, applied on the device.

The Distill article's chain (pad 16, jitter 16, scale from {1, .975, 1.025, .95, 1.05}, rotate
-5..5 degrees, jitter 8) is folded into one affine map per image and step, sampled with a single
`grid_sample` straight to the model's input size; padding reads as grey (0.5). Every image draws
its parameters for all steps up front from its own seeded generator, so image i of a batch sees
exactly the transforms it would see alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generator.optvis.seeding import generator

DISTILL_SCALES = (1.0, 0.975, 1.025, 0.95, 1.05)
DISTILL_ANGLES = tuple(float(a) for a in range(-5, 6))


@dataclass(frozen=True)
class TransformSpec:
    pad: int = 16
    jitter: int = 16
    scales: tuple[float, ...] = DISTILL_SCALES
    angles: tuple[float, ...] = DISTILL_ANGLES
    jitter2: int = 8

    @classmethod
    def none(cls) -> TransformSpec:
        return cls(pad=0, jitter=0, scales=(1.0,), angles=(0.0,), jitter2=0)

    @classmethod
    def jitter_only(cls, jitter: int = 8) -> TransformSpec:
        return cls(pad=0, jitter=jitter, scales=(1.0,), angles=(0.0,), jitter2=0)

    @property
    def is_identity(self) -> bool:
        return (
            self.pad == 0
            and self.jitter == 0
            and self.jitter2 == 0
            and set(self.scales) == {1.0}
            and set(self.angles) == {0.0}
        )


class RandomTransform:
    """Precomputed per-image, per-step affine maps for `steps` steps."""

    def __init__(
        self,
        spec: TransformSpec,
        size: int,
        out_size: int,
        seeds: Sequence[int],
        steps: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.spec, self.size, self.out_size = spec, size, out_size
        self.identity = spec.is_identity
        if self.identity:
            return
        thetas = [self._draw(generator(s, "transforms"), steps) for s in seeds]
        self.thetas = torch.stack(thetas, dim=1).to(device)  # (steps, n, 2, 3)

    def _draw(self, gen: torch.Generator, steps: int) -> torch.Tensor:
        spec, size = self.spec, self.size
        canvas = size + 2 * spec.pad
        j1 = torch.randint(0, spec.jitter + 1, (steps, 2), generator=gen).float()
        j2 = torch.randint(0, spec.jitter2 + 1, (steps, 2), generator=gen).float()
        scale = torch.tensor(spec.scales)[
            torch.randint(0, len(spec.scales), (steps,), generator=gen)
        ]
        angle = torch.tensor(spec.angles)[
            torch.randint(0, len(spec.angles), (steps,), generator=gen)
        ]
        # Side of the final crop on the padded canvas, in canvas pixels, and its centre offset.
        crop = (canvas - spec.jitter - spec.jitter2 / scale).clamp(min=1.0)
        offset = (j1 - spec.jitter / 2) + (j2 - spec.jitter2 / 2) / scale[:, None]
        half = crop / size  # half-extent of the crop in the image's normalized coordinates
        rad = angle * math.pi / 180.0
        cos, sin = torch.cos(rad) * half, torch.sin(rad) * half
        theta = torch.zeros(steps, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        theta[:, :, :2] /= scale[:, None, None]
        theta[:, 0, 2] = offset[:, 0] * 2 / size
        theta[:, 1, 2] = offset[:, 1] * 2 / size
        return theta

    def __call__(self, images: torch.Tensor, step: int) -> torch.Tensor:
        return self.apply(images, self.theta(step), self.out_size)

    def theta(self, step: int) -> torch.Tensor | None:
        """Step `step`'s affine maps, (n, 2, 3); None for the identity."""
        return None if self.identity else self.thetas[step]

    def apply(
        self, images: torch.Tensor, theta: torch.Tensor | None, out_size: int
    ) -> torch.Tensor:
        """`images` warped by `theta` and sampled at `out_size` (the coarse phase asks for less
        than the model's input size)."""
        if theta is None:
            return resize_for_model(images, out_size)
        grid = affine_grid(theta, out_size)
        return (
            F.grid_sample(
                images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
            + 0.5
        )


def affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """`F.affine_grid(theta, (n, c, size, size), align_corners=False)` with two broadcast sums
    instead of a batched matrix product over every pixel: less time on a CPU, same grid up to
    float rounding."""
    n = theta.shape[0]
    centres = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    grid = torch.empty(n, size, size, 2, device=theta.device, dtype=theta.dtype)
    for k in range(2):  # x (k=0) then y of the sampling point: t0 * x + (t1 * y + t2)
        t = theta[:, k, :, None, None]  # (n, 3, 1, 1)
        across = t[:, 0] * centres.view(1, 1, size)
        down = t[:, 1] * centres.view(1, size, 1) + t[:, 2]
        torch.add(across, down, out=grid[..., k])
    return grid


def resize_for_model(images: torch.Tensor, out_size: int) -> torch.Tensor:
    """The untransformed view the model sees when measuring a finished image."""
    if images.shape[-1] == out_size:
        return images
    return F.interpolate(images, size=(out_size, out_size), mode="bilinear", align_corners=False)
