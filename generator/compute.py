"""Compute visualization jobs: find what is missing in the cache, optimize it in batches.

`compute_jobs` is the reusable core (the site build calls it too): it checks the cache, packs the
missing jobs into batches (`generator.jobs.plan_batches`), renders each batch in one call and
writes one artifact per job. Under `torchrun` (WORLD_SIZE > 1) every process plans the same list
and the same batches, takes batches i with i % world == rank, writes into the shared cache and
waits for the others; rank 0 shows the whole run's progress (every process adds its finished jobs
to a shared count) until the last process is done, and prints the summary. A world of one uses no
process group at all.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from generator.cache.store import ArtifactStore
from generator.core.device import device_label, resolve_device
from generator.core.progress import Counter, Progress, say
from generator.jobs import Batch, VisJob, default_batch_size, plan_batches, unique_jobs
from generator.models import LoadedModel
from generator.optvis import render
from generator.optvis.render import not_finite

# How long one process waits for the others at a barrier (a slow rank, a slow shared disk).
DIST_TIMEOUT = datetime.timedelta(hours=1)
WAIT_POLL_SECONDS = 0.5  # how often rank 0, its share done, reads the others' progress



@dataclass(frozen=True)
class World:
    """This process's place among the torchrun processes (rank 0 of 1 without torchrun)."""

    rank: int
    size: int
    device: torch.device

    def barrier(self) -> None:
        if self.size > 1:
            torch.distributed.barrier()

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over all processes (also a barrier)."""
        if self.size == 1:
            return list(values)
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()


class SharedCount:
    """Jobs done by every process of a world together: each process adds what it finished and
    reads the sum back (the process group's key-value store). Every process makes one per
    `compute_jobs` call, in the same order, so they share a key; a world of one counts alone."""

    _made = itertools.count()

    def __init__(self, world: World) -> None:
        self.key = f"featvis/compute/{next(SharedCount._made)}"
        # the process group's store has no public accessor; a torch without this one counts
        # each process's own share, as a world of one does
        default_store = getattr(torch.distributed.distributed_c10d, "_get_default_store", None)
        self._store = default_store() if world.size > 1 and default_store is not None else None
        self._alone = 0

    def add(self, n: int) -> int:
        """Add `n` done jobs; the count of every process after it."""
        if self._store is None:
            self._alone += n
            return self._alone
        return int(self._store.add(self.key, n))


@contextmanager
def distributed(device_spec: str) -> Iterator[World]:
    """A process group when launched by torchrun with WORLD_SIZE > 1; nothing otherwise.

    gloo on the CPU; NCCL on CUDA, each process on cuda:LOCAL_RANK.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_spec)
    if size <= 1:
        yield World(rank=0, size=1, device=device)
        return
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = resolve_device(f"cuda:{local}")
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        timeout=DIST_TIMEOUT,
        device_id=device if device.type == "cuda" else None,
    )
    try:
        yield World(rank=rank, size=size, device=device)
    finally:
        torch.distributed.destroy_process_group()


@dataclass(frozen=True)
class Summary:
    computed: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    images: int = 0  # images optimized
    batches: int = 0  # optimizer batches run
    processes: int = 1

    def __add__(self, other: Summary) -> Summary:
        return dataclasses.replace(
            self,
            computed=self.computed + other.computed,
            cached=self.cached + other.cached,
            failed=self.failed + other.failed,
            seconds=self.seconds + other.seconds,
            images=self.images + other.images,
            batches=self.batches + other.batches,
        )

    def line(self) -> str:
        text = (
            f"computed {self.computed}, cached {self.cached}, failed {self.failed} "
            f"in {self.seconds:.1f} s on {self.device}"
        )
        if self.batches:
            text += f" ({self.images} images in {self.batches} batches"
            text += f", {self.processes} processes)" if self.processes > 1 else ")"
        return text


def job_depth(model: LoadedModel, job: VisJob) -> int:
    """The deepest layer a job reads (past the last layer when it needs the logits)."""
    depths = [model.layer(name).depth for o in job.objectives for name in o.layers]
    needs_logits = any(o.needs_logits for o in job.objectives)
    return len(model.layers) if needs_logits or not depths else max(depths)


def _run_batch(
    batch: Batch, model: LoadedModel, store: ArtifactStore, label: str, world: World
) -> tuple[int, int, list[str]]:
    """Render one batch and store its artifacts: (jobs computed, batches run, errors)."""
    try:
        result = render(
            model, batch.objectives(), batch.settings(), seeds=batch.seeds(), groups=batch.groups()
        )
    except torch.OutOfMemoryError:
        if len(batch.jobs) == 1:
            return 0, 1, [f"job {batch.jobs[0].key}: out of device memory"]
        if model.device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(batch.jobs) // 2
        done = [_run_batch(Batch(js), model, store, label, world)
                for js in (batch.jobs[:half], batch.jobs[half:])]
        return sum(d[0] for d in done), sum(d[1] for d in done), [e for d in done for e in d[2]]
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return 0, 1, [f"batch of {len(batch.jobs)} jobs failed: {first}"]
    made = {"jobs": len(batch.jobs), "images": batch.n_images, "seconds": result.seconds}
    worker = {"rank": world.rank, "world": world.size, "host": socket.gethostname()}
    errors: list[str] = []
    stored = 0
    for job, part in zip(batch.jobs, batch.per_job(result), strict=True):
        bad = not_finite(part)
        if bad is not None:
            what = "; ".join(sorted({o.describe() for o in job.objectives}))[:120]
            errors.append(f"job {job.key} ({what}): the {bad} is not finite; not cached")
            continue
        store.put(job, part, device=label, batch=made, worker=worker)
        stored += 1
    return stored, 1, errors


def wait_for_others(
    counter: Counter, shared: SharedCount, *, every: float = WAIT_POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Follow the other processes' jobs on `counter` until the whole run's are done (the
    counter prints its periodic lines meanwhile). A process that fails ends the whole world, this
    one included."""
    while counter.done < counter.total:
        sleep(every)
        counter.update(shared.add(0) - counter.done)


def compute_jobs(
    jobs: Sequence[VisJob],
    model: LoadedModel,
    store: ArtifactStore,
    *,
    batch_size: int | None = None,
    quiet: bool = False,
    force: bool = False,
    world: World | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Compute every job of `jobs` that the store lacks (all of them with `force`).

    Every process of `world` must call this with the same jobs: all of them see the same cache
    before any writes (a barrier), build the same batches and take every size-th one.
    """
    start = time.perf_counter()
    world = world or World(rank=0, size=1, device=model.device)
    jobs = unique_jobs(jobs)
    missing = jobs if force else [job for job in jobs if store.get(job) is None]
    if missing:
        store.prepare()
    world.barrier()
    size = batch_size or default_batch_size(model.device.type)
    batches = plan_batches(missing, size, depth=lambda job: job_depth(model, job))
    mine = batches[world.rank :: world.size]
    label = device_label(model.device)
    computed = runs = 0
    progress = progress or Progress(quiet=quiet or world.rank != 0)
    what = "compute" if world.size == 1 else f"compute ({world.size} processes)"
    shared = SharedCount(world)
    with progress.counter(sum(len(b.jobs) for b in batches), what) as counter:
        for batch in mine:
            done, ran, errors = _run_batch(batch, model, store, label, world)
            computed, runs = computed + done, runs + ran
            for error in errors:
                say(f"error: {error}")
            counter.update(shared.add(len(batch.jobs)) - counter.done)
        if world.rank == 0 and counter.done < counter.total:
            others = "process" if world.size == 2 else f"{world.size - 1} processes"
            progress.say(
                f"this process's share is done; waiting for the other {others} "
                f"({counter.total - counter.done} visualizations left)"
            )
            wait_for_others(counter, shared)
    images = sum(b.n_images for b in mine)
    computed, runs, images = (int(v) for v in world.sum([computed, runs, images]))
    return Summary(
        computed=computed,
        cached=len(jobs) - len(missing),
        failed=len(missing) - computed,
        seconds=time.perf_counter() - start,
        device=label,
        images=images,
        batches=runs,
        processes=world.size,
    )
