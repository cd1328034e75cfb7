"""The bases the parameterizations build images in: the Fourier grid's frequencies and the
decorrelated colour basis (the square root of ImageNet's colour correlation matrix)."""

from __future__ import annotations

import torch

# Square root of ImageNet's colour correlation matrix (from its SVD), as used by lucid.
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
)
_MAX_NORM = COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()
COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION_SVD_SQRT / _MAX_NORM


def rfft2d_freqs(h: int, w: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx * fx + fy * fy)
