"""Visualization jobs: frozen specs with a content hash, and the planner that batches them.

A `VisJob` is everything that determines a visualization's pixels: the model and a digest of its
weights, one objective per image (one image for most figures, several for a diversity set or an
interpolation row, which then form one group in the batch), parameterization, transforms, steps,
snapshot steps, sizes, learning rate and seed. Its `key` hashes the canonical JSON of the spec
together with `FORMAT_VERSION`; change any field and the key changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from generator.optvis.objectives import Objective
from generator.optvis.param import ParamSpec
from generator.optvis.render import RenderSettings
from generator.optvis.transforms import TransformSpec

FORMAT_VERSION = 1


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class VisJob:
    model: str
    weights_digest: str
    objectives: tuple[Objective, ...]
    param: ParamSpec = field(default_factory=ParamSpec)
    transforms: TransformSpec = field(default_factory=TransformSpec)
    steps: int = 256
    size: int = 128
    input_size: int | None = None
    lr: float = 0.05
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()

    @property
    def n_images(self) -> int:
        return len(self.objectives)

    @property
    def seeds(self) -> list[int]:
        """Image k of the job uses seed + k."""
        return [self.seed + k for k in range(self.n_images)]

    def settings(self) -> RenderSettings:
        return RenderSettings(
            size=self.size, steps=self.steps, lr=self.lr, param=self.param,
            transforms=self.transforms, snapshot_steps=self.snapshot_steps,
            input_size=self.input_size,
        )

    def batch_signature(self) -> str:
        """Jobs with equal signatures can share one optimizer batch."""
        spec = self.to_dict()
        for key in ("objectives", "seed"):
            spec.pop(key)
        return canonical_json(spec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights_digest": self.weights_digest,
            "objectives": [o.to_dict() for o in self.objectives],
            "param": asdict(self.param),
            "transforms": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.transforms).items()},
            "steps": self.steps,
            "size": self.size,
            "input_size": self.input_size,
            "lr": self.lr,
            "seed": self.seed,
            "snapshot_steps": list(self.snapshot_steps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VisJob:
        t = data["transforms"]
        return cls(
            model=data["model"],
            weights_digest=data["weights_digest"],
            objectives=tuple(Objective.from_dict(o) for o in data["objectives"]),
            param=ParamSpec(**data["param"]),
            transforms=TransformSpec(
                pad=t["pad"], jitter=t["jitter"], scales=tuple(t["scales"]),
                angles=tuple(t["angles"]), jitter2=t["jitter2"],
            ),
            steps=data["steps"],
            size=data["size"],
            input_size=data["input_size"],
            lr=data["lr"],
            seed=data["seed"],
            snapshot_steps=tuple(data["snapshot_steps"]),
        )

    @property
    def key(self) -> str:
        payload = canonical_json({"format": FORMAT_VERSION, "job": self.to_dict()})
        return hashlib.sha256(payload.encode()).hexdigest()[:24]
