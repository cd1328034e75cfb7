"""An artifact as the cache returns it, and its JSON sidecar (`meta.json`), read and written here.

`Sidecar` is the sidecar as a value: the job spec, the image and snapshot files (each with its
size and sha256), the objective's final value per image and its history per image and step, the
seconds and device, the versions of the code, the quality numbers (`Metrics`: high-frequency share
and clipped fraction per image, the mean pairwise similarity of a set) and which batch and process
computed it. A job with terms between its images (a diversity set) also records `unit`, its
objective per image less those terms: a diversity image's channel activation (absent from a
sidecar written before it was recorded; readers of the same version ignore it). Non-finite
floats are stored as null, so the JSON is strict.

`version` is the sidecar's layout (`SIDECAR_VERSION`); a sidecar written before it was recorded
has none and reads as version 1, the same keys. A sidecar of a later version, or one that does not
parse, is a `SidecarError`: the store reports it and computes the artifact again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator import metrics

SIDECAR_VERSION = 2  # 1: the layout before the sidecar recorded its version (the same keys)


class SidecarError(ValueError):
    """A sidecar that this code cannot read (malformed, or of a later version)."""


@dataclass(frozen=True)
class Metrics:
    """The quality numbers of a job's images (`generator.metrics`)."""

    high_freq_share: tuple[float | None, ...]
    clipped_fraction: tuple[float | None, ...]
    mean_pairwise_similarity: float | None

    @classmethod
    def of(cls, images: torch.Tensor) -> Metrics:
        return cls(
            high_freq_share=tuple(float_lists(metrics.high_freq_share(images))),
            clipped_fraction=tuple(float_lists(metrics.clipped_fraction(images))),
            mean_pairwise_similarity=(
                metrics.mean_pairwise_similarity(images) if images.shape[0] > 1 else None
            ),
        )


@dataclass(frozen=True)
class StoredFile:
    size: int
    sha256: str


@dataclass(frozen=True)
class Sidecar:
    """An artifact's sidecar (see the module docstring)."""

    cache_format: int
    key: str
    job: dict[str, Any]  # the job's spec, `VisJob.to_dict()`
    images: tuple[str, ...]  # one file name per image
    snapshots: dict[int, tuple[str, ...]]  # step -> one file name per image
    files: dict[str, StoredFile]
    final: tuple[float | None, ...]  # per image
    history: tuple[tuple[float | None, ...], ...]  # per image, per step
    seconds: float
    device: str
    versions: dict[str, str]
    metrics: Metrics
    metrics_version: int
    created: str
    batch: dict[str, Any] | None = None  # the batch that computed it: jobs, images, seconds
    worker: dict[str, Any] | None = None  # the process: rank, world, host
    version: int = field(default=SIDECAR_VERSION)
    # per image, the objective less its terms between images (a diversity set's channel
    # activation); None: a job without such terms, or a sidecar written before it was recorded
    unit: tuple[float | None, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The sidecar as JSON data, keyed as in the file."""
        data: dict[str, Any] = {
            "version": self.version,
            "cache_format": self.cache_format,
            "key": self.key,
            "job": self.job,
            "images": list(self.images),
            "snapshots": {str(s): list(names) for s, names in self.snapshots.items()},
            "files": {n: {"size": f.size, "sha256": f.sha256} for n, f in self.files.items()},
            "final": list(self.final),
            "history": [list(steps) for steps in self.history],
            "seconds": self.seconds,
            "device": self.device,
            "versions": self.versions,
            "metrics": {
                "high_freq_share": list(self.metrics.high_freq_share),
                "clipped_fraction": list(self.metrics.clipped_fraction),
                "mean_pairwise_similarity": self.metrics.mean_pairwise_similarity,
            },
            "metrics_version": self.metrics_version,
            "created": self.created,
        }
        for name in ("batch", "worker"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.unit is not None:
            data["unit"] = list(self.unit)
        return data

    def encode(self) -> bytes:
        """The file's bytes: strict JSON (no NaN), one line."""
        return (json.dumps(self.to_json(), allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: Any) -> Sidecar:
        """The sidecar of JSON `data`; a `SidecarError` naming what does not parse."""
        try:
            if not isinstance(data, dict):
                raise TypeError(f"a {type(data).__name__}, not an object")
            version = int(data.get("version", 1))
            if not 1 <= version <= SIDECAR_VERSION:
                raise SidecarError(
                    f"sidecar version {version} (this featvis reads up to {SIDECAR_VERSION})"
                )
            numbers = data["metrics"]
            return cls(
                version=version,
                cache_format=int(data["cache_format"]),
                key=str(data["key"]),
                job=dict(data["job"]),
                images=tuple(str(n) for n in data["images"]),
                snapshots={
                    int(s): tuple(str(n) for n in names) for s, names in data["snapshots"].items()
                },
                files={
                    str(n): StoredFile(int(f["size"]), str(f["sha256"]))
                    for n, f in data["files"].items()
                },
                final=tuple(_number(v) for v in data["final"]),
                history=tuple(tuple(_number(v) for v in steps) for steps in data["history"]),
                seconds=float(data["seconds"]),
                device=str(data["device"]),
                versions={str(k): str(v) for k, v in data.get("versions", {}).items()},
                metrics=Metrics(
                    high_freq_share=tuple(_number(v) for v in numbers["high_freq_share"]),
                    clipped_fraction=tuple(_number(v) for v in numbers["clipped_fraction"]),
                    mean_pairwise_similarity=_number(numbers.get("mean_pairwise_similarity")),
                ),
                metrics_version=int(data.get("metrics_version", 1)),
                created=str(data.get("created", "")),
                batch=data.get("batch"),
                worker=data.get("worker"),
                unit=None if data.get("unit") is None else tuple(
                    _number(v) for v in data["unit"]
                ),
            )
        except SidecarError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SidecarError(f"malformed sidecar: {type(exc).__name__} {exc}"[:200]) from None


def read_sidecar(path: Path) -> Sidecar:
    """The sidecar in `path`: `FileNotFoundError` when there is none, `OSError` when it cannot
    be read, `SidecarError` when it does not parse."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SidecarError(f"unreadable {path.name}: {type(exc).__name__}") from None
    return Sidecar.from_json(data)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Artifact:
    key: str
    dir: Path
    images: tuple[Path, ...]
    snapshots: dict[int, tuple[Path, ...]]
    sidecar: Sidecar


def float_lists(values: torch.Tensor) -> list[Any]:
    """A tensor as nested lists of floats, non-finite values as None (strict JSON)."""
    data = values.detach().cpu().double().tolist()

    def fix(x: Any) -> Any:
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x if np.isfinite(x) else None

    return fix(data)
