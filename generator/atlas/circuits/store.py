"""Computing circuits and caching them: which pairs and which images, one job's matrix, and
`CircuitStore`, one `.npz` per job key written atomically, so an interrupted run resumes.

On the CPU the matrices are the same bytes for the same inputs; the inputs come from
`pick_photos`, which draws from a seeded `torch.Generator`.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from generator.atlas.circuits.attribution import (
    Strategy,
    attribution_matrix,
    input_attribution_matrix,
)
from generator.atlas.circuits.inputs import block_probe
from generator.atlas.circuits.spec import (
    CIRCUITS_VERSION,
    CircuitJob,
    InputPart,
    LayerCircuit,
    Method,
)
from generator.atlas.circuits.weights import weights_matrix
from generator.cache.entries import read_entry
from generator.cache.reads import note
from generator.core.atomic import write_atomic
from generator.jobs import canonical_json
from generator.models.base import LoadedModel


def layer_pairs(model: LoadedModel, layers: Sequence[str]) -> list[tuple[str, str]]:
    """Consecutive (source, target) pairs of `layers` in forward order."""
    names = {model.layer(name).name for name in layers}
    ordered = sorted(names, key=lambda n: model.layer(n).depth)
    return list(zip(ordered[:-1], ordered[1:], strict=True))


def pick_photos(files: Sequence[str], n: int, seed: int) -> list[str]:
    """`n` of `files` drawn without replacement by a seeded generator, in file order."""
    if n >= len(files):
        return list(files)
    gen = torch.Generator().manual_seed(int(seed))
    chosen = torch.randperm(len(files), generator=gen)[:n].sort().values.tolist()
    return [files[i] for i in chosen]


def images_digest(images: torch.Tensor) -> str:
    """The identity of a batch of [0,1] images, as their 8-bit quantization hashes."""
    q = (images.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
    h = hashlib.sha256(str(tuple(q.shape)).encode())
    h.update(q.numpy().tobytes())
    return h.hexdigest()[:24]


def job_rows(model: LoadedModel, layer: str, rows: Mapping[str, Iterable[int]] | None
             ) -> tuple[int, ...]:
    """The rows a job on target `layer` measures: those `rows` lists for it, ascending, or ()
    (every channel) when it lists none or all of them."""
    chosen = sorted({int(c) for c in (rows or {}).get(layer, ())})
    return () if len(chosen) in (0, model.layer(layer).channels) else tuple(chosen)


def circuit_jobs(
    model: LoadedModel,
    layers: Sequence[str],
    *,
    method: Method,
    inputs: str,
    rows: Mapping[str, Iterable[int]] | None = None,
    before: str = "",
) -> list[CircuitJob]:
    """One `layers` job per consecutive pair of `layers` (`inputs` from `images_digest`; the
    weights method reads no images), then one `inputs` job per layer (its block's inputs, by
    attribution), its source the layer before it ("" for the first). `before`, a layer ahead
    of all of `layers` (the catalog's layer before the first), adds the pair from it into the
    first and is the first's source: the first layer's channels have inputs too. `rows` maps a
    layer to the channels whose rows its jobs measure (see `job_rows`; the weights method reads
    every row at no extra cost)."""
    inputs = inputs if method == "attribution" else ""
    pairs = layer_pairs(model, layers)
    ordered = [pairs[0][0], *(t for _, t in pairs)] if pairs else list(layers)
    previous = dict(zip(ordered[1:], ordered[:-1], strict=True))
    if before and ordered:
        pairs.insert(0, (before, ordered[0]))
        previous[ordered[0]] = before
    digest = (model.id, model.digest)
    pair_rows = rows if method == "attribution" else None
    return [
        CircuitJob(*digest, source, target, method, inputs,
                   rows=job_rows(model, target, pair_rows))
        for source, target in pairs
    ] + [
        CircuitJob(*digest, previous.get(layer, ""), layer, "attribution", inputs, "inputs",
                   job_rows(model, layer, rows))
        for layer in ordered
    ]


def _inputs_circuit(
    model: LoadedModel, job: CircuitJob, images: torch.Tensor, strategy: Strategy
) -> tuple[torch.Tensor, tuple[InputPart, ...], bool]:
    """The `inputs` matrix of a residual or concatenating block: no columns when its only input
    is the previous visualized layer (the pair measures it), else the attribution to every
    channel it receives. Any other layer (one input, no skip) records no parts."""
    probe = block_probe(model, job.target)
    none = torch.zeros(len(job.rows) or model.layer(job.target).channels, 0)
    several = len(probe.parts) > 1
    if not (probe.residual or several) or all(part.module == "" for part in probe.parts):
        return none, (), False
    if not several and probe.parts[0].layer == job.source:
        return none, probe.parts, probe.residual
    matrix = input_attribution_matrix(
        model, job.target, images, strategy=strategy, targets=job.rows or None
    )
    return matrix, probe.parts, probe.residual


def compute_circuit(
    model: LoadedModel,
    job: CircuitJob,
    images: torch.Tensor | None = None,
    *,
    strategy: Strategy = "loop",
) -> LayerCircuit:
    """The matrix of `job`; `images` are needed by the attribution method."""
    if job.model != model.id or job.weights_digest != model.digest:
        raise ValueError(f"circuit job {job.key} is for another model")
    start = time.perf_counter()
    if job.method == "weights":
        signed, magnitude = weights_matrix(model, job.source, job.target)
        if job.rows:
            signed, magnitude = signed[list(job.rows)], magnitude[list(job.rows)]
        return LayerCircuit(job, signed, magnitude, 0, time.perf_counter() - start)
    if images is None:
        raise ValueError("the attribution method needs input images")
    n = int(images.shape[0])
    if job.kind == "inputs":
        matrix, parts, residual = _inputs_circuit(model, job, images, strategy)
        return LayerCircuit(job, matrix, None, n, time.perf_counter() - start, parts, residual)
    matrix = attribution_matrix(
        model, job.source, job.target, images, strategy=strategy, targets=job.rows or None
    )
    return LayerCircuit(job, matrix, None, n, time.perf_counter() - start)


class CircuitStore:
    """Matrices under `root` (e.g. `<cache>/circuits/`), one `.npz` per job key, written to a
    temp file and renamed into place; a file that does not check out reads as missing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        path = self.root / key[:2] / f"{key}.npz"
        note(path)
        return path

    def get(self, job: CircuitJob) -> LayerCircuit | None:
        """The circuit of `job`; None when absent or damaged (reported, computed again)."""
        path = self.path(job.key)

        def read() -> LayerCircuit:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                matrix = torch.from_numpy(data["matrix"].copy())
                magnitude = (
                    torch.from_numpy(data["magnitude"].copy()) if "magnitude" in data else None
                )
            parts = tuple(InputPart(**p) for p in meta.get("parts", []))
            if meta.get("key") != job.key or meta.get("job") != job.to_dict() or matrix.dim() != 2:
                raise ValueError("not this job's circuit")
            if job.rows and matrix.shape[0] != len(job.rows):
                raise ValueError(f"{matrix.shape[0]} rows, the job asks for {len(job.rows)}")
            return LayerCircuit(
                job, matrix, magnitude, int(meta["n_inputs"]), float(meta["seconds"]), parts,
                bool(meta.get("residual", False)),
            )

        return read_entry(path, read)

    def put(self, circuit: LayerCircuit) -> Path:
        job = circuit.job
        meta = {
            "key": job.key,
            "job": job.to_dict(),
            "version": CIRCUITS_VERSION,
            "n_inputs": circuit.n_inputs,
            "seconds": circuit.seconds,
            "shape": list(circuit.matrix.shape),
        }
        if job.kind == "inputs":
            meta["parts"] = [part.to_dict() for part in circuit.parts]
            meta["residual"] = circuit.residual
        arrays = {
            "matrix": circuit.matrix.float().numpy(),
            "meta": np.frombuffer(canonical_json(meta).encode(), dtype=np.uint8),
        }
        if circuit.magnitude is not None:
            arrays["magnitude"] = circuit.magnitude.float().numpy()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        path = self.path(job.key)
        write_atomic(path, buffer.getvalue())
        return path


def compute_circuits(
    model: LoadedModel,
    jobs: Sequence[CircuitJob],
    store: CircuitStore,
    images: torch.Tensor | None,
    *,
    strategy: Strategy = "loop",
    progress: Callable[[CircuitJob, LayerCircuit], None] | None = None,
) -> dict[tuple[str, str], LayerCircuit]:
    """Every job's circuit by `circuit_key`: cached ones read, missing ones computed and written
    one at a time (an interrupted run keeps what it finished)."""
    done: dict[tuple[str, str], LayerCircuit] = {}
    for job in jobs:
        circuit = store.get(job)
        if circuit is None:
            circuit = compute_circuit(model, job, images, strategy=strategy)
            store.put(circuit)
            if progress is not None:
                progress(job, circuit)
        done[circuit_key(job)] = circuit
    return done


INPUTS_SOURCE = "<inputs>"  # the source half of an `inputs` circuit's key


def circuit_key(job: CircuitJob) -> tuple[str, str]:
    """Where a circuit stands in a site's circuits: (source, target) for a pair, (INPUTS_SOURCE,
    target) for a block's inputs."""
    return (INPUTS_SOURCE if job.kind == "inputs" else job.source, job.target)
