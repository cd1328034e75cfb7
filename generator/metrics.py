"""Quality numbers shown on pages, all measured, none assumed.

- `high_freq_share`: share of an image's spectral energy (mean removed) above half the Nyquist
  frequency, i.e. at radial frequencies above 0.25 cycles per pixel. Photos sit near 0.04 at
  128 px; noisy, checkerboarded visualizations much higher.
- `clipped_fraction`: share of pixel values at 0 or 255 once quantized to 8 bits.
- `contrast_levels`: the 8-bit levels an image's values span in its most varied colour channel
  (the 1 % at either end left out); at most `FLAT_LEVELS` it is flat, a picture of no pattern,
  whose `high_freq_share` is the share of its faint residue (about three quarters for noise)
  and no measure of what a reader sees: pages show "flat" in its place.
- `mean_pairwise_similarity`: mean cosine similarity between images of a set (diversity).
- `relative_activation`: a visualization's activation as a multiple of the strongest photo's.
- `cosine_similarity`, `rank_correlation`: agreement of two activation patterns (the sanity check
  in `generator.dataset.check_patterns`).

`VERSION` names the code that computes the numbers stored with each artifact: change any number
these functions give and bump it, and every cached artifact measured by the old code is computed
again (the cache checks it on read), so a page never shows a stale number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

VERSION = 1  # of the numbers cached with each artifact; bump when any of them changes


def _as_batch(images: torch.Tensor) -> torch.Tensor:
    return images.unsqueeze(0) if images.dim() == 3 else images


def high_freq_share(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per image (n,3,H,W in [0,1]): energy above `cutoff` cycles/pixel over total energy."""
    x = _as_batch(images).double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs() ** 2
    h, w = x.shape[-2:]
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    high = (fx**2 + fy**2).sqrt() > cutoff
    total = power.sum(dim=(1, 2, 3)).clamp(min=1e-20)
    return (power * high).sum(dim=(1, 2, 3)).div(total).float()


def clipped_fraction(images: torch.Tensor) -> torch.Tensor:
    """Per image: share of 8-bit values equal to 0 or 255."""
    q = (_as_batch(images).clamp(0, 1) * 255).round()
    return ((q == 0) | (q == 255)).float().mean(dim=(1, 2, 3))


FLAT_LEVELS = 6  # at most this spread of 8-bit levels (2.4 % contrast) is a flat image


def contrast_levels(histogram: Sequence[int]) -> int:
    """The 8-bit levels between the 1st and the 99th percentile of an image's values, in the
    colour channel where they span the most (a uniform colour spans none), from its histogram
    as PIL's `Image.histogram` gives it: 256 counts per channel, one channel after the other."""
    spread = 0
    for start in range(0, len(histogram), 256):
        counts = histogram[start:start + 256]
        total, seen, low = sum(counts), 0, None
        for level, count in enumerate(counts):
            seen += count
            if low is None and seen > 0.01 * total:
                low = level
            if seen >= 0.99 * total:
                spread = max(spread, level - (low if low is not None else level))
                break
    return spread


def mean_pairwise_similarity(images: torch.Tensor) -> float:
    """Mean cosine similarity between the mean-removed images of a set (1.0 = identical)."""
    x = _as_batch(images).flatten(1).double()
    x = F.normalize(x - x.mean(dim=1, keepdim=True), dim=1)
    n = x.shape[0]
    if n < 2:
        return 1.0
    sim = x @ x.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def relative_activation(value: float, strongest: float) -> float | None:
    """`value` as a multiple of the strongest dataset photo's activation (the site writes e.g.
    "4.1x the strongest photo"); None when no photo drove the channel above zero, where a ratio
    would mislead."""
    if not math.isfinite(strongest) or strongest <= 0 or not math.isfinite(value):
        return None
    return float(value) / float(strongest)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of the angle between two vectors (0.0 when either is all zeros)."""
    a, b = a.flatten().double(), b.flatten().double()
    norm = a.norm() * b.norm()
    return float(a @ b / norm) if norm > 0 else 0.0


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1, ties given their average rank."""
    x = x.flatten().double()
    order = torch.argsort(x, stable=True)
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(x.numel(), dtype=torch.float64)
    values, inverse = torch.unique(x, return_inverse=True)
    sums = torch.zeros(values.numel(), dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.zeros_like(sums).index_add_(0, inverse, torch.ones_like(x))
    return (sums / counts)[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two equally long vectors (0.0 when either is constant)."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = ra.norm() * rb.norm()
    return float(ra @ rb / norm) if norm > 0 else 0.0
