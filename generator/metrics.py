"""Quality numbers shown on pages, all measured, none assumed.

- `high_freq_share`: share of an image's spectral energy (mean removed) above half the Nyquist
  frequency, i.e. at radial frequencies above 0.25 cycles per pixel. Photos sit near 0.04 at
  128 px; noisy, checkerboarded visualizations much higher.
- `clipped_fraction`: share of pixel values at 0 or 255 once quantized to 8 bits.
- `mean_pairwise_similarity`: mean cosine similarity between images of a set (diversity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def mean_pairwise_similarity(images: torch.Tensor) -> float:
    """Mean cosine similarity between the mean-removed images of a set (1.0 = identical)."""
    x = _as_batch(images).flatten(1).double()
    x = F.normalize(x - x.mean(dim=1, keepdim=True), dim=1)
    n = x.shape[0]
    if n < 2:
        return 1.0
    sim = x @ x.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))
