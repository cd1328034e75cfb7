"""What a circuit is: the job that determines one matrix, the matrix, and a channel's reading.

A `CircuitJob` names one matrix `M` of shape (target channels, source channels): `M[t, s]` is how
much source channel s drives target channel t. Two kinds:

- `layers`: the source is a visualized layer before the target (the previous one in the
  explorer); row t read by sign gives t's strongest inputs, column s read by size the target
  channels s feeds most.
- `inputs`: the sources are the tensors the target layer's own module (a block) receives, split
  into `InputPart`s by the module that produced each range of channels (several for a
  concatenation); `residual` says the block adds its input to what it computes. When the block's
  only input is the previous visualized layer's output the matrix has no columns (the `layers`
  pair already measures it) and the parts and `residual` are all it records.

`rows` limits a job to some target channels (those a site shows: a sampled explorer layer has
pages for a few of its channels, and each row costs one backward pass); the matrix then has one
row per listed channel, in that order, and "feeds most" ranks only those. Empty means every
channel. The job's key (a content hash of its fields) names the cached matrix.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Literal

import torch

from generator.core.errors import FeatvisError
from generator.jobs import canonical_json

CIRCUITS_VERSION = 2
METHODS = ("attribution", "weights")
KINDS = ("layers", "inputs")
Method = Literal["attribution", "weights"]
Kind = Literal["layers", "inputs"]


@dataclass(frozen=True)
class CircuitJob:
    """Everything that determines one matrix. `inputs` identifies the images the attribution
    averages over (`images_digest`); it is "" for the weights method. For kind `inputs`,
    `source` is the previous visualized layer ("" when there is none)."""

    model: str
    weights_digest: str
    source: str
    target: str
    method: Method = "attribution"
    inputs: str = ""
    kind: Kind = "layers"
    rows: tuple[int, ...] = ()  # the target channels measured, ascending; () = all

    def __post_init__(self) -> None:
        rows = tuple(int(r) for r in self.rows)
        if list(rows) != sorted(set(rows)) or (rows and rows[0] < 0):
            raise FeatvisError(f"circuit rows must be ascending channel numbers, not {self.rows}")
        object.__setattr__(self, "rows", rows)
        if self.method not in METHODS:
            raise FeatvisError(
                f"unknown circuit method '{self.method}' (valid: {', '.join(METHODS)})"
            )
        if self.kind not in KINDS:
            raise FeatvisError(f"unknown circuit kind '{self.kind}' (valid: {', '.join(KINDS)})")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.kind == "layers":
            data.pop("kind")  # the first kind's keys stay what they were before there were two
        if self.rows:
            data["rows"] = list(self.rows)
        else:
            data.pop("rows")  # every row: the key is what it was before rows could be chosen
        return data

    @cached_property
    def key(self) -> str:
        payload = canonical_json({"circuits": CIRCUITS_VERSION, "job": self.to_dict()})
        return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class InputPart:
    """A range of a block's input channels and what produced it: `module` (its path in the
    network, "" when no module's output matches: the network's input or a function's result)
    and `layer` (the visualizable layer of that module, if it is one)."""

    module: str
    layer: str | None
    start: int
    channels: int

    @property
    def name(self) -> str:
        return self.layer or self.module or "the network's input"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Link:
    """One edge of a circuit: a channel of the other layer and its weight (`layer`: the part of
    a block's input the channel belongs to, for the `inputs` kind)."""

    channel: int
    weight: float
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel, "weight": self.weight}
        if self.layer is not None:
            out["layer"] = self.layer
        return out


@dataclass(frozen=True)
class LayerCircuit:
    """One job's matrix: `matrix[t, s]` = drive of source channel s on target channel t."""

    job: CircuitJob
    matrix: torch.Tensor  # (target channels, source channels), float32, CPU
    magnitude: torch.Tensor | None = None  # weights method: sum of |kernel|, same shape
    n_inputs: int = 0
    seconds: float = 0.0
    parts: tuple[InputPart, ...] = ()  # kind `inputs`: the column ranges and their producers
    residual: bool = False  # kind `inputs`: the block adds its input to its result

    @cached_property
    def _row_index(self) -> dict[int, int]:
        return {channel: i for i, channel in enumerate(self.job.rows)}

    def has_row(self, channel: int) -> bool:
        """Whether target `channel`'s row was measured."""
        return channel in self._row_index if self.job.rows else 0 <= channel < len(self.matrix)

    @property
    def measured_rows(self) -> int | None:
        """How many target channels were measured, None when all were."""
        return len(self.job.rows) if self.job.rows else None

    def inputs_of(self, channel: int, k: int = 5) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        """Target `channel`'s k strongest positive and k strongest negative source channels
        (none when its row was not measured)."""
        if not self.has_row(channel):
            return (), ()
        row = self._row_index[channel] if self.job.rows else channel
        return self._named(_extremes(self.matrix[row], k))

    def outputs_of(self, channel: int, k: int = 5) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        """The measured target channels source `channel` drives most, positively and
        negatively."""
        pos, neg = _extremes(self.matrix[:, channel], k)
        if not self.job.rows:
            return pos, neg
        rows = self.job.rows
        return (tuple(Link(rows[x.channel], x.weight) for x in pos),
                tuple(Link(rows[x.channel], x.weight) for x in neg))

    def _named(
        self, links: tuple[tuple[Link, ...], tuple[Link, ...]]
    ) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        """Columns as (part, channel within it) for the `inputs` kind."""
        if not self.parts:
            return links

        def name(link: Link) -> Link:
            part = next(p for p in self.parts if p.start <= link.channel < p.start + p.channels)
            return Link(link.channel - part.start, link.weight, part.name)

        return tuple(map(name, links[0])), tuple(map(name, links[1]))


def _extremes(row: torch.Tensor, k: int) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    k = min(k, row.numel())
    # stable: ties keep channel order, so equal inputs always list the same way
    order = torch.argsort(row, descending=True, stable=True).tolist()
    values = row.tolist()
    positive = tuple(Link(c, values[c]) for c in order[:k] if values[c] > 0)
    negative = tuple(Link(c, values[c]) for c in reversed(order[-k:]) if values[c] < 0)
    return positive, negative


@dataclass(frozen=True)
class BlockInputs:
    """What a channel's block receives: its parts, whether it is residual, and (when the block's
    input is not just the previous visualized layer) its strongest input channels."""

    parts: tuple[InputPart, ...]
    residual: bool
    positive: tuple[Link, ...] = ()
    negative: tuple[Link, ...] = ()
    measured: bool = False  # False: the inputs are the previous layer's, measured there

    def to_dict(self) -> dict[str, Any]:
        return {
            "parts": [p.to_dict() for p in self.parts],
            "residual": self.residual,
            "measured": self.measured,
            "positive": [link.to_dict() for link in self.positive],
            "negative": [link.to_dict() for link in self.negative],
        }


@dataclass(frozen=True)
class ChannelCircuit:
    """One channel's circuit, as a channel page and the manifest show it."""

    layer: str
    channel: int
    method: str | None
    inputs_layer: str | None
    positive: tuple[Link, ...]
    negative: tuple[Link, ...]
    outputs_layer: str | None
    outputs_method: str | None
    outputs: tuple[Link, ...]
    outputs_negative: tuple[Link, ...]
    block: BlockInputs | None = None
    outputs_among: int | None = None  # the next layer's channels measured, None: all of them

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "channel": self.channel,
            "method": self.method,
            "inputs_layer": self.inputs_layer,
            "positive": [link.to_dict() for link in self.positive],
            "negative": [link.to_dict() for link in self.negative],
            "outputs_layer": self.outputs_layer,
            "outputs_method": self.outputs_method,
            "outputs": [link.to_dict() for link in self.outputs],
            "outputs_negative": [link.to_dict() for link in self.outputs_negative],
            "block_inputs": self.block.to_dict() if self.block else None,
            "outputs_among": self.outputs_among,
        }


def block_inputs_of(block: LayerCircuit | None, channel: int, k: int) -> BlockInputs | None:
    """`channel`'s reading of an `inputs` circuit (None without one)."""
    if block is None or not block.parts:
        return None
    measured = block.matrix.shape[1] > 0
    pos, neg = block.inputs_of(channel, k) if measured else ((), ())
    return BlockInputs(block.parts, block.residual, pos, neg, measured)


def channel_circuit(
    layer: str,
    channel: int,
    incoming: LayerCircuit | None,
    outgoing: LayerCircuit | None,
    k: int = 5,
    block: LayerCircuit | None = None,
) -> ChannelCircuit:
    """`channel` of `layer`: its inputs from `incoming` (the pair ending at `layer`), what it
    feeds from `outgoing` (the pair starting at it) and its block's inputs from `block` (the
    `inputs` circuit of `layer`); any may be None."""
    pos, neg = incoming.inputs_of(channel, k) if incoming else ((), ())
    out, out_neg = outgoing.outputs_of(channel, k) if outgoing else ((), ())
    return ChannelCircuit(
        layer=layer,
        channel=channel,
        method=incoming.job.method if incoming else None,
        inputs_layer=incoming.job.source if incoming else None,
        positive=pos,
        negative=neg,
        outputs_layer=outgoing.job.target if outgoing else None,
        outputs_method=outgoing.job.method if outgoing else None,
        outputs=out,
        outputs_negative=out_neg,
        block=block_inputs_of(block, channel, k),
        outputs_among=outgoing.measured_rows if outgoing else None,
    )
