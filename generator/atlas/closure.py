"""A channel's circuit read from a site's circuits, and the channels it names: its neighbours.

`circuit_in(circuits, layer, channel)` is a channel's circuit as its page shows it (the pair into
its layer, the pair out of it and its block's inputs). `neighbours` lists the channels that
circuit names, each with its rank in its list (1 for the strongest). `closure_units` gathers the
neighbours of a sample of channels, strongest links first (every channel's first neighbours
before anyone's second): the channels the plan visualizes too, as far as a preset affords them
(`generator.plan.closure`), so that a circuit shows a picture of each channel it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from generator.atlas.circuits import (
    INPUTS_SOURCE,
    ChannelCircuit,
    LayerCircuit,
    Link,
    channel_circuit,
)
from generator.atlas.circuits.spec import block_inputs_of

CIRCUIT_LINKS = 5  # strongest inputs (each sign) and outputs a channel page names

Circuits = Mapping[tuple[str, str], LayerCircuit]


def circuit_in(
    circuits: Circuits, layer: str, channel: int, k: int = CIRCUIT_LINKS, *, block: bool = True
) -> ChannelCircuit | None:
    """`channel`'s circuit from the measured pairs into and out of `layer` and (with `block`)
    its block's inputs; None when nothing measured touches `layer`."""
    pairs = [(key, c) for key, c in circuits.items() if c.job.kind == "layers"]
    incoming = next((c for (_, t), c in pairs if t == layer), None)
    outgoing = next((c for (s, _), c in pairs if s == layer), None)
    probe = circuits.get((INPUTS_SOURCE, layer)) if block else None
    inputs = block_inputs_of(probe, channel, k)
    if incoming is None and outgoing is None and inputs is None:
        return None
    circuit = channel_circuit(layer, channel, incoming, outgoing, k)
    return circuit if inputs is None else replace(circuit, block=inputs)


@dataclass(frozen=True)
class Neighbour:
    """A channel a circuit names: its layer and channel, its weight and its rank (1: the
    strongest of its list)."""

    layer: str
    channel: int
    weight: float
    rank: int


def neighbours(circuit: ChannelCircuit) -> list[Neighbour]:
    """Every channel `circuit` names: its inputs, its outputs and its block's inputs."""
    lists: list[tuple[str | None, tuple[Link, ...]]] = [
        (circuit.inputs_layer, circuit.positive),
        (circuit.inputs_layer, circuit.negative),
        (circuit.outputs_layer, circuit.outputs),
        (circuit.outputs_layer, circuit.outputs_negative),
    ]
    if circuit.block is not None:
        lists += [(None, circuit.block.positive), (None, circuit.block.negative)]
    out = []
    for layer, links in lists:
        for rank, link in enumerate(links, 1):
            name = link.layer or layer
            if name:
                out.append(Neighbour(name, link.channel, link.weight, rank))
    return out


def closure_units(
    circuits: Circuits, sample: Mapping[str, Iterable[int]], k: int = CIRCUIT_LINKS
) -> list[tuple[str, int]]:
    """The channels the circuits of `sample` (layer -> channels) name and `sample` lacks, each
    once, the strongest links first: by rank, then by the size of the weight."""
    shown = {(layer, int(c)) for layer, channels in sample.items() for c in channels}
    found: list[tuple[int, float, int, Neighbour]] = []
    for layer, channels in sample.items():
        for channel in sorted({int(c) for c in channels}):
            circuit = circuit_in(circuits, layer, channel, k)
            for n in neighbours(circuit) if circuit is not None else []:
                if (n.layer, n.channel) not in shown:
                    found.append((n.rank, -abs(n.weight), len(found), n))
    out: dict[tuple[str, int], None] = {}
    for *_, n in sorted(found, key=lambda item: item[:3]):
        out.setdefault((n.layer, n.channel))
    return list(out)
