"""Image conversions shared by the cache, the figures and the commands.

Tensors are (3, H, W) floats in [0, 1] on any device; PNG bytes are 8-bit RGB and deterministic
for equal input. Nothing here knows a model or a page.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Rec. 601 luma weights, as PIL's "L" mode and torchvision's `rgb_to_grayscale` use them; they sum
# to 1, so a grey picture (R = G = B) keeps its value and an affine normalization commutes with them
LUMA = (0.299, 0.587, 0.114)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB -> (..., 1, H, W): the luma of each pixel (`LUMA`)."""
    weights = torch.tensor(LUMA, device=images.device, dtype=images.dtype).view(3, 1, 1)
    return (images * weights).sum(dim=-3, keepdim=True)


def grey(images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB -> the same shape with R = G = B = the luma (a grey picture)."""
    return luminance(images).expand_as(images).contiguous()


def png_bytes(image: torch.Tensor) -> bytes:
    """(3,H,W) in [0,1] -> 8-bit RGB PNG bytes (deterministic for equal input)."""
    q = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(q.permute(1, 2, 0).numpy()), "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def image_tensor(img: Image.Image) -> torch.Tensor:
    """(3, H, W) in [0, 1] of a PIL image (converted to RGB)."""
    rgb = img.convert("RGB")
    data = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
    return data.view(rgb.height, rgb.width, 3).permute(2, 0, 1).float() / 255.0


def load_tensor(path: Path) -> torch.Tensor:
    with Image.open(path) as img:
        return image_tensor(img)


def to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array)


def filter_image(weights: torch.Tensor, scale: float, size: int = 72) -> Image.Image:
    """One (3, k, k) filter as an RGB picture: grey is 0, brighter/darker a positive/negative
    weight on that colour; `scale` maps to full brightness (the filter's own largest |weight|)."""
    rgb = (0.5 + 0.5 * weights / max(scale, 1e-12)).clamp(0, 1)
    data = (rgb * 255).round().byte().permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(data, "RGB").resize((size, size), Image.Resampling.NEAREST)
