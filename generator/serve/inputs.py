"""What a whole drawing of the preview read, to tell whether it still holds when visualizations
land: the jobs each model's plan holds, and every cache entry besides the visualizations that the
plan and the measure stage looked up (measurements, circuits, accentuations, dataset scans), found
or not, with its modification time and size.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.stages.pipeline import Site, plan

Planned = tuple[tuple[str, ...], ...]  # per model, the keys of the jobs its plan holds
Measured = dict[Path, tuple[int, int] | None]  # a cache entry read -> (mtime_ns, size) or None


def planned(site: Site) -> Planned:
    """The keys of every model's planned jobs (planned now where no stage planned them)."""
    return tuple(
        tuple(job.key for job in (one.plan or plan(site, one)).jobs) for one in site.models
    )


def outside_artifacts(paths: set[Path], root: Path) -> set[Path]:
    """The cache entries of `paths` that are no visualization (`<key[:2]>/<key>/` under the
    cache root): measurements, circuits, accentuations, dataset scans."""
    root = root.absolute()
    return {p for p in paths if not (p.parent.parent == root and p.name.startswith(p.parent.name))}


def measured(paths: Iterable[Path]) -> Measured:
    """Each path's modification time and size, or None where there is nothing."""
    out: Measured = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            out[path] = None
        else:
            out[path] = (stat.st_mtime_ns, stat.st_size)
    return out
