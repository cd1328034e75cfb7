"""An artifact as the cache returns it, and the numbers its JSON sidecar records.

`Artifact.meta` is the sidecar: "job" (the spec), "final" [per image], "history" [per image [per
step]], "seconds", "device", "versions" and "metrics" (`job_metrics`): high-frequency share and
clipped fraction per image, and the mean pairwise similarity of a set. Non-finite floats are
stored as null, so the JSON is strict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator import metrics


@dataclass(frozen=True)
class Artifact:
    key: str
    dir: Path
    images: tuple[Path, ...]
    snapshots: dict[int, tuple[Path, ...]]
    meta: dict[str, Any]


def float_lists(values: torch.Tensor) -> list[Any]:
    """A tensor as nested lists of floats, non-finite values as None (strict JSON)."""
    data = values.detach().cpu().double().tolist()

    def fix(x: Any) -> Any:
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x if np.isfinite(x) else None

    return fix(data)


def metrics_version(meta: dict[str, Any]) -> int:
    """The metrics version a sidecar's numbers were computed by (1: before it was recorded)."""
    return int(meta.get("metrics_version", 1))


def job_metrics(images: torch.Tensor) -> dict[str, Any]:
    return {
        "high_freq_share": float_lists(metrics.high_freq_share(images)),
        "clipped_fraction": float_lists(metrics.clipped_fraction(images)),
        "mean_pairwise_similarity": (
            metrics.mean_pairwise_similarity(images) if images.shape[0] > 1 else None
        ),
    }
