"""Visualization jobs: frozen specs with a content hash, the planner that batches them, and a
site's plan (`SitePlan`: the jobs a model's pages need, indexed by page and layer).

A `VisJob` is everything that determines a visualization's pixels: the model and a digest of its
weights, one objective per image (one image for most figures, several for a diversity set or an
interpolation row, which then form one group in the batch), parameterization, transforms, steps,
snapshot steps, sizes, learning rate, the optimizer recipe (schedule, optimizer, coarse-to-fine,
early stop), the network's precision and seed. Its `key` hashes the canonical JSON of the spec
together with `FORMAT_VERSION`; change any field and the key changes.

The planner (`plan_batches`) packs jobs with equal `batch_signature()` into `Batch`es of at most
`batch_size` images, in a deterministic order that depends only on the list it is given; a job's
images always stay together in one batch, as one group. A batch with fewer images is rendered
filled up to `batch_size` with filler images (a pixel prior only, their results dropped): the
CPU's kernels pick their algorithm and split their work by the batch's shape, so a job's pixels
depend on the size of the batch it is rendered in, and a fixed size makes them independent of
which other jobs were missing from the cache. `Batch.split` cuts the batch's `RenderResult` back
into one result per job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from generator.core.errors import FeatvisError, choices_hint
from generator.optvis.objectives import GROUP_KINDS, Objective, l1
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import DEFAULT_LR, DEFAULT_STEPS, Recipe
from generator.optvis.render import RenderResult, RenderSettings
from generator.optvis.transforms import TransformSpec

if TYPE_CHECKING:
    from generator.models.base import LoadedModel

FORMAT_VERSION = 1


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class VisJob:
    model: str
    weights_digest: str
    objectives: tuple[Objective, ...]
    param: ParamSpec = field(default_factory=ParamSpec)
    transforms: TransformSpec = field(default_factory=TransformSpec)
    steps: int = DEFAULT_STEPS
    size: int = 128
    input_size: int | None = None
    lr: float = DEFAULT_LR
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()
    recipe: Recipe = field(default_factory=Recipe)
    precision: str = "fp32"

    @property
    def n_images(self) -> int:
        return len(self.objectives)

    @property
    def has_group_terms(self) -> bool:
        """Whether an objective has a term between the job's images (diversity, alignment)."""
        return any(t.kind in GROUP_KINDS for o in self.objectives for _, t in o.terms)

    @property
    def seeds(self) -> list[int]:
        """Image k of the job uses seed + k."""
        return [self.seed + k for k in range(self.n_images)]

    def settings(self) -> RenderSettings:
        return RenderSettings(
            size=self.size, steps=self.steps, lr=self.lr, param=self.param,
            transforms=self.transforms, snapshot_steps=self.snapshot_steps,
            input_size=self.input_size, recipe=self.recipe, precision=self.precision,
        )

    def batch_signature(self) -> str:
        """Jobs with equal signatures can share one optimizer batch."""
        spec = self.to_dict()
        for key in ("objectives", "seed"):
            spec.pop(key)
        return canonical_json(spec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights_digest": self.weights_digest,
            "objectives": [o.to_dict() for o in self.objectives],
            "param": asdict(self.param),
            "transforms": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self.transforms).items()
            },
            "steps": self.steps,
            "size": self.size,
            "input_size": self.input_size,
            "lr": self.lr,
            "seed": self.seed,
            "snapshot_steps": list(self.snapshot_steps),
            "recipe": asdict(self.recipe),
            "precision": self.precision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VisJob:
        t = data["transforms"]
        return cls(
            model=data["model"],
            weights_digest=data["weights_digest"],
            objectives=tuple(Objective.from_dict(o) for o in data["objectives"]),
            param=ParamSpec(**data["param"]),
            transforms=TransformSpec(
                pad=t["pad"], jitter=t["jitter"], scales=tuple(t["scales"]),
                angles=tuple(t["angles"]), jitter2=t["jitter2"],
            ),
            steps=data["steps"],
            size=data["size"],
            input_size=data["input_size"],
            lr=data["lr"],
            seed=data["seed"],
            snapshot_steps=tuple(data["snapshot_steps"]),
            # a spec written before recipes were recorded ran the constant-rate Adam recipe
            recipe=Recipe(**data["recipe"]) if "recipe" in data else Recipe.legacy(),
            precision=data.get("precision", "fp32"),
        )

    @cached_property
    def key(self) -> str:
        """The content hash that names the job's artifact (computed once: pages, the explorer and
        the manifest ask for it thousands of times in a build)."""
        payload = canonical_json({"format": FORMAT_VERSION, "job": self.to_dict()})
        return hashlib.sha256(payload.encode()).hexdigest()[:24]


# Images per optimizer batch when nothing else is asked for. On a CPU a large batch buys little
# (the convolutions already use every core) and its early layers' activations outgrow the caches
# (`benchmarks/bench_processes.py` compares batch sizes). On a GPU one forward pass of 64 small
# images costs about what one image costs.
BATCH_SIZES = {"cpu": 4, "cuda": 64}


def default_batch_size(device_type: str) -> int:
    return BATCH_SIZES.get(device_type, BATCH_SIZES["cpu"])


def unique_jobs(jobs: Iterable[VisJob]) -> list[VisJob]:
    """`jobs` without repeats (by key), first occurrence kept, order kept."""
    seen: dict[str, VisJob] = {}
    for job in jobs:
        seen.setdefault(job.key, job)
    return list(seen.values())


# What a filler image optimizes: a pixel prior, no layer, so it neither deepens the batch's forward
# pass nor needs the logits, and every number it gives is finite.
FILLER = l1()


@dataclass(frozen=True)
class Batch:
    """Jobs optimized together in one call of `render`; job i's images form group i. `size`:
    the images it is rendered with, the jobs' own followed by `fill` filler images, each a group
    of its own, whose results `split` drops."""

    jobs: tuple[VisJob, ...]
    size: int = 0

    @property
    def n_images(self) -> int:
        return sum(job.n_images for job in self.jobs)

    @property
    def fill(self) -> int:
        return max(0, self.size - self.n_images)

    def objectives(self) -> list[Objective]:
        return [obj for job in self.jobs for obj in job.objectives] + [FILLER] * self.fill

    def seeds(self) -> list[int]:
        return [seed for job in self.jobs for seed in job.seeds] + [0] * self.fill

    def groups(self) -> list[int]:
        own = [i for i, job in enumerate(self.jobs) for _ in range(job.n_images)]
        return own + list(range(len(self.jobs), len(self.jobs) + self.fill))

    def settings(self) -> RenderSettings:
        return self.jobs[0].settings()

    def per_job(self, result: RenderResult) -> list[RenderResult]:
        """One `RenderResult` per job; `seconds` is the job's share of the batch's time."""
        total = self.n_images + self.fill
        if result.images.shape[0] != total:
            raise ValueError(f"result has {result.images.shape[0]} images, batch {total}")
        parts, start = [], 0
        for job in self.jobs:
            part = slice(start, start + job.n_images)
            parts.append(RenderResult(
                images=result.images[part],
                snapshots={step: t[part] for step, t in result.snapshots.items()},
                history=result.history[:, part],
                final=result.final[part],
                unit=None if result.unit is None else result.unit[part],
                seconds=result.seconds * job.n_images / total,
                stopped_at=None if result.stopped_at is None else result.stopped_at[part],
                accel=result.accel,
            ))
            start += job.n_images
        return parts


def plan_batches(
    jobs: Sequence[VisJob],
    batch_size: int,
    *,
    depth: Callable[[VisJob], int] | None = None,
) -> list[Batch]:
    """Pack `jobs` (deduplicated) into batches of at most `batch_size` images, each rendered at
    `batch_size` images (filled, see the module docstring).

    Jobs are grouped by `batch_signature()` in order of first appearance; within a group they are
    ordered by `depth` when given (the deepest layer a job reads, so a batch's truncated forward
    pass stops early), stably otherwise, and packed greedily. A job larger than `batch_size` gets a
    batch of its own, at its own size. The result depends only on the order of `jobs`, never on
    timing or hashing.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    by_signature: dict[str, list[VisJob]] = {}
    for job in unique_jobs(jobs):
        by_signature.setdefault(job.batch_signature(), []).append(job)
    batches: list[Batch] = []
    for group in by_signature.values():
        if depth is not None:
            group = sorted(group, key=depth)
        current: list[VisJob] = []
        images = 0
        for job in group:
            if current and images + job.n_images > batch_size:
                batches.append(Batch(tuple(current), batch_size))
                current, images = [], 0
            current.append(job)
            images += job.n_images
        if current:
            batches.append(Batch(tuple(current), batch_size))
    return batches


@dataclass(frozen=True)
class SitePlan:
    jobs: list[VisJob]
    # the explorer's own jobs: layer -> channel -> job, in the order it shows them (also in `jobs`)
    explorer: dict[str, dict[int, VisJob]] = field(default_factory=dict)
    by_page: dict[str, list[VisJob]] = field(default_factory=dict)
    by_layer: dict[str, list[VisJob]] = field(default_factory=dict)
    # the jobs whose image's top class figures read (measured between rounds, not while planning)
    reads: list[VisJob] = field(default_factory=list)
    # the circuit closure's jobs (also in `jobs` and `by_layer`): channels the sample's circuits
    # name, visualized too (`generator.plan.closure`)
    closure: list[VisJob] = field(default_factory=list)
    # a pre-activation's path -> the layer it leads or minimizes for (`models.preact`): its jobs
    # are the layer's in `by_layer`, which names only layers a reader knows
    homes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        explorer: dict[str, dict[int, VisJob]],
        pages: list[VisJob],
        by_page: dict[str, list[VisJob]],
        homes: dict[str, str] | None = None,
    ) -> SitePlan:
        """The explorer's jobs, its channel pages' (`pages`), then each page's, deduplicated and
        indexed by page and layer (a pre-activation's jobs by the layer `homes` names)."""
        own = (job for jobs in explorer.values() for job in jobs.values())
        jobs = unique_jobs([*own, *pages, *(job for js in by_page.values() for job in js)])
        by_page = {slug: unique_jobs(js) for slug, js in by_page.items()}
        homes = dict(homes or {})
        by_layer = _by_layer(jobs, {}, homes)
        return cls(jobs=jobs, explorer=explorer, by_page=by_page, by_layer=by_layer, homes=homes)

    def closed(self, closure: Sequence[VisJob]) -> SitePlan:
        """This plan with `closure`'s jobs added (after its own, indexed by layer)."""
        keys = {job.key for job in self.jobs}
        added = unique_jobs(job for job in closure if job.key not in keys)
        by_layer = _by_layer(
            added, {layer: list(js) for layer, js in self.by_layer.items()}, self.homes
        )
        return replace(
            self, jobs=[*self.jobs, *added], by_layer=by_layer, closure=[*self.closure, *added]
        )

    def only(self, names: Sequence[str]) -> SitePlan:
        """The jobs of the named layers and pages (their union), indexes cut to match."""
        keep: set[str] = set()
        for name in names:
            if name in self.by_layer:
                keep.update(job.key for job in self.by_layer[name])
            elif name in self.by_page:
                keep.update(job.key for job in self.by_page[name])
            else:
                valid = list(self.by_layer) + list(self.by_page)
                raise FeatvisError(
                    f"--only '{name}': no layer or page of this plan ({choices_hint(name, valid)})"
                )

        def cut(index: dict[str, list[VisJob]]) -> dict[str, list[VisJob]]:
            kept = {k: [j for j in js if j.key in keep] for k, js in index.items()}
            return {k: js for k, js in kept.items() if js}

        return SitePlan(
            jobs=[job for job in self.jobs if job.key in keep],
            explorer=self.explorer,
            by_page=cut(self.by_page),
            by_layer=cut(self.by_layer),
            reads=[job for job in self.reads if job.key in keep],
            closure=[job for job in self.closure if job.key in keep],
            homes=self.homes,
        )


def _by_layer(
    jobs: Iterable[VisJob], by_layer: dict[str, list[VisJob]], homes: Mapping[str, str]
) -> dict[str, list[VisJob]]:
    """`by_layer` with each of `jobs` added under every layer its objectives name (a
    pre-activation's under the layer `homes` names)."""
    for job in jobs:
        for layer in sorted({homes.get(n, n) for o in job.objectives for n in o.layers}):
            by_layer.setdefault(layer, []).append(job)
    return by_layer


def check_jobs(jobs: Iterable[VisJob], model: LoadedModel) -> None:
    """Every job must be for `model` and name only its layers and channels."""
    for job in jobs:
        if job.model != model.id or job.weights_digest != model.digest:
            raise FeatvisError(
                f"a job asks for model '{job.model}' (weights {job.weights_digest}), but the "
                f"site's model is '{model.id}' (weights {model.digest})"
            )
        for objective in job.objectives:
            for _, term in objective.terms:
                if term.layer is not None and term.channel is not None:
                    model.check_channel(term.layer, term.channel)
                elif term.layer is not None:
                    model.layer(term.layer)
                if term.cls is not None:
                    model.class_index(term.cls)
