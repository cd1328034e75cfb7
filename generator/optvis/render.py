"""The batched optimizer: every image has its own objective, one forward pass serves them all.

Hooks capture every layer the batch asks for; unless some objective needs the logits, the forward
pass stops right after the deepest of them (`truncated_forward`). Hooks live in a context manager
and are removed on success and on error. The result holds the final images, snapshots at the
asked-for step counts, the objective of every image at every step, and the objective of the final,
untransformed image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from generator.models.base import LoadedModel, capture
from generator.models.hooks import INPUT, parts_of
from generator.optvis.evaluate import CompiledObjectives
from generator.optvis.objectives import Objective
from generator.optvis.param import ImageParam, ParamSpec
from generator.optvis.recipe import DEFAULT_LR, DEFAULT_STEPS, Recipe, make_optimizer
from generator.optvis.steps import PRECISIONS, StepParts, resolve_accel, run_steps
from generator.optvis.transforms import RandomTransform, TransformSpec, resize_for_model


@dataclass(frozen=True)
class RenderSettings:
    size: int = 128
    steps: int = DEFAULT_STEPS
    lr: float = DEFAULT_LR
    param: ParamSpec = field(default_factory=ParamSpec)
    transforms: TransformSpec = field(default_factory=TransformSpec)
    snapshot_steps: tuple[int, ...] = ()
    input_size: int | None = None  # what the model sees; None = `size`
    recipe: Recipe = field(default_factory=Recipe)  # schedule, optimizer, coarse-to-fine, stop
    precision: str = "fp32"  # "bf16": the network under bfloat16 autocast
    accel: str = "auto"  # engine only (same pictures): "graph" = CUDA graphs, auto on CUDA

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{self.precision}' (valid: fp32, bf16)")

    @property
    def model_input(self) -> int:
        return self.input_size or self.size


@dataclass
class RenderResult:
    images: torch.Tensor  # (n, 3, size, size) in [0, 1], on the CPU
    snapshots: dict[int, torch.Tensor]  # step -> (n, 3, size, size)
    history: torch.Tensor  # (steps, n): objective under transforms at every step
    final: torch.Tensor  # (n,): objective of the final image, untransformed
    # (n,): the same less the terms between a group's images (diversity, alignment): what a
    # diversity image's channel gives it; None where not measured
    unit: torch.Tensor | None = None
    seconds: float = 0.0
    stopped_at: torch.Tensor | None = None  # (n,): step count where each image stopped
    accel: str = "eager"  # how the steps ran: "eager" or "graph"


def not_finite(result: RenderResult) -> str | None:
    """What in a render result is not finite (None: all of it is). Such a job failed."""
    parts = [("objective", result.history), ("final objective", result.final),
             ("pixels", result.images)]
    parts += [(f"snapshot {step}", t) for step, t in result.snapshots.items()]
    for what, tensor in parts:
        if tensor.numel() and not bool(torch.isfinite(tensor).all()):
            return what
    return None


class _StopForward(Exception):
    pass


@contextmanager
def truncated_forward(
    model: LoadedModel, layers: Sequence[str], full: bool = False
) -> Iterator[tuple[dict[str, torch.Tensor], callable]]:  # type: ignore[valid-type]
    """Capture `layers`; `run(x)` returns the logits when `full`, else stops once every one of
    them is read (a pre-activation shares the depth of the layer before it, and runs after it:
    the deepest by depth is not always the last to run). Contexts nest: one opened inside
    another (accentuation's anchor pass) runs its own pass to its own layers."""
    infos = sorted((model.layer(name) for name in layers), key=lambda info: info.depth)
    paths = [info.module_path for info in infos]
    modules = dict(model.net.named_modules())
    with capture(model.net, paths) as store:
        handles = []
        running = [False]  # this context's own pass (not one of a context opened inside it)
        # a module's input may be taken at a later call of the same module (a ReLU that a block
        # calls twice): the pass stops at a module whose output it reads, never at one whose
        # input it reads, and runs on to the end where it reads inputs alone
        outputs = [m for path in paths for m, reads in parts_of(path) if reads != INPUT]
        if outputs and not full:
            wanted = set(paths)

            def stop(_m: object, _i: object, _o: object) -> None:
                if running[0] and wanted.issubset(store):  # capture's hook has run before
                    raise _StopForward

            handles = [modules[path].register_forward_hook(stop) for path in set(outputs)]
        try:

            norm: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

            def run(x: torch.Tensor) -> torch.Tensor | None:
                store.clear()
                key = (x.device, x.dtype)
                if key not in norm:  # model.preprocess's constants, made once (not every step)
                    norm[key] = tuple(  # type: ignore[assignment]
                        torch.tensor(v, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
                        for v in (model.mean, model.std)
                    )
                mean, std = norm[key]
                # resized inside the differentiable pipeline where the network takes no other
                x = model.resized(x)
                running[0] = True
                try:
                    return model.net((x - mean) / std)
                except _StopForward:
                    return None
                finally:
                    running[0] = False

            by_name = _NamedView(store, {info.name: info.module_path for info in infos})
            yield by_name, run
        finally:
            for handle in handles:
                handle.remove()


class _NamedView(dict):  # type: ignore[type-arg]
    """Activations by catalog name over a store keyed by module path."""

    def __init__(self, store: dict[str, torch.Tensor], paths: dict[str, str]) -> None:
        super().__init__()
        self._store, self._paths = store, paths

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._store[self._paths[name]]

    def get(self, name: str, default: object = None) -> torch.Tensor | None:  # type: ignore[override]
        path = self._paths.get(name)
        if not path:
            return default  # type: ignore[return-value]
        return self._store.get(path, default)  # type: ignore[arg-type]


def _checked_seeds(
    model: LoadedModel, objectives: Sequence[Objective], seeds: Sequence[int] | int,
    groups: Sequence[int] | None,
) -> list[int]:
    """One seed per objective (`seeds`, `seeds + 1`, ... from an int); every layer checked."""
    n = len(objectives)
    seeds = [seeds + i for i in range(n)] if isinstance(seeds, int) else list(seeds)
    if len(seeds) != n or (groups is not None and len(groups) != n):
        raise ValueError("one seed (and group) per objective")
    for obj in objectives:
        for layer in obj.layers:
            model.layer(layer)
    return seeds


def _transform_seeds(seeds: Sequence[int], groups: Sequence[int] | None) -> list[int]:
    """The images of one group (a diversity set, an interpolation row) see the same transforms,
    drawn from the group's first seed, so terms that compare them compare aligned views."""
    if groups is None:
        return list(seeds)
    first_seed: dict[int, int] = {}
    for seed, group in zip(seeds, groups, strict=True):
        first_seed.setdefault(group, seed)
    return [first_seed[g] for g in groups]


def render(
    model: LoadedModel,
    objectives: Sequence[Objective],
    settings: RenderSettings,
    *,
    seeds: Sequence[int] | int,
    groups: Sequence[int] | None = None,
) -> RenderResult:
    """Optimize one image per objective, all in one batch on the model's device."""
    start = time.perf_counter()
    n = len(objectives)
    seeds = _checked_seeds(model, objectives, seeds, groups)
    device = model.device
    param = ImageParam(
        settings.param, settings.size, seeds, groups, device, channels=model.input_channels
    )
    accel = resolve_accel(settings.accel, device)
    optimizer = make_optimizer(
        settings.recipe, list(param.parameters()), settings.lr, device,
        capturable=accel == "graph" and device.type == "cuda",
    )
    transform = RandomTransform(
        settings.transforms, settings.size, settings.model_input,
        _transform_seeds(seeds, groups), settings.steps, device,
    )
    compiled = CompiledObjectives(objectives, groups)
    # Kept on the device and copied once at the end: a copy to the host every step would make the
    # host wait for the GPU in every step instead of queueing the next one.
    history = torch.zeros(settings.steps, n, device=device)
    snapshots: dict[int, torch.Tensor] = {}
    wanted = set(settings.snapshot_steps)

    def snapshot(done: int) -> None:
        if done in wanted:
            with torch.no_grad():
                snapshots[done] = param()  # to the host at the end, like the history

    with truncated_forward(model, sorted(compiled.layers), full=compiled.needs_logits) as (
        acts,
        run,
    ):
        parts = StepParts(
            param, optimizer, transform, compiled, run, acts, settings.model_input,
            settings.precision, model.net,
        )
        outcome = run_steps(
            parts, settings.recipe, settings.steps, settings.lr, history,
            groups=groups if groups is not None else list(range(n)), accel=accel,
            on_step=snapshot,
        )
        with torch.no_grad():
            images = param()
            for step in wanted - set(snapshots) - {0}:  # after an early stop: the final image
                if step > settings.steps:
                    continue
                snapshots[step] = images
            logits = run(resize_for_model(images, settings.model_input))
            final = compiled.evaluate(acts, logits, images).cpu()
            unit = (compiled.evaluate(acts, logits, images, group_terms=False).cpu()
                    if compiled.grouped else final)  # without such terms it is `final`
    if 0 in wanted:
        snapshots[0] = (
            ImageParam(settings.param, settings.size, seeds, groups, device,
                       channels=model.input_channels)().detach().cpu()
        )
    return RenderResult(
        images=images.detach().cpu(),
        snapshots={step: t.cpu() for step, t in snapshots.items()},
        history=history.cpu(),
        final=final,
        unit=unit,
        seconds=time.perf_counter() - start,
        stopped_at=outcome.stopped_at,
        accel=outcome.accel_used,
    )
