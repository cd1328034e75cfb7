"""Running top-k / bottom-k tables: one layer's scan state, merged batch by batch.

Per (image, channel) a batch is reduced to the spatial maximum, minimum, their positions and the
spatial mean; no full activation map outlives its batch. The state can be saved and restored, so a
scan can checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch

from generator.dataset.fields import ReceptiveField
from generator.dataset.store import FORMAT_VERSION
from generator.models.base import LayerInfo


class _Extremes:
    """Running top-k (largest) or bottom-k (smallest) per channel, ties in image order (by id,
    whatever order the images come in)."""

    def __init__(
        self, channels: int, k: int, largest: bool, device: torch.device, vectors: bool
    ) -> None:
        fill = -math.inf if largest else math.inf
        self.k, self.largest = k, largest
        self.values = torch.full((channels, k), fill, device=device)
        self.ids = torch.full((channels, k), -1, dtype=torch.long, device=device)
        self.pos = torch.zeros((channels, k), dtype=torch.long, device=device)
        self.vectors = torch.zeros((channels, k, channels), device=device) if vectors else None

    def merge(
        self, values: torch.Tensor, pos: torch.Tensor, ids: torch.Tensor, vecs: torch.Tensor
    ) -> None:
        """values, pos: (C, B); ids: (B,); vecs: (B, C) layer vectors of the batch's images."""
        channels, batch = values.shape
        all_values = torch.cat([self.values, values], dim=1)
        all_ids = torch.cat([self.ids, ids.expand(channels, batch)], dim=1)
        by_id = torch.sort(all_ids, dim=1, stable=True).indices
        ranked = torch.sort(all_values.gather(1, by_id), dim=1, descending=self.largest,
                            stable=True)
        order = by_id.gather(1, ranked.indices[:, : self.k])
        self.values = all_values.gather(1, order)
        self.ids = all_ids.gather(1, order)
        self.pos = torch.cat([self.pos, pos], dim=1).gather(1, order)
        if self.vectors is not None:
            old = order < self.k
            where = order.clamp(max=self.k - 1)[:, :, None].expand(-1, -1, channels)
            kept = self.vectors.gather(1, where)
            fresh = vecs[(order - self.k).clamp(min=0)]
            self.vectors = torch.where(old[:, :, None], kept, fresh)

    def table(self) -> dict[str, torch.Tensor]:
        return {"values": self.values.cpu(), "ids": self.ids.cpu(), "pos": self.pos.cpu()}

    def state(self) -> dict[str, torch.Tensor]:
        """The table, and the layer vectors of the photos in it once per photo: `rows` (U, C),
        the vectors of the U distinct photos the table holds, and `slot` (C, k), each entry's
        row (-1: empty). A photo in many channels' tables is one row, not one (C,) vector per
        entry: for a wide layer of a thousand photos a tenth of the (C, k, C) it restores."""
        out = self.table()
        if self.vectors is not None:
            filled = self.ids >= 0
            photos, row = torch.unique(self.ids[filled], return_inverse=True)
            slot = torch.full_like(self.ids, -1)
            slot[filled] = row
            rows = self.vectors.new_zeros((photos.numel(), self.vectors.shape[2]))
            rows[row] = self.vectors[filled]  # every entry of one photo holds the same vector
            out["rows"], out["slot"] = rows.cpu(), slot.cpu()
        return out

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        device = self.values.device
        self.values, self.ids, self.pos = (state[k].to(device) for k in ("values", "ids", "pos"))
        if self.vectors is None:
            return
        if "vectors" in state:  # the layout before the vectors were kept once per photo
            self.vectors = state["vectors"].to(device)
            return
        rows, slot = state["rows"].to(device), state["slot"].to(device)
        if rows.shape[0] == 0:  # no photo yet: the zeros it began with
            return
        vectors = rows[slot.clamp(min=0)]  # (C, k, C); an empty entry's is zeros, as it began
        self.vectors = torch.where((slot >= 0)[:, :, None], vectors, vectors.new_zeros(()))


class _LayerScan:
    """Everything one layer keeps across batches; memory is O(channels * k * channels)."""

    def __init__(
        self, info: LayerInfo, k: int, device: torch.device, sample: torch.Tensor | None = None
    ) -> None:
        """`sample`: per image id, whether the spectrum keeps its means (default: every image)."""
        c = info.channels
        self.info = info
        self.sample = None if sample is None else sample.to(device)
        self.top = _Extremes(c, k, True, device, vectors=True)
        self.bottom = _Extremes(c, k, False, device, vectors=False)
        self.total = torch.zeros(c, dtype=torch.float64, device=device)
        self.total_sq = torch.zeros(c, dtype=torch.float64, device=device)
        self.best_mean = torch.full((c,), -math.inf, device=device)
        self.floor = torch.full((c,), math.inf, device=device)  # the lowest value of any photo
        self.at_floor = torch.zeros(c, dtype=torch.long, device=device)  # photos reaching it
        self.count = 0
        self.sample_ids: list[torch.Tensor] = []
        self.sample_means: list[torch.Tensor] = []

    def update(self, act: torch.Tensor, ids: torch.Tensor) -> None:
        flat = act.detach().float().flatten(2)  # (B, C, HW)
        high, high_at = flat.max(dim=2)
        low, low_at = flat.min(dim=2)
        means = flat.mean(dim=2)  # (B, C): the layer vector of each image
        self.top.merge(high.T, high_at.T, ids, means)
        self.bottom.merge(low.T, low_at.T, ids, means)
        self.total += means.double().sum(0)
        self.total_sq += (means.double() ** 2).sum(0)
        self.best_mean = torch.maximum(self.best_mean, means.max(dim=0).values)
        self._merge_floor(low)
        self.count += flat.shape[0]
        keep = torch.ones_like(ids, dtype=torch.bool) if self.sample is None else self.sample[ids]
        if keep.any():
            self.sample_ids.append(ids[keep].int().cpu())
            self.sample_means.append(means[keep].half().cpu())

    def _merge_floor(self, low: torch.Tensor) -> None:
        """low: (B, C) each photo's spatial minimum; keeps the lowest and how many reach it."""
        lowest = low.min(dim=0).values
        reached = (low == lowest).sum(dim=0)
        self.at_floor = torch.where(
            lowest < self.floor, reached, self.at_floor + reached * (lowest == self.floor)
        )
        self.floor = torch.minimum(self.floor, lowest)

    def state(self) -> dict[str, Any]:
        """Everything needed to go on from here (a checkpoint), as tensors and ints."""
        return {
            "top": self.top.state(),
            "bottom": self.bottom.state(),
            "total": self.total.cpu(),
            "total_sq": self.total_sq.cpu(),
            "best_mean": self.best_mean.cpu(),
            "floor": self.floor.cpu(),
            "at_floor": self.at_floor.cpu(),
            "count": self.count,
            "sample_ids": list(self.sample_ids),
            "sample_means": list(self.sample_means),
        }

    def restore(self, state: dict[str, Any]) -> None:
        device = self.total.device
        self.top.restore(state["top"])
        self.bottom.restore(state["bottom"])
        self.total, self.total_sq, self.best_mean, self.floor, self.at_floor = (
            state[k].to(device) for k in ("total", "total_sq", "best_mean", "floor", "at_floor")
        )
        self.count = int(state["count"])
        self.sample_ids, self.sample_means = list(state["sample_ids"]), list(state["sample_means"])

    def result(self, field: ReceptiveField) -> dict[str, Any]:
        n = max(self.count, 1)
        mean = self.total / n
        var = (self.total_sq / n - mean**2).clamp(min=0)
        valid = (self.top.ids >= 0).float()
        assert self.top.vectors is not None
        pattern = (self.top.vectors * valid[:, :, None]).sum(1)
        pattern /= valid.sum(1, keepdim=True).clamp(min=1)
        sample_ids = torch.cat(self.sample_ids or [torch.zeros(0, dtype=torch.int32)])
        sample_means = torch.cat(
            self.sample_means or [torch.zeros(0, self.info.channels, dtype=torch.float16)]
        )
        by_id = sample_ids.argsort(stable=True)  # images in folder order, however they came
        return {
            "format": FORMAT_VERSION,
            "layer": asdict(self.info),
            "field": asdict(field),
            "top": self.top.table(),
            "bottom": self.bottom.table(),
            "mean": mean.float().cpu(),
            "std": var.sqrt().float().cpu(),
            "best_mean": self.best_mean.cpu(),
            "at_floor": self.at_floor.cpu(),
            "pattern": pattern.cpu(),
            "sample_ids": sample_ids[by_id],
            "sample_means": sample_means[by_id],
        }


def renumbered(state: dict[str, Any], ids: torch.Tensor, sample: torch.Tensor) -> dict[str, Any]:
    """A layer's scan state (`_LayerScan.state()`) with each image id `i` made `ids[i]` (ids that
    keep their order: the photos' positions in a folder that has gained photos), and the
    spectrum's sample cut to the images `sample` (by new id) keeps."""
    out = dict(state)
    for kind in ("top", "bottom"):
        table = dict(state[kind])
        old = table["ids"]
        table["ids"] = torch.where(old >= 0, ids[old.clamp(min=0)], old)
        out[kind] = table
    sample_ids, sample_means = [], []
    for chunk, means in zip(state["sample_ids"], state["sample_means"], strict=True):
        new = ids[chunk.long()]
        keep = sample[new]
        sample_ids.append(new[keep].int())
        sample_means.append(means[keep])
    out["sample_ids"], out["sample_means"] = sample_ids, sample_means
    return out
