"""The optimizer's step loop: eager everywhere, graph-captured on CUDA, early stop per group.

`run_steps` runs `steps` updates of an `ImageParam` and writes each step's per-image objective
(under the step's transforms) into `history`. Per step the `Recipe` sets the learning rate, the
model's input size and the Fourier cutoff (coarse-to-fine).

Acceleration (`accel`): `eager` runs every step as Python calls; `graph` captures one step per
phase (parameterization, transforms, network, objective, backward, optimizer) into a CUDA graph
after two eager warm-up steps and replays it, so the GPU does not wait for the host's ~300
launches a step; the network's weights go channels-last. `auto` is `graph` on CUDA and `eager`
elsewhere. Any failure to warm up, capture or replay falls back to eager with one warning line
(`AccelWarning`): nothing runs during a capture, so the failing step is simply run eagerly and
the pictures are those of the eager loop. `precision="bf16"` runs the network under bfloat16
autocast (the parameterization, the objective and the optimizer stay in float32).

Early stop (`Recipe.patience`): a group whose images have all plateaued is frozen: after every
later update its parameters are written back to their values at the step it stopped, so its
final image is exactly the image of that step, and its images' history rows from then on repeat
the row of that step (whatever the rest of the batch does). When every group has stopped the
loop ends. `StepOutcome.stopped_at[i]` is the step count at
which image i stopped (`steps` if it never did).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from generator.optvis.evaluate import CompiledObjectives
from generator.optvis.param import ImageParam
from generator.optvis.recipe import Phase, Recipe
from generator.optvis.transforms import RandomTransform

ACCEL_MODES = ("auto", "eager", "graph")
PRECISIONS = ("fp32", "bf16")
WARMUP_STEPS = 2  # eager steps of a phase before its capture (allocator, cuDNN's choices)


class AccelWarning(UserWarning):
    """The captured step failed; the loop went on eagerly (same pictures)."""


@dataclass
class StepParts:
    """Everything one step touches, built by `render`."""

    param: ImageParam
    optimizer: torch.optim.Optimizer
    transform: RandomTransform
    compiled: CompiledObjectives
    run: Callable[[torch.Tensor], torch.Tensor | None]
    acts: Mapping[str, torch.Tensor]
    model_input: int
    precision: str = "fp32"
    net: torch.nn.Module | None = None  # the network `run` calls (channels-last on CUDA graphs)


@dataclass
class StepOutcome:
    steps_run: int
    stopped_at: torch.Tensor  # (n,) int64, on the CPU
    accel_used: str  # "eager" or "graph"


def resolve_accel(accel: str, device: torch.device) -> str:
    if accel not in ACCEL_MODES:
        raise ValueError(f"unknown accel '{accel}' (valid: {', '.join(ACCEL_MODES)})")
    if accel == "auto":
        return "graph" if device.type == "cuda" else "eager"
    return accel


def _autocast(parts: StepParts, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if parts.precision != "bf16":
        return contextlib.nullcontext()
    # no weight cache: a cached cast would be a tensor from outside a captured graph's pool
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)


def step_once(parts: StepParts, theta: torch.Tensor | None, phase: Phase) -> torch.Tensor:
    """One update: forward through parameterization, transforms and network, backward, step.
    Returns the per-image objective under the step's transforms (detached)."""
    parts.optimizer.zero_grad(set_to_none=True)
    images = parts.param(phase.lowpass)
    size = max(1, round(parts.model_input * phase.input_scale))
    x = parts.transform.apply(images, theta, size)
    with _autocast(parts, images.device):
        logits = parts.run(x)
    values = parts.compiled.evaluate(parts.acts, logits, images).float()
    (-values.sum()).backward()
    parts.optimizer.step()
    return values.detach()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class _Eager:
    def __init__(self, parts: StepParts) -> None:
        self.parts = parts

    def __call__(self, step: int, phase: Phase) -> torch.Tensor:
        return step_once(self.parts, self.parts.transform.theta(step), phase)


class _Graphed:
    """One CUDA graph per phase, captured after `WARMUP_STEPS` eager steps of that phase."""

    def __init__(self, parts: StepParts) -> None:
        self.parts = parts
        self.device = parts.param.values.device
        self.graphs: dict[Phase, tuple[Any, torch.Tensor | None, torch.Tensor]] = {}
        self.warm: dict[Phase, int] = {}
        self.failed = False
        self.net = parts.net

    def __call__(self, step: int, phase: Phase) -> torch.Tensor:
        if self.failed:
            return step_once(self.parts, self.parts.transform.theta(step), phase)
        try:
            return self._step(step, phase)
        except Exception as exc:  # noqa: BLE001 - any failure of the captured path falls back
            self._fall_back(exc)
            return step_once(self.parts, self.parts.transform.theta(step), phase)

    def _fall_back(self, exc: Exception) -> None:
        self.failed = True
        self.graphs.clear()
        self.parts.optimizer.zero_grad(set_to_none=True)
        if self.net is not None and self.device.type == "cuda":
            self.net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
        warnings.warn(
            f"captured optimizer step failed, continuing eagerly ({reason})",
            AccelWarning,
            stacklevel=4,
        )

    def _step(self, step: int, phase: Phase) -> torch.Tensor:
        theta = self.parts.transform.theta(step)
        entry = self.graphs.get(phase)
        if entry is not None:
            graph, static_theta, values = entry
            if static_theta is not None and theta is not None:
                static_theta.copy_(theta)
            graph.replay()
            return values
        if not self.warm:  # the first step of all: the network goes channels-last
            _channels_last(self.net, self.device)
        if self.warm.get(phase, 0) < WARMUP_STEPS:
            self.warm[phase] = self.warm.get(phase, 0) + 1
            with self._side_stream():
                return step_once(self.parts, theta, phase).clone()
        if self.device.type != "cuda":  # a capture would record nothing and replay nothing
            raise RuntimeError(f"CUDA graphs need a CUDA device, not {self.device.type}")
        static_theta = None if theta is None else theta.clone()
        self.parts.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            values = step_once(self.parts, static_theta, phase)
        self.graphs[phase] = (graph, static_theta, values)
        graph.replay()  # nothing ran during the capture: this is the step
        return values

    @contextlib.contextmanager
    def _side_stream(self) -> Iterator[None]:
        """Warm-up steps run on a side stream, as CUDA graph capture asks (plain on a CPU)."""
        if self.device.type != "cuda":
            yield
            return
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream(self.device).wait_stream(side)


def _channels_last(net: torch.nn.Module | None, device: torch.device) -> None:
    if net is not None and device.type == "cuda":
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


class _Freezer:
    """Early stop: per group, freeze the parameters at the step its images all plateaued."""

    def __init__(self, recipe: Recipe, param: ImageParam, groups: Sequence[int], steps: int):
        self.recipe = recipe
        ids = sorted(set(groups))
        self.n_groups = len(ids)
        self.group_of = torch.tensor([ids.index(g) for g in groups], dtype=torch.long)
        self.frozen = torch.zeros(self.n_groups, dtype=torch.bool)
        self.stopped_at = torch.full((len(groups),), steps, dtype=torch.long)
        self.params = [p for p in param.parameters()]
        self.saved: list[torch.Tensor | None] = [None] * len(self.params)
        self.masks: list[torch.Tensor] = []

    def _mask_for(self, p: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        rows = groups if p.shape[0] == self.n_groups else groups[self.group_of]
        if p.shape[0] != rows.shape[0]:
            raise ValueError("a parameter is neither per image nor per group")
        return rows.to(p.device).view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def after_update(self, step: int, history: torch.Tensor) -> bool:
        """Hold frozen groups, then check for new plateaus. True when every group has stopped."""
        if self.frozen.any():
            for p, mask, saved in zip(self.params, self.masks, self.saved, strict=True):
                assert saved is not None
                p.copy_(torch.where(mask, saved, p))
        flags = self.recipe.plateaued(history, step)
        if flags is None:
            return False
        per_image = flags.cpu()
        still_rising = torch.zeros(self.n_groups, dtype=torch.long)
        still_rising.index_add_(0, self.group_of, (~per_image).long())
        plateau = still_rising == 0
        newly = plateau & ~self.frozen
        if not newly.any():
            return False
        self.frozen |= newly
        self.stopped_at[newly[self.group_of]] = step + 1
        self.masks = [self._mask_for(p, self.frozen) for p in self.params]
        fresh = [self._mask_for(p, newly) for p in self.params]
        for k, p in enumerate(self.params):
            old = self.saved[k]
            self.saved[k] = p.detach().clone() if old is None else torch.where(fresh[k], p, old)
        return bool(self.frozen.all())


def run_steps(
    parts: StepParts,
    recipe: Recipe,
    steps: int,
    lr: float,
    history: torch.Tensor,
    *,
    groups: Sequence[int],
    accel: str = "eager",
    on_step: Callable[[int], None] | None = None,
) -> StepOutcome:
    """Run the loop (see the module docstring); `on_step(done)` after every update."""
    mode = resolve_accel(accel, parts.param.values.device)
    stepper: _Eager | _Graphed = _Graphed(parts) if mode == "graph" else _Eager(parts)
    freezer = _Freezer(recipe, parts.param, groups, steps) if recipe.patience > 0 else None
    lrs = recipe.lrs(steps, lr)
    done = 0
    for step in range(steps):
        set_lr(parts.optimizer, lrs[step])
        history[step] = stepper(step, recipe.phase_at(step, steps))
        done = step + 1
        stop = freezer.after_update(step, history) if freezer is not None else False
        if on_step is not None:
            on_step(done)
        if stop:
            break
    if done < steps:
        history[done:] = history[done - 1]
    used = "graph" if isinstance(stepper, _Graphed) and not stepper.failed else "eager"
    stopped = freezer.stopped_at if freezer is not None else torch.full((history.shape[1],), steps)
    if freezer is not None:  # each image's history holds from its stop: others' steps are not its
        last = (stopped - 1).clamp(min=0).to(history.device)
        rows = torch.arange(steps, device=history.device).unsqueeze(1)
        history.copy_(history.gather(0, torch.minimum(rows, last.unsqueeze(0))))
    return StepOutcome(steps_run=done, stopped_at=stopped, accel_used=used)
