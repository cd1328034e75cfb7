"""What to maximize. Objectives compose with `+`, `-`, unary `-` and `*` by a number.

An `Objective` is a weighted sum of `Term`s. Terms read activations of named layers (channel,
neuron, layer/DeepDream, direction, diversity, alignment), the logits (class logit and
probability) or the image itself (L1, total variation, blur penalties). The optimizer maximizes
the sum. As in lucid, penalties are positive and subtracted, so a regularized objective reads
`channel(L, 3) - 0.05 * l1()`; diversity and alignment are rewards (negative similarity, negative
distance) and are added: `channel(L, 3) + 5 * diversity(L)`.

`optvis.evaluate` scores a whole batch at once, each image under its own objective.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

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
