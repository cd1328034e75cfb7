"""Scoring a batch of images, each under its own `Objective` (`optvis.objectives`): terms are
grouped by kind and layer and each group is one gathered tensor operation, so a batch of 64
different channels costs one indexing op, not 64 slices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..core.errors import FeatvisError
from .objectives import GROUP_KINDS, IMAGE_KINDS, LOGIT_KINDS, Objective, Term


def _blur3(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.full((3, 1, 3, 3), 1.0 / 9.0, device=x.device, dtype=x.dtype)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)


def _image_term(kind: str, images: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return (images - 0.5).abs().mean(dim=(1, 2, 3))
    if kind == "tv":
        dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return dx + dy
    return ((images - _blur3(images).detach()) ** 2).mean(dim=(1, 2, 3))


def _gram_cosine(acts: torch.Tensor) -> torch.Tensor:
    flat = acts.flatten(2)
    gram = torch.bmm(flat, flat.transpose(1, 2)).flatten(1)
    gram = F.normalize(gram, dim=1)
    return gram @ gram.T


def _group_term(term: Term, acts: torch.Tensor) -> torch.Tensor:
    """Per-image values of a group term, `acts` holding the group's images in order."""
    n = acts.shape[0]
    if n < 2:
        return acts.new_zeros(n)
    if term.kind == "diversity":
        sim = _gram_cosine(acts)
        return -(sim.sum(dim=1) - sim.diagonal()) / (n - 1)
    values = acts.new_zeros(n)
    decay = term.decay or 2.0
    for d in range(1, min(4, n - 1) + 1):
        dist = ((acts[:-d] - acts[d:]) ** 2).mean(dim=(1, 2, 3)) / decay**d
        values = values.index_add(0, torch.arange(n - d, device=acts.device), -dist / 2)
        values = values.index_add(0, torch.arange(d, n, device=acts.device), -dist / 2)
    return values


class CompiledObjectives:
    """One objective per image of a batch, grouped for vectorized evaluation."""

    def __init__(
        self, objectives: Sequence[Objective], groups: Sequence[int] | None = None
    ) -> None:
        self.n = len(objectives)
        self.groups = list(groups) if groups is not None else list(range(self.n))
        self.by_key: dict[tuple[Any, ...], list[tuple[int, float, Term]]] = defaultdict(list)
        for i, obj in enumerate(objectives):
            for w, t in obj.terms:
                self.by_key[(t.kind, t.layer)].append((i, w, t))
        self.layers = frozenset(name for o in objectives for name in o.layers)
        self.needs_logits = any(o.needs_logits for o in objectives)
        # a term between a group's images (diversity, alignment) somewhere in the batch
        self.grouped = any(kind in GROUP_KINDS for kind, _ in self.by_key)
        # Index tensors are built once per device, not once per step (on a GPU each would be a
        # host-to-device copy in every step).
        self._consts: dict[tuple[Any, ...], torch.Tensor] = {}
        self._checked = False

    def _const(self, name: Any, key: Any, device: torch.device, values: Any, dtype=None):  # type: ignore[no-untyped-def]
        k = (name, key, device, dtype)
        t = self._consts.get(k)
        if t is None:
            t = self._consts[k] = torch.tensor(values, device=device, dtype=dtype)
        return t

    def _check_ranges(self, acts: Mapping[str, torch.Tensor], logits: torch.Tensor | None) -> None:
        """Channels, classes and directions against the shapes the model produced."""
        for (_, layer), items in self.by_key.items():
            for _, _, t in items:
                act = acts.get(layer) if layer else None
                if act is not None:
                    n = act.shape[1]
                    if t.channel is not None and not 0 <= t.channel < n:
                        raise FeatvisError(
                            f"{t.describe()}: channel out of range (valid: 0..{n - 1})"
                        )
                    if t.vector is not None and len(t.vector) != n:
                        raise FeatvisError(
                            f"direction on {layer}: {len(t.vector)} components for {n} channels"
                        )
                if t.cls is not None and logits is not None:
                    n = logits.shape[1]
                    if not 0 <= t.cls < n:
                        raise FeatvisError(
                            f"{t.describe()}: class out of range (valid: 0..{n - 1})"
                        )
        self._checked = True

    def evaluate(
        self,
        acts: Mapping[str, torch.Tensor],
        logits: torch.Tensor | None,
        images: torch.Tensor,
        *,
        group_terms: bool = True,
    ) -> torch.Tensor:
        """Per-image objective values, shape (n,); without `group_terms`, less the terms between
        images of a group (diversity, alignment): a diversity image's channel activation."""
        if not self._checked:
            self._check_ranges(acts, logits)
        device = images.device
        total = images.new_zeros(self.n)
        for key, items in self.by_key.items():
            kind, layer = key
            rows = self._const("rows", key, device, [i for i, _, _ in items])
            weights = self._const("w", key, device, [w for _, w, _ in items], images.dtype)
            if kind in GROUP_KINDS:
                if not group_terms:
                    continue
                values = self._grouped(key, items, acts[layer])
            else:
                values = self._plain(
                    key, items, rows, acts.get(layer) if layer else None, logits, images
                )
                if kind in ("channel", "neuron") and any(t.via for _, _, t in items):
                    values = values + self._wake(key, items, acts)
            total = total.index_add(0, rows, weights * values)
        return total

    def _plain(
        self,
        key: tuple[str, str | None],
        items: list[tuple[int, float, Term]],
        rows: torch.Tensor,
        act: torch.Tensor | None,
        logits: torch.Tensor | None,
        images: torch.Tensor,
    ) -> torch.Tensor:
        kind, device = key[0], rows.device
        if kind in IMAGE_KINDS:
            return _image_term(kind, images[rows])
        if kind in LOGIT_KINDS:
            assert logits is not None
            cls = self._const("cls", key, device, [t.cls for _, _, t in items])
            source = logits if kind == "class_logit" else logits.log_softmax(dim=1)
            return source[rows, cls]
        assert act is not None
        if kind == "layer":
            return (act[rows] ** 2).mean(dim=(1, 2, 3))
        if kind == "direction":
            vec = self._const("vec", key, device, [t.vector for _, _, t in items], act.dtype)
            return (act[rows] * vec[:, :, None, None]).sum(dim=1).mean(dim=(1, 2))
        chans = self._const("chans", key, device, [t.channel for _, _, t in items])
        if kind == "channel":
            return act[rows, chans].mean(dim=(1, 2))
        h, w = act.shape[-2:]
        ys = self._const(
            ("ys", h), key, device, [h // 2 if t.y is None else t.y for *_, t in items]
        )
        xs = self._const(
            ("xs", w), key, device, [w // 2 if t.x is None else t.x for *_, t in items]
        )
        return act[rows, chans, ys, xs]

    def _wake(
        self, key: tuple[str, str | None], items: list[tuple[int, float, Term]],
        acts: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """Zero in value, per item: for a term with `via` whose channel is flat at every position
        of its image, the gradient of its pre-activation's mean (see `channel`); for a neuron
        whose value is its channel's lowest on the image (at the floor, where it may stay while
        other positions rise), that of the pre-activation at its position."""
        act = acts[key[1]]  # type: ignore[index]
        out = act.new_zeros(len(items))
        by_via: dict[str, list[int]] = defaultdict(list)
        for k, (_, _, t) in enumerate(items):
            if t.via:
                by_via[t.via].append(k)
        for via, ks in by_via.items():
            dev = act.device
            rows = self._const(("wake-rows", via), key, dev, [items[k][0] for k in ks])
            chans = self._const(("wake-chans", via), key, dev, [items[k][2].channel for k in ks])
            there = self._const(("wake-there", via), key, dev, [
                t.channel if t.via_channel is None else t.via_channel
                for t in (items[k][2] for k in ks)
            ])
            maps = act[rows, chans].detach()
            low = maps.flatten(1).amin(dim=1)
            pre = acts[via][rows, there]
            if key[0] == "neuron":  # led while the neuron is at the channel's lowest value
                h, w = pre.shape[-2:]
                at_ys = [h // 2 if items[k][2].y is None else items[k][2].y for k in ks]
                at_xs = [w // 2 if items[k][2].x is None else items[k][2].x for k in ks]
                ys = self._const(("wake-ys", via, h), key, dev, at_ys)
                xs = self._const(("wake-xs", via, w), key, dev, at_xs)
                each = self._const(("wake-each", via), key, dev, list(range(len(ks))))
                flat = (maps[each, ys, xs] == low).to(act.dtype)
                pre = pre[each, ys, xs]
            else:
                flat = (maps.flatten(1).amax(dim=1) == low).to(act.dtype)
                pre = pre.mean(dim=(1, 2))
            at = self._const(("wake-at", via), key, dev, ks)
            out = out.index_put((at,), (pre - pre.detach()) * flat)
        return out

    def _grouped(
        self, key: tuple[str, str | None], items: list[tuple[int, float, Term]], act: torch.Tensor
    ) -> torch.Tensor:
        values = act.new_zeros(len(items))
        by_group: dict[int, list[int]] = defaultdict(list)
        for k, (i, _, _) in enumerate(items):
            by_group[self.groups[i]].append(k)
        for g, ks in by_group.items():
            rows = self._const(("group-rows", g), key, act.device, [items[k][0] for k in ks])
            v = _group_term(items[ks[0]][2], act[rows])
            values = values.index_put((self._const(("group-ks", g), key, act.device, ks),), v)
        return values
