"""manifest.json: every visualization the site shows, with its spec, images and measured numbers.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from generator import __version__
from generator.cache.sidecar import Artifact
from generator.core.errors import FeatvisError
from generator.figures.channels import set_channel, single_channel
from generator.figures.checks import (
    class_reading,
    pattern_agreement,
)
from generator.jobs import VisJob
from generator.metrics import relative_activation
from generator.site.env import shown_weights
from generator.site.state import ModelState, RenderState


def manifest_json(manifest: dict[str, Any]) -> str:
    """The manifest as JSON: a line per top-level key, and a line per item of a list (a
    visualization, a channel), each written by the C encoder (`indent` would use the pure-Python
    one, many times slower on a `full` site's thousands of entries)."""

    def dumps(value: Any) -> str:
        return json.dumps(value, allow_nan=False)

    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value:
            items = ",\n  ".join(dumps(item) for item in value)
            lines.append(f"{dumps(key)}: [\n  {items}\n ]")
        else:
            lines.append(f"{dumps(key)}: {dumps(value)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


class ManifestPart(RenderState):
    """Records each visualization the pages use and writes the manifest."""

    def _use(self, job: VisJob, where: str) -> None:
        """Record a visualization for the manifest and place all of its images."""
        entry = self.used.get(job.key)
        if entry is None:
            ctx = self._ctx_of(job.model)
            art = ctx.artifact(job)
            if art is None:
                return
            meta = art.sidecar
            entry = {
                "key": job.key,
                "job": meta.job,  # the sidecar's spec, checked equal to the job's
                "objectives": [o.describe(ctx.shown) for o in job.objectives],  # as shown
                "images": [self.images.artifact_image(p) for p in art.images],
                "snapshots": {
                    str(step): [self.images.artifact_image(p) for p in paths]
                    for step, paths in sorted(art.snapshots.items())
                },
                "numbers": {
                    "final_objective": list(meta.final),
                    # a diversity set's: each image's channel activation, without the
                    # diversity term (null: not recorded by the featvis that computed it)
                    **({"activation": None if meta.unit is None else list(meta.unit)}
                       if set_channel(job) else {}),
                    "high_freq_share": list(meta.metrics.high_freq_share),
                    "clipped_fraction": list(meta.metrics.clipped_fraction),
                    "mean_pairwise_similarity": meta.metrics.mean_pairwise_similarity,
                    "relative_to_strongest_photo": self._relative(job, art),
                    **self._checks(job),
                },
                "device": meta.device,
                "seconds": meta.seconds,
                "versions": meta.versions,
                "used_on": [],
            }
            self.used[job.key] = entry
        if where not in entry["used_on"]:
            entry["used_on"].append(where)

    def _checks(self, job: VisJob) -> dict[str, Any]:
        """The pattern check and the class reading of a one-channel visualization, as JSON."""
        unit = single_channel(job)
        ctx = self._ctx_of(job.model)
        check = pattern_agreement(ctx, job, *unit) if unit else None
        reading = class_reading(ctx, job, *unit) if unit else None
        return {
            "pattern_agreement": None
            if check is None
            else {"cosine": check.cosine, "spearman": check.spearman},
            "class_reading": None
            if reading is None
            else {
                "picture": [list(c) for c in reading.picture],
                "top_photo": [*reading.photo, reading.photo_file],
                "meets": reading.meets,
                "among": reading.among,
            },
        }

    def _relative(self, job: VisJob, art: Artifact) -> list[float | None] | None:
        unit = single_channel(job) or set_channel(job)
        dataset = self._ctx_of(job.model).dataset
        if unit is None or dataset is None:
            return None
        values = art.sidecar.unit if single_channel(job) is None else art.sidecar.final
        if values is None:
            return None
        try:
            strongest = dataset.strongest_mean(*unit)
        except (FeatvisError, AttributeError):
            return None
        return [relative_activation(v, strongest) if v is not None else None for v in values]

    def _channels(self, state: ModelState) -> list[dict[str, Any]]:
        """Per channel with a page of `state`'s model: its model, URL, circuit (inputs and
        outputs with weights and the method) and labels, in the model's layer order."""
        info = state.channel_info
        depth = {layer.name: layer.depth for layer in state.model.layers}
        return [
            {
                "model": state.model.id,
                "layer": layer,
                "channel": channel,
                "page": entry["page"],
                "circuit": entry["circuit"],
                "labels": entry["labels"],
                **({"accentuation": entry["accentuation"]} if entry["accentuation"] else {}),
                **({"legibility": entry["legibility"]} if entry.get("legibility") else {}),
            }
            for (layer, channel), entry in sorted(
                info.items(), key=lambda kv: (depth[kv[0][0]], kv[0][1])
            )
        ]

    def _write_manifest(self) -> None:
        manifest = {
            "featvis": __version__,
            "site": self.config.title,
            "model": {
                "id": self.states[0].model.id,
                "weights": shown_weights(self.states[0].model.weights_source, self.config.root),
                "weights_digest": self.states[0].model.weights_digest,
            },
            "models": [
                {
                    "id": state.model.id,
                    "weights": shown_weights(state.model.weights_source, self.config.root),
                    "weights_digest": state.model.weights_digest,
                    "input_size": state.model.input_size,
                    # [H, W], the one size it takes (null: it takes others)
                    "input_shape": list(state.model.input_shape)
                    if state.model.fixed_input else None,
                    "input_channels": state.model.input_channels,  # 1: a grey network
                    "layers": [
                        {
                            "name": info.name,
                            "channels": info.channels,
                            "band": info.band,
                            "explorer": info.name in state.layers,
                        }
                        for info in state.model.layers
                    ],
                }
                for state in self.states
            ],
            "preset": {  # `featvis status` reads it: the settings this site was built with
                "name": self.preset.name,
                "size": self.preset.size,
                "steps": self.preset.steps,
                "explorer_channels": self.preset.explorer_channels,  # null: every channel
                "closure": self.preset.closure,
            },
            "torch": torch.__version__,
            "pages": [p.url for p in self.pages if not p.is_home],
            "visualizations": sorted(self.used.values(), key=lambda e: e["key"]),
            "channels": [row for state in self.states for row in self._channels(state)],
        }
        self.writer.text("manifest.json", manifest_json(manifest), "manifest")
