"""What to maximize. Objectives compose with `+`, `-`, unary `-` and `*` by a number.

An `Objective` is a weighted sum of `Term`s. Terms read activations of named layers (channel,
neuron, layer/DeepDream, direction, diversity, alignment), the logits (class logit and
probability) or the image itself (L1, total variation, blur penalties). The optimizer maximizes
the sum. As in lucid, penalties are positive and subtracted, so a regularized objective reads
`channel(L, 3) - 0.05 * l1()`; diversity and alignment are rewards (negative similarity, negative
distance) and are added: `channel(L, 3) + 5 * diversity(L)`.

`evaluate` scores a whole batch at once, each image under its own objective: terms are grouped by
kind and layer and each group is one gathered tensor operation, so a batch of 64 different
channels costs one indexing op, not 64 slices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..core.errors import FeatvisError
from ..models.hooks import shown_unit

LAYER_KINDS = ("channel", "neuron", "layer", "direction", "diversity", "alignment")
# words a layer's path, or with a channel that channel of it (`models.hooks.shown_unit`)
Shown = Callable[[str, int | None], str]
LOGIT_KINDS = ("class_logit", "class_prob")
IMAGE_KINDS = ("l1", "tv", "blur")
TERM_KINDS = LAYER_KINDS + LOGIT_KINDS + IMAGE_KINDS
GROUP_KINDS = ("diversity", "alignment")


@dataclass(frozen=True)
class Term:
    kind: str
    layer: str | None = None
    channel: int | None = None
    x: int | None = None
    y: int | None = None
    cls: int | None = None
    vector: tuple[float, ...] | None = None
    decay: float | None = None
    # a channel (or neuron) term's pre-activation (`models.preact`): while the channel is flat
    # at every position of an image (a ReLU's floor: no gradient), the pre-activation's mean
    # leads it; a neuron, while it is at its channel's lowest value, the pre-activation there
    via: str | None = None
    # the pre-activation's channel where it is not the term's own (a layer whose channels have
    # their pre-activations one by one: `models.perchannel`); None: the term's channel
    via_channel: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in TERM_KINDS:
            raise ValueError(f"unknown objective '{self.kind}' (valid: {', '.join(TERM_KINDS)})")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
            if v is not None
        }

    def describe(self, shown: Shown = shown_unit) -> str:
        """The term in words, its layer (and channel) as `shown` words them: `channel
        blocks.1.0:3`, and at a path a reader would not read as a layer's name (a module's
        input, a floor's input, branches side by side: `models.hooks`) `channel 3 of the input
        of layer1.0.relu`."""
        if self.kind in LOGIT_KINDS:
            return f"{self.kind} {self.cls}"
        if self.kind in LAYER_KINDS and self.layer is not None:
            channel = self.channel if self.kind in ("channel", "neuron") else None
            return f"{self.kind} {shown(self.layer, channel)}"
        return self.kind


@dataclass(frozen=True)
class Objective:
    terms: tuple[tuple[float, Term], ...]

    # Composition ---------------------------------------------------------------------------
    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms)

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)

    def __neg__(self) -> Objective:
        return self * -1.0

    def __mul__(self, k: float) -> Objective:
        return Objective(tuple((w * float(k), t) for w, t in self.terms))

    __rmul__ = __mul__

    # Introspection -------------------------------------------------------------------------
    @property
    def layers(self) -> frozenset[str]:
        return frozenset(name for _, t in self.terms for name in (t.layer, t.via) if name)

    @property
    def needs_logits(self) -> bool:
        return any(t.kind in LOGIT_KINDS for _, t in self.terms)

    def describe(self, shown: Shown = shown_unit) -> str:
        """The objective in words (`Term.describe`, its paths worded by `shown`)."""
        parts = []
        for w, t in self.terms:
            sign = "-" if w < 0 else "+"
            mag = "" if abs(w) == 1 else f"{abs(w):g}·"
            parts.append(f"{sign} {mag}{t.describe(shown)}")
        return " ".join(parts).lstrip("+ ").strip()

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"weight": w, **t.to_dict()} for w, t in self.terms]

    @classmethod
    def from_dict(cls, data: Iterable[Mapping[str, Any]]) -> Objective:
        terms = []
        for item in data:
            fields = dict(item)
            weight = float(fields.pop("weight", 1.0))
            if "vector" in fields:
                fields["vector"] = tuple(float(v) for v in fields["vector"])
            terms.append((weight, Term(**fields)))
        return cls(tuple(terms))


def _one(term: Term) -> Objective:
    return Objective(((1.0, term),))


def channel(layer: str, ch: int, via: str | tuple[str, int] | None = None) -> Objective:
    """Mean activation of one channel over all positions. With `via` (the layer's pre-activation,
    `models.preact`, or a pre-activation and its channel there: `negative_of`), an image on
    which the channel is flat everywhere (at a ReLU's floor, where no gradient reaches the
    image) is led by the pre-activation's mean until the channel moves; the value is the
    channel's alone, and an image on which it moves is optimized as without."""
    return _one(Term("channel", layer=layer, channel=int(ch), **_via(ch, via)))


def neuron(
    layer: str, ch: int, x: int | None = None, y: int | None = None,
    via: str | tuple[str, int] | None = None,
) -> Objective:
    """One channel at one position (the centre by default); with `via`, led as `channel` is, by
    the pre-activation at that position, while the neuron is at its channel's lowest value."""
    return _one(Term("neuron", layer=layer, channel=int(ch), x=x, y=y, **_via(ch, via)))


def _via(ch: int, via: str | tuple[str, int] | None) -> dict[str, Any]:
    """A term's `via` and `via_channel` (None where it is the term's own channel)."""
    if not isinstance(via, tuple):
        return {"via": via}
    path, there = via
    return {"via": path, "via_channel": None if there == ch else int(there)}


def deepdream(layer: str) -> Objective:
    """The whole layer: mean squared activation (DeepDream)."""
    return _one(Term("layer", layer=layer))


def direction(layer: str, vector: Sequence[float]) -> Objective:
    """A direction in channel space: mean over positions of the dot product with `vector`."""
    return _one(Term("direction", layer=layer, vector=tuple(float(v) for v in vector)))


def class_logit(cls: int) -> Objective:
    return _one(Term("class_logit", cls=int(cls)))


def class_prob(cls: int) -> Objective:
    """The class probability, maximized through its logarithm (log-softmax): the probability's
    own gradient vanishes while it is small, and Adam's sign-like first steps then wander off."""
    return _one(Term("class_prob", cls=int(cls)))


def l1() -> Objective:
    """Penalty: mean |x - 0.5| (subtract it to pull pixels towards grey)."""
    return _one(Term("l1"))


def total_variation() -> Objective:
    """Penalty: mean absolute difference between neighbouring pixels."""
    return _one(Term("tv"))


def blur() -> Objective:
    """Penalty: mean squared distance from a blurred copy of the image."""
    return _one(Term("blur"))


def diversity(layer: str) -> Objective:
    """Mean negative cosine similarity of Gram matrices between images of one group."""
    return _one(Term("diversity", layer=layer))


def alignment(layer: str, decay: float = 2.0) -> Objective:
    """Negative L2 distance between neighbouring images of a group at `layer` (interpolation)."""
    return _one(Term("alignment", layer=layer, decay=float(decay)))


# Evaluation -------------------------------------------------------------------------------


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
