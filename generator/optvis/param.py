"""Image parameterizations: how an image is made from the tensors the optimizer changes.

- `pixel`: one value per pixel and channel.
- `fourier`: a real 2-D spectrum whose frequency at k cycles per image is scaled by
  size / k^decay (times lucid's 1/4): lucid's gain at the lowest frequency at every size, falling
  as 1/k^decay above it (`anchored`, the default). Adam-like optimizers move every parameter by
  about the learning rate, so this gain is the step size in pixel space: lucid's 1/f^decay, which
  `anchored=False` keeps, multiplies the lowest frequencies' steps by size^(decay - 1), and the
  sigmoid saturates into flat, clipped colour. Anchored, decay 1.4 damps the high frequencies
  (the checkerboard of the strided depthwise convolutions) without that
  (`benchmarks/bench_legibility.py` measures it).
- `maco`: MACO (Fel et al. 2023): only the phase of the spectrum is optimized; its magnitude is
  the average natural-image magnitude (`optvis.spectrum`, a small table shipped with featvis).
  Phases start uniform in [-pi, pi), so the first image is already noise with a photo's spectrum.
- `decorrelate`: channels live in a decorrelated colour basis (the square root of ImageNet's colour
  correlation matrix) before the sigmoid maps everything to [0, 1].
- `shared`: low-resolution components shared by the images of one group (aligned interpolation);
  two of them are lerped along the group, so neighbouring frames differ smoothly.
- `channels=1` (a network of grey input): one channel, the brightness, without a colour basis,
  made grey (R = G = B) after the sigmoid. Every parameter then acts on what the network sees;
  three channels would leave colour that the network never saw (the decorrelated basis's colour
  components move the luminance a little too, so they drift far from grey), and one channel at
  the decorrelated basis's brightness scale gives flatter, lower-contrast pictures
  (`benchmarks/bench_grey.py` compares the three).

Every image's initial values come from its own seeded generator: image i of a batch starts exactly
where it would start alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from generator.optvis.basis import COLOR_CORRELATION_NORMALIZED, rfft2d_freqs
from generator.optvis.seeding import generator
from generator.optvis.spectrum import magnitude

PARAM_KINDS = ("pixel", "fourier", "maco")

# (downsampling factor, ends): ends=2 components are lerped from the first to the last image.
SHARED_COMPONENTS = ((2, 1), (4, 1), (8, 1), (8, 2), (16, 1), (16, 2))


@dataclass(frozen=True)
class ParamSpec:
    kind: Literal["pixel", "fourier", "maco"] = "fourier"
    decorrelate: bool = True
    decay: float = 1.4
    sd: float = 0.01
    shared: bool = False
    anchored: bool = True  # Fourier: lucid's gain at one cycle per image (module docstring)

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(
                f"unknown parameterization '{self.kind}' (valid: {', '.join(PARAM_KINDS)})"
            )


def fourier_scale(spec: ParamSpec, size: int) -> torch.Tensor:
    """(size, size // 2 + 1): the gain of each frequency of a Fourier image (module docstring),
    with the 1/4 that keeps the image's spread near lucid's."""
    freqs = torch.clamp(rfft2d_freqs(size, size), min=1.0 / size)
    if spec.anchored:  # in cycles per image, lucid's gain (size / 1) at the lowest
        return 0.25 * size / (freqs * size) ** spec.decay
    return 0.25 / freqs**spec.decay


class ImageParam(nn.Module):
    """n images of size x size, each from its own seed; optional shared components per group;
    `channels=1`: grey images (module docstring), still (n, 3, size, size)."""

    scale: torch.Tensor  # buffers
    color: torch.Tensor
    group_index: torch.Tensor
    position: torch.Tensor

    def __init__(
        self,
        spec: ParamSpec,
        size: int,
        seeds: Sequence[int],
        groups: Sequence[int] | None = None,
        device: torch.device | str = "cpu",
        *,
        channels: int = 3,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"images of {channels} channels (valid: 1, 3)")
        self.spec, self.size, self.n, self.channels = spec, size, len(seeds), channels
        gens = [generator(s, "init") for s in seeds]
        c = channels
        if spec.kind == "fourier":
            h, w = size, size // 2 + 1
            init = torch.stack([torch.randn(c, h, w, 2, generator=g) for g in gens]) * spec.sd
            self.register_buffer("scale", fourier_scale(spec, size)[None, None, :, :, None]
                                 .to(device))
        elif spec.kind == "maco":
            h, w = size, size // 2 + 1
            init = torch.stack(
                [(torch.rand(c, h, w, generator=g) * 2 - 1) * math.pi for g in gens]
            )
            self.register_buffer("scale", magnitude(size)[None, :c].to(device))
        else:
            init = torch.stack([torch.randn(c, size, size, generator=g) for g in gens]) * spec.sd
        self.values = nn.Parameter(init.to(device))
        self._lowpassed: dict[float, torch.Tensor] = {}
        self.register_buffer("color", COLOR_CORRELATION_NORMALIZED.to(device))
        self._init_shared(spec, seeds, groups, device)

    def _init_shared(
        self,
        spec: ParamSpec,
        seeds: Sequence[int],
        groups: Sequence[int] | None,
        device: torch.device | str,
    ) -> None:
        self.shared = nn.ParameterList()
        if not (spec.shared and groups is not None):
            self.register_buffer(
                "group_index", torch.zeros(self.n, dtype=torch.long, device=device)
            )
            self.register_buffer("position", torch.zeros(self.n, device=device))
            return
        ids = sorted(set(groups))
        index = torch.tensor([ids.index(g) for g in groups], dtype=torch.long)
        position = torch.zeros(self.n)
        for g in ids:
            members = [i for i, gg in enumerate(groups) if gg == g]
            for k, i in enumerate(members):
                position[i] = k / max(len(members) - 1, 1)
        self.register_buffer("group_index", index.to(device))
        self.register_buffer("position", position.to(device))
        first = {g: seeds[list(groups).index(g)] for g in ids}
        for k, (factor, ends) in enumerate(SHARED_COMPONENTS):
            side = max(1, self.size // factor)
            gen = [generator(first[g], f"shared-{k}") for g in ids]
            init = torch.stack(
                [torch.randn(ends, self.channels, side, side, generator=gg) for gg in gen]
            )
            self.shared.append(nn.Parameter((init * self.spec.sd).to(device)))

    def _shared_sum(self) -> torch.Tensor | int:
        total: torch.Tensor | int = 0
        for p in self.shared:
            per_image = p[self.group_index]  # (n, ends, channels, s, s)
            if per_image.shape[1] == 2:
                t = self.position.view(-1, 1, 1, 1)
                low = per_image[:, 0] * (1 - t) + per_image[:, 1] * t
            else:
                low = per_image[:, 0]
            total = total + F.interpolate(
                low, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
        return total

    def _lowpass(self, cutoff: float | None) -> torch.Tensor:
        """The frequency scale with frequencies above `cutoff` (cycles/pixel) at zero."""
        if cutoff is None or self.spec.kind == "pixel":
            return self.scale
        cached = self._lowpassed.get(cutoff)
        if cached is None:
            keep = rfft2d_freqs(self.size, self.size) <= cutoff
            shape = (1, 1, *keep.shape, 1) if self.spec.kind == "fourier" else (1, 1, *keep.shape)
            cached = self._lowpassed[cutoff] = self.scale * keep.view(shape).to(self.scale.device)
        return cached

    def raw(self, lowpass: float | None = None) -> torch.Tensor:
        """Images in the unconstrained (pre-sigmoid, decorrelated) space; `lowpass`: hold the
        frequencies above it (cycles/pixel) at zero (Fourier and MACO images)."""
        size = (self.size, self.size)
        if self.spec.kind == "fourier":
            spectrum = torch.view_as_complex(self._lowpass(lowpass) * self.values)
            image = torch.fft.irfft2(spectrum, s=size, norm="ortho")
        elif self.spec.kind == "maco":
            spectrum = torch.polar(self._lowpass(lowpass).expand_as(self.values), self.values)
            image = torch.fft.irfft2(spectrum, s=size, norm="ortho")
        else:
            image = self.values
        return image + self._shared_sum()

    def forward(self, lowpass: float | None = None) -> torch.Tensor:
        image = self.raw(lowpass)
        if self.channels == 1:  # grey: the brightness component alone, the same in R, G and B
            return torch.sigmoid(image).expand(-1, 3, -1, -1)
        if self.spec.decorrelate:
            # colour mixing as one matrix product over the pixels (half a 1x1 convolution's time
            # on a CPU), no permuted copies
            image = (self.color @ image.flatten(2)).view_as(image)
        return torch.sigmoid(image)
