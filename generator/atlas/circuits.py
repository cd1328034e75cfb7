"""Circuits: which channels of the previous visualized layer drive a channel, and which channels
of the next one it feeds.

The unit of work is a pair of visualized layers (`source` just before `target` in forward order)
and its result one matrix `M` of shape (target channels, source channels): `M[t, s]` is how much
source channel s drives target channel t. Row t read by sign gives t's strongest positive and
negative inputs; column s read by size gives the target channels s feeds most.

Two methods, the one used recorded with the matrix:

- `attribution` (the default, any architecture): the gradient of target channel t's spatial-mean
  activation with respect to source channel s's activation, times that activation, summed over
  positions and averaged over the input images (photos, or the channel visualizations when there
  are no photos). The network runs once per batch of images up to the target layer, from a leaf
  tensor planted at the source layer by a forward hook; then one backward pass per target channel
  over the whole image batch (`strategy="loop"`), or chunks of target channels in one vectorized
  backward (`strategy="batched"`, `torch.autograd.grad(is_grads_batched=True)`). Both give the
  same numbers; `benchmarks/bench_atlas.py` measures which is faster.
- `weights` (exact, only for adjacent convolutions): when the target layer's output is one
  ungrouped convolution of exactly the source layer's output, followed only by batch norm and
  element-wise modules, `M[t, s]` is the signed sum of the kernel W[t, s] scaled by the batch
  norm's per-channel factor; `magnitude[t, s]` is the sum of |W[t, s]| with the same scale.

A `CircuitJob` (model, weights digest, the two layers, method, the inputs' identity, version)
hashes to the key that names the cached matrix; `CircuitStore` writes each one atomically (temp
file and rename) and `compute_circuits` computes only the missing pairs, so an interrupted run
resumes. On the CPU the matrices are the same bytes for the same inputs; the inputs come from
`pick_photos`, which draws from a seeded `torch.Generator`.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from generator.atlas.files import write_atomic
from generator.core.errors import FeatvisError
from generator.jobs import canonical_json
from generator.models.base import LayerInfo, LoadedModel

CIRCUITS_VERSION = 1
METHODS = ("attribution", "weights")
Method = Literal["attribution", "weights"]
Strategy = Literal["loop", "batched"]
IMAGE_BATCH = 8  # images per forward pass: bounds the memory of the retained graph
BATCHED_BYTES = 256 * 2**20  # gradient memory one vectorized backward may take

_ELEMENTWISE = (
    nn.BatchNorm2d,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardtanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.Sigmoid,
)


# -- the job and its result ----------------------------------------------------------------------


@dataclass(frozen=True)
class CircuitJob:
    """Everything that determines one pair's matrix. `inputs` identifies the images the
    attribution averages over (`images_digest`); it is "" for the weights method."""

    model: str
    weights_digest: str
    source: str
    target: str
    method: Method = "attribution"
    inputs: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise FeatvisError(
                f"unknown circuit method '{self.method}' (valid: {', '.join(METHODS)})"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @cached_property
    def key(self) -> str:
        payload = canonical_json({"circuits": CIRCUITS_VERSION, "job": self.to_dict()})
        return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Link:
    """One edge of a circuit: a channel of the other layer and its weight."""

    channel: int
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "weight": self.weight}


@dataclass(frozen=True)
class LayerCircuit:
    """The matrix of one pair: `matrix[t, s]` = drive of source channel s on target channel t."""

    job: CircuitJob
    matrix: torch.Tensor  # (target channels, source channels), float32, CPU
    magnitude: torch.Tensor | None = None  # weights method: sum of |kernel|, same shape
    n_inputs: int = 0
    seconds: float = 0.0

    def inputs_of(self, channel: int, k: int = 5) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        """Target `channel`'s k strongest positive and k strongest negative source channels."""
        return _extremes(self.matrix[channel], k)

    def outputs_of(self, channel: int, k: int = 5) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        """The target channels source `channel` drives most, positively and negatively."""
        return _extremes(self.matrix[:, channel], k)


def _extremes(row: torch.Tensor, k: int) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    k = min(k, row.numel())
    # stable: ties keep channel order, so equal inputs always list the same way
    order = torch.argsort(row, descending=True, stable=True).tolist()
    positive = tuple(Link(c, float(row[c])) for c in order[:k] if row[c] > 0)
    negative = tuple(Link(c, float(row[c])) for c in reversed(order[-k:]) if row[c] < 0)
    return positive, negative


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
        }


def channel_circuit(
    layer: str,
    channel: int,
    incoming: LayerCircuit | None,
    outgoing: LayerCircuit | None,
    k: int = 5,
) -> ChannelCircuit:
    """`channel` of `layer`: its inputs from `incoming` (the pair ending at `layer`) and what it
    feeds from `outgoing` (the pair starting at it); either may be None (first or last layer)."""
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
    )


# -- which pairs, which images -------------------------------------------------------------------


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


# -- running the network between two layers ------------------------------------------------------


class _Stop(Exception):
    pass


@contextmanager
def _between(
    model: LoadedModel, source: LayerInfo, target: LayerInfo
) -> Iterator[Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]:
    """`run(images)` -> (source activation as a grad-requiring leaf, target activation that
    depends on it); the forward pass stops at the target. Hooks are removed on exit."""
    modules = dict(model.net.named_modules())
    box: dict[str, torch.Tensor] = {}

    def plant(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
        leaf = out.detach().requires_grad_(True)
        box["source"] = leaf
        return leaf

    def stop(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        box["target"] = out
        raise _Stop

    handles = [
        modules[source.module_path].register_forward_hook(plant),
        modules[target.module_path].register_forward_hook(stop),
    ]

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        box.clear()
        x = model.preprocess(images.to(model.device, torch.float32))
        try:
            with torch.enable_grad():
                model.net(x)
        except _Stop:
            pass
        if "source" not in box or "target" not in box:
            raise FeatvisError(
                f"model '{model.id}': layer '{target.name}' does not follow '{source.name}'"
            )
        return box["source"], box["target"]

    try:
        yield run
    finally:
        for handle in handles:
            handle.remove()


def _attribute_loop(source: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Sum over images of grad x activation, one backward per target channel."""
    rows = []
    for t in range(means.shape[1]):
        (grad,) = torch.autograd.grad(means[:, t].sum(), source, retain_graph=True)
        rows.append((grad * source.detach()).sum(dim=(0, 2, 3)))
    return torch.stack(rows)


def _attribute_batched(source: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """The same, chunks of target channels per vectorized backward (`is_grads_batched`)."""
    n, targets = means.shape
    chunk = max(1, min(targets, BATCHED_BYTES // max(1, source.numel() * source.element_size())))
    acts = source.detach()
    rows = []
    for start in range(0, targets, chunk):
        stop = min(targets, start + chunk)
        eye = torch.zeros(stop - start, n, targets, dtype=means.dtype, device=means.device)
        eye[torch.arange(stop - start), :, torch.arange(start, stop)] = 1.0
        (grads,) = torch.autograd.grad(
            means, source, grad_outputs=eye, retain_graph=True, is_grads_batched=True
        )
        rows.append((grads * acts).sum(dim=(1, 3, 4)))
    return torch.cat(rows)


def attribution_matrix(
    model: LoadedModel,
    source: str,
    target: str,
    images: torch.Tensor,
    *,
    strategy: Strategy = "loop",
    image_batch: int = IMAGE_BATCH,
    targets: Sequence[int] | None = None,
) -> torch.Tensor:
    """(target channels, source channels): grad x activation, averaged over `images` ([0,1]
    RGB, n x 3 x H x W, at the size the model should see them). With `targets`, only those
    target channels' rows, in that order."""
    src, tgt = model.layer(source), model.layer(target)
    if src.depth >= tgt.depth:
        raise FeatvisError(f"circuit: '{source}' must come before '{target}'")
    if images.shape[0] == 0:
        raise FeatvisError(f"circuit {source} -> {target}: no input images to average over")
    attribute = _attribute_loop if strategy == "loop" else _attribute_batched
    rows = list(range(tgt.channels)) if targets is None else [int(t) for t in targets]
    for t in rows:
        model.check_channel(target, t)
    total = torch.zeros(len(rows), src.channels, dtype=torch.float64)
    with _between(model, src, tgt) as run:
        for start in range(0, images.shape[0], image_batch):
            acts, out = run(images[start : start + image_batch])
            means = out.float().mean(dim=(2, 3))[:, rows]
            total += attribute(acts, means).detach().double().cpu()
    return (total / images.shape[0]).float()


# -- the exact method for adjacent convolutions --------------------------------------------------


def _modules_between(
    model: LoadedModel, src: LayerInfo, tgt: LayerInfo
) -> tuple[list[tuple[str, nn.Module, tuple[Any, ...]]], torch.Tensor]:
    """The modules entered after the source layer's output and up to the target's output, with
    their inputs, on one probe image; and the source's output tensor."""
    modules = dict(model.net.named_modules())
    entered: list[tuple[str, nn.Module, tuple[Any, ...]]] = []
    box: dict[str, torch.Tensor] = {}

    def pre(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            if "source" in box:
                entered.append((name, module, args))

        return hook

    def seen(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        box["source"] = out

    def stop(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        raise _Stop

    handles = [m.register_forward_pre_hook(pre(name)) for name, m in modules.items() if name]
    handles.append(modules[src.module_path].register_forward_hook(seen))
    handles.append(modules[tgt.module_path].register_forward_hook(stop))
    size = model.input_size
    try:
        with torch.no_grad():
            model.net(torch.zeros(1, 3, size, size, device=model.device))
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return entered, box["source"]


def adjacent_conv(model: LoadedModel, source: str, target: str) -> tuple[nn.Conv2d, Any] | None:
    """(conv, batch norm or None) when `target` is one ungrouped convolution of exactly
    `source`'s output followed only by batch norm and element-wise modules; else None."""
    src, tgt = model.layer(source), model.layer(target)
    if src.depth >= tgt.depth:
        return None
    entered, source_out = _modules_between(model, src, tgt)
    # pure containers only route; any other module (a whole block) ends the search
    chain = [item for item in entered if not isinstance(item[1], (nn.Sequential, nn.ModuleList))]
    if not chain:
        return None
    name, conv, args = chain[0]
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or not args or args[0] is not source_out:
        return None
    norm = None
    for _, module, _ in chain[1:]:
        if not isinstance(module, _ELEMENTWISE):
            return None
        if isinstance(module, nn.BatchNorm2d):
            if norm is not None:
                return None
            norm = module
    return conv, norm


def weights_matrix(
    model: LoadedModel, source: str, target: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(signed, magnitude) matrices of the adjacent convolution from `source` to `target`."""
    found = adjacent_conv(model, source, target)
    if found is None:
        raise FeatvisError(
            f"circuit {source} -> {target}: the weights method needs '{target}' to be one "
            f"convolution of '{source}' (valid here: method = \"attribution\")"
        )
    conv, norm = found
    weight = conv.weight.detach().float().cpu()
    scale = torch.ones(weight.shape[0])
    if norm is not None and norm.running_var is not None:
        scale = 1.0 / torch.sqrt(norm.running_var.detach().float().cpu() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach().float().cpu()
    signed = weight.sum(dim=(2, 3)) * scale[:, None]
    magnitude = weight.abs().sum(dim=(2, 3)) * scale.abs()[:, None]
    return signed, magnitude


def compute_circuit(
    model: LoadedModel,
    job: CircuitJob,
    images: torch.Tensor | None = None,
    *,
    strategy: Strategy = "loop",
) -> LayerCircuit:
    """The matrix of `job`; `images` are needed by the attribution method."""
    if job.model != model.id or job.weights_digest != model.weights_digest:
        raise ValueError(f"circuit job {job.key} is for another model")
    start = time.perf_counter()
    if job.method == "weights":
        signed, magnitude = weights_matrix(model, job.source, job.target)
        return LayerCircuit(job, signed, magnitude, 0, time.perf_counter() - start)
    if images is None:
        raise ValueError("the attribution method needs input images")
    matrix = attribution_matrix(model, job.source, job.target, images, strategy=strategy)
    return LayerCircuit(job, matrix, None, int(images.shape[0]), time.perf_counter() - start)


# -- the cache -----------------------------------------------------------------------------------


class CircuitStore:
    """Matrices under `root` (e.g. `<cache>/circuits/`), one `.npz` per job key, written to a
    temp file and renamed into place; a file that does not check out reads as missing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, job: CircuitJob) -> LayerCircuit | None:
        path = self.path(job.key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                matrix = torch.from_numpy(data["matrix"].copy())
                magnitude = (
                    torch.from_numpy(data["magnitude"].copy()) if "magnitude" in data else None
                )
        except (OSError, ValueError, KeyError, UnicodeDecodeError):
            return None
        if meta.get("key") != job.key or meta.get("job") != job.to_dict() or matrix.dim() != 2:
            return None
        return LayerCircuit(job, matrix, magnitude, int(meta["n_inputs"]), float(meta["seconds"]))

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


def circuit_jobs(
    model: LoadedModel, layers: Sequence[str], *, method: Method, inputs: str
) -> list[CircuitJob]:
    """One job per consecutive pair of `layers` (`inputs` from `images_digest`; the weights
    method reads no images)."""
    inputs = inputs if method == "attribution" else ""
    return [
        CircuitJob(model.id, model.weights_digest, source, target, method, inputs)
        for source, target in layer_pairs(model, layers)
    ]


def compute_circuits(
    model: LoadedModel,
    jobs: Sequence[CircuitJob],
    store: CircuitStore,
    images: torch.Tensor | None,
    *,
    strategy: Strategy = "loop",
    progress: Callable[[CircuitJob, LayerCircuit], None] | None = None,
) -> dict[tuple[str, str], LayerCircuit]:
    """Every job's circuit by (source, target): cached ones read, missing ones computed and
    written one at a time (an interrupted run keeps what it finished)."""
    done: dict[tuple[str, str], LayerCircuit] = {}
    for job in jobs:
        circuit = store.get(job)
        if circuit is None:
            circuit = compute_circuit(model, job, images, strategy=strategy)
            store.put(circuit)
            if progress is not None:
                progress(job, circuit)
        done[(job.source, job.target)] = circuit
    return done
