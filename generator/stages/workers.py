"""Every model's compute, in this process or in several CPU processes at once.

`compute_models` is the whole of `featvis compute` for one process of a world: per model, plan ->
compute -> plan rounds, then the measure stage (checks, filters, circuits, accentuations). Under
torchrun every process runs it with its own rank.

On a CPU one process with several threads leaves cores idle: at 128 px the network's convolutions
are too small to spread well, and the optimizer's ~300 small operations a step run one after
another, so processes of one thread each build faster (`benchmarks/bench_processes.py` measures
it). So on a CPU `featvis build` and `featvis compute` start
`workers` processes themselves (site.toml's `workers`, `--workers`; by default one per usable core,
at most `MAX_AUTO_WORKERS`), the same sharded world torchrun makes, launched with PyTorch's elastic
launcher (`torch.distributed.launcher`): each process loads the model, takes every n-th batch and
writes into the shared cache; a failed process stops the others and fails the command. The caller
then goes on from the cache. A GPU keeps one process (several GPUs: torchrun). Work too small to pay
for the processes' start (a few seconds each) stays in this process.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, record
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from generator.cache.entries import one_line_warnings
from generator.cache.store import ArtifactStore
from generator.compute import Summary, World, distributed
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.core.memory import keep_freed_memory
from generator.core.progress import Progress, say
from generator.jobs import default_batch_size
from generator.models.site import load_site_models
from generator.stages.measured import measure
from generator.stages.pipeline import Site, models_of, plan, read_site, scanner
from generator.stages.rounds import settle

MAX_AUTO_WORKERS = 8  # processes started by default on a CPU, however many cores it has
# Starting the processes costs a few seconds each (importing torch, loading the model), so by
# default they start only for at least two batches each and `MIN_WORK` standard visualizations
# (about 30 s of one process on the 2-core CPU); a rebuild that lacks a figure or two computes it
# here.
MIN_WORK = 24.0


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def processes_for(
    config: SiteConfig, device: torch.device, missing: tuple[int, float], batch_size: int | None
) -> int:
    """How many processes compute `missing` (images, work; `missing_work`) on `device`: one on
    a GPU (several GPUs: torchrun). On a CPU the config's `workers` when it names them (and each
    has an image), else one per usable core up to `MAX_AUTO_WORKERS` when the work pays for
    their start (`MIN_WORK`, two batches each), else this one."""
    images, work = missing
    if device.type != "cpu":
        return 1
    if config.workers is not None:
        return config.workers if images >= config.workers else 1
    workers = max(1, min(usable_cores(), MAX_AUTO_WORKERS))
    size = batch_size or default_batch_size("cpu")
    return workers if images >= 2 * workers * size and work >= MIN_WORK else 1


@dataclass(frozen=True)
class ModelSummary:
    model: str
    summary: Summary

    def line(self, alone: bool) -> str:
        """The summary line, named by its model unless it is the site's only one."""
        return self.summary.line() if alone else f"{self.model}: {self.summary.line()}"


def compute_models(
    site: Site,
    *,
    world: World,
    quiet: bool = False,
    force: bool = False,
    only: Mapping[str, list[str] | None] | None = None,
) -> list[ModelSummary]:
    """Per model: compute what its site plan lacks (rounds), plan again and measure what the
    pages show. With `only` (model id -> names), a model's named layers or pages alone and no
    measure stage; a model whose list is empty is skipped."""
    out = []
    for one, names in models_of(site, only):
        summary = settle(site, one, only=names, quiet=quiet, force=force, world=world)
        if not names and not summary.failed:
            plan(site, one)  # planned again once computed, as a build does
            measure(
                site, one, compute=True, world=world,
                progress=Progress(quiet=quiet or world.rank != 0),
            )
        out.append(ModelSummary(one.model.id, summary))
    return out


def missing_work(
    site: Site, *, force: bool = False, only: Mapping[str, list[str] | None] | None = None
) -> tuple[int, float]:
    """The images the site's first plans lack (a cache folder that does not exist yet; nothing
    is read or verified), and their work in standard visualizations (128 steps at 128 px):
    what decides whether processes are worth starting. `only` as in `compute_models`."""
    images, work = 0, 0.0
    for one, names in models_of(site, only):
        for job in plan(site, one, names).jobs:
            if force or not site.store.path(job.key).is_dir():
                images += job.n_images
                work += job.n_images * job.steps / 128 * (job.size / 128) ** 2
    return images, work


def _stop(signum: int, frame: Any) -> None:
    os._exit(128 + signum)


def _die_with_parent(parent: int) -> None:
    """Linux: this process gets SIGKILL when the one that started it (`parent`) dies: a `kill -9`
    of the build must not leave processes writing into the cache. A parent that died while this
    one was still starting (before the request) has already handed it to another: then it ends
    at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)


def _worker(
    config: SiteConfig, preset: Preset, threads: int, batch_size: int | None, quiet: bool,
    force: bool, only: Mapping[str, list[str] | None] | None, parent: int,
) -> list[ModelSummary]:
    """One process of `compute_in_processes`: the world torchrun would make, `threads` threads.
    Ctrl-C reaches the whole process group: the starting process reports it; this one just
    stops, as after a kill (every cache write is atomic, so the next run resumes)."""
    signal.signal(signal.SIGINT, _stop)
    _die_with_parent(parent)
    try:
        return record(_compute)(config, preset, threads, batch_size, quiet, force, only) or []
    except Exception:  # recorded for the starting process by `record` just above
        # raised on, torch.multiprocessing would also pickle it into a temporary file of its
        # own that nothing removes (`pytorch-errorfile-*.pickle`): exit with the failure instead
        raise SystemExit(1) from None


def _compute(
    config: SiteConfig, preset: Preset, threads: int, batch_size: int | None, quiet: bool,
    force: bool, only: Mapping[str, list[str] | None] | None,
) -> list[ModelSummary]:
    """What a process of `compute_in_processes` computes, once its signals are set."""
    keep_freed_memory()
    torch.set_num_threads(threads)
    if batch_size is not None:
        config = dataclasses.replace(config, batch_size=batch_size)
    with one_line_warnings(), distributed(config.device) as world:
        store = ArtifactStore(
            config.cache_dir,
            report=(lambda m: say(f"warning: {m}")) if world.rank == 0 else (lambda m: None),
        )
        site = read_site(
            config, preset, models=load_site_models(config, world.device, probe=False), store=store,
            datasets=scanner(quiet=quiet, world=world),
        )
        return compute_models(site, world=world, quiet=quiet, force=force, only=only)


def compute_in_processes(
    config: SiteConfig,
    preset: Preset,
    workers: int,
    *,
    batch_size: int | None = None,
    quiet: bool = False,
    force: bool = False,
    only: Mapping[str, list[str] | None] | None = None,
) -> list[ModelSummary]:
    """`compute_models` in `workers` CPU processes of `usable_cores() // workers` threads each,
    sharing the cache; their rank 0's summaries. The dataset scan should be in the cache
    already (rank 0 would scan it alone). A process that fails stops the others: a
    `FeatvisError` naming its first line; what finished is cached."""
    threads = max(1, usable_cores() // workers)
    logs = tempfile.mkdtemp(prefix="featvis-processes-")  # the launcher's; gone with the launch
    launch = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=workers, run_id=f"featvis-{uuid.uuid4().hex}",
        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0, monitor_interval=0.2,
        start_method="spawn", logs_specs=DefaultLogsSpecs(log_dir=logs),
    )
    quiet_logs = [logging.getLogger(name) for name in _LAUNCH_LOGGERS]
    levels = [log.level for log in quiet_logs]
    for log in quiet_logs:  # a failure is reported below, in one line
        log.setLevel(logging.CRITICAL)
    # the launcher turns these signals into SignalException (stopping the processes) and leaves
    # its handlers installed: they are put back afterwards, and Ctrl-C is Ctrl-C again
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS} if main else {}
    try:
        results = elastic_launch(launch, _worker)(
            config, preset, threads, batch_size, quiet, force, only, os.getpid()
        )
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        raise _failure(rank, workers, failure.error_file_data, failure.exitcode) from None
    except SignalException as exc:
        if exc.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        shutil.rmtree(logs, ignore_errors=True)  # the signal below ends this process at once
        signal.signal(exc.sigval, signal.SIG_DFL)  # end as the signal ends a process
        os.kill(os.getpid(), exc.sigval)
        raise SystemExit(128 + int(exc.sigval)) from None
    finally:
        shutil.rmtree(logs, ignore_errors=True)
        for log, level in zip(quiet_logs, levels, strict=True):
            log.setLevel(level)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return results[0]


_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


# The launcher's loggers: they log a failed process's traceback and the signals sent to the others.
_LAUNCH_LOGGERS = (
    "torch.distributed.elastic.multiprocessing.api",
    "torch.distributed.elastic.agent.server.api",
    "torch.distributed.elastic.agent.server.local_elastic_agent",
)


def _failure(rank: int, workers: int, data: Any, exitcode: int) -> FeatvisError:
    """One line for a failed process: a `FeatvisError`'s own line (bad input found in a process),
    otherwise the exception's line, with its traceback printed above it."""
    record = data.get("message") if isinstance(data, dict) else None
    message = record.get("message", "") if isinstance(record, dict) else str(record or "")
    where = f"compute process {rank} of {workers}"
    if message.startswith("FeatvisError: "):
        return FeatvisError(f"{where}: {message.removeprefix('FeatvisError: ')}")
    stack = record.get("extraInfo", {}).get("py_callstack") if isinstance(record, dict) else None
    if stack:
        print(stack.rstrip(), file=sys.stderr)
    first = message.strip().splitlines()[0] if message.strip() else f"exit code {exitcode}"
    return FeatvisError(f"{where} failed: {first}")

