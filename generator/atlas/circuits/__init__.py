"""Circuits: which channels drive a channel (those of the previous visualized layer and, for a
residual or concatenating block, of the block's inputs) and which channels of the next
visualized layer it feeds.

- `spec`: the job (content hash), the matrix (`LayerCircuit`) and a channel's reading of it;
- `attribution`: the measured method, gradient x activation, for any architecture;
- `weights`: the exact method for adjacent convolutions;
- `inputs`: what a block receives and from which modules, and whether it is residual;
- `store`: which jobs, computing them, and the atomic, resumable cache.
"""

from generator.atlas.circuits.attribution import (
    BATCHED_BYTES,
    IMAGE_BATCH,
    Strategy,
    attribution_matrix,
    input_attribution_matrix,
)
from generator.atlas.circuits.inputs import BlockProbe, block_probe
from generator.atlas.circuits.spec import (
    CIRCUITS_VERSION,
    METHODS,
    BlockInputs,
    ChannelCircuit,
    CircuitJob,
    InputPart,
    LayerCircuit,
    Link,
    Method,
    channel_circuit,
)
from generator.atlas.circuits.store import (
    INPUTS_SOURCE,
    CircuitStore,
    circuit_jobs,
    circuit_key,
    compute_circuit,
    compute_circuits,
    images_digest,
    layer_pairs,
    pick_photos,
)
from generator.atlas.circuits.weights import adjacent_conv, weights_matrix

__all__ = [
    "BATCHED_BYTES",
    "CIRCUITS_VERSION",
    "IMAGE_BATCH",
    "INPUTS_SOURCE",
    "METHODS",
    "BlockInputs",
    "BlockProbe",
    "ChannelCircuit",
    "CircuitJob",
    "CircuitStore",
    "InputPart",
    "LayerCircuit",
    "Link",
    "Method",
    "Strategy",
    "adjacent_conv",
    "attribution_matrix",
    "block_probe",
    "channel_circuit",
    "circuit_jobs",
    "circuit_key",
    "compute_circuit",
    "compute_circuits",
    "images_digest",
    "input_attribution_matrix",
    "layer_pairs",
    "pick_photos",
    "weights_matrix",
]
