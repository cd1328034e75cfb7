"""The average magnitude spectrum of natural photos, for MACO's parameterization (Fel et al. 2023).

MACO optimizes only the phase of an image's Fourier transform; its magnitude is fixed to the
average magnitude of natural images. Here that magnitude is measured in the space the
parameterization works in (before the colour mixing and the sigmoid: the photo's logit,
un-mixed by the inverse of the colour matrix), radially averaged per colour channel over
frequency bins in cycles per pixel, so one small table serves every image size.

The table ships as `natural_spectrum.json` next to this module; it was computed with

    python -m generator.dataset.spectrum PHOTO_FOLDER [--size 128]

(the project computed it from the 1000 photos of the ImageNet sample at 128 px). `magnitude(size)`
interpolates it onto a size's rfft2 grid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch

from generator.optvis.basis import COLOR_CORRELATION_NORMALIZED, rfft2d_freqs

SPECTRUM_FILE = Path(__file__).with_name("natural_spectrum.json")
BINS = 48  # radial bins from 0 to sqrt(0.5) cycles/pixel


def _bin_edges() -> torch.Tensor:
    return torch.linspace(0.0, 0.5**0.5 + 1e-6, BINS + 1)


def measure(views: Sequence[torch.Tensor], size: int = 128) -> dict[str, object]:
    """Radially binned mean |rfft2| (ortho) per colour channel of photos given as (3, size, size)
    uint8 views (`python -m generator.dataset.spectrum FOLDER` reads them from a folder)."""

    inverse = torch.linalg.inv(COLOR_CORRELATION_NORMALIZED)
    freqs = rfft2d_freqs(size, size)
    which = torch.bucketize(freqs.flatten(), _bin_edges()[1:-1])
    sums = torch.zeros(3, BINS, dtype=torch.float64)
    dc = torch.zeros(3, dtype=torch.float64)
    for view in views:
        x = (view.float() / 255).clamp(1 / 255, 254 / 255)
        z = torch.einsum("ij,jhw->ihw", inverse, torch.logit(x))  # un-mix the colours
        mag = torch.fft.rfft2(z, norm="ortho").abs().flatten(1).double()
        dc += mag[:, 0]
        mag[:, 0] = 0  # the mean brightness is kept apart from the lowest frequencies
        sums.index_add_(1, which, mag)
    counts = torch.bincount(which[1:], minlength=BINS).double().clamp(min=1) * len(views)
    profile = (sums / counts).float()
    return {
        "size": size,
        "photos": len(views),
        "bin_edges_cycles_per_pixel": [round(v, 6) for v in _bin_edges().tolist()],
        "magnitude": [[round(v, 6) for v in row] for row in profile.tolist()],
        "dc_per_pixel": [round(v / size / len(views), 6) for v in dc.tolist()],
    }


@lru_cache(maxsize=1)
def _table() -> tuple[torch.Tensor, torch.Tensor]:
    data = json.loads(SPECTRUM_FILE.read_text(encoding="utf-8"))
    return torch.tensor(data["magnitude"]), torch.tensor(data["dc_per_pixel"])  # (3, BINS), (3,)


def magnitude(size: int) -> torch.Tensor:
    """(3, size, size // 2 + 1): the natural magnitude on a size x size image's rfft2 grid (the
    mean brightness's term scaled with the side, as the orthonormal transform scales it)."""
    freqs = rfft2d_freqs(size, size)
    which = torch.bucketize(freqs, _bin_edges()[1:-1])
    profile, dc = _table()
    table = profile[:, which].clone()
    table[:, 0, 0] = dc * size
    return table

