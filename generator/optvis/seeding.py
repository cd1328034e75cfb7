"""Independent, reproducible random streams derived from one integer seed per image."""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, purpose: str) -> torch.Generator:
    """A CPU generator for one purpose ('init', 'transforms', ...) of one image's seed."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose))
