"""Device selection: `auto` (CUDA when available), `cpu`, `cuda`, `cuda:N`. Always explicit."""

from __future__ import annotations

import re

import torch

from generator.core.errors import FeatvisError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N"


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn a device spec into a torch.device, failing clearly when it cannot run here."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not m:
        raise FeatvisError(f"unknown device '{spec}' (valid: {DEVICE_CHOICES})")
    if not torch.cuda.is_available():
        raise FeatvisError(
            f"device '{spec}' asked for, but CUDA is not available here (valid: auto, cpu)"
        )
    if m.group(1) is not None:
        index = int(m.group(1))
        count = torch.cuda.device_count()
        if index >= count:
            raise FeatvisError(
                f"device '{spec}' does not exist (this machine has cuda:0..cuda:{count - 1})"
            )
        return torch.device("cuda", index)
    return torch.device("cuda")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
