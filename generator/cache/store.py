"""The artifact cache: one folder per job key, written atomically, validated on every read.

Layout under the cache root (default `.featvis-cache/`):

    featvis-cache.json              {"format": CACHE_FORMAT}: a different format is an error
    .tmp/<key>.<host>.<pid>.<rand>/ an artifact being written (same filesystem as its target)
    <key[:2]>/<key>/                image-K.png, snapshot-STEP-K.png, meta.json

An artifact is written whole into `.tmp/` and renamed into place, so a reader (or a process killed
half way) never sees half of one. `meta.json`, written last, lists every file with its size and
sha256; `get` checks them all, and the job spec, before it returns an artifact. Anything that does
not check out is reported (once per key) and treated as missing, so it is computed again and the
new artifact replaces it. `put` creates the root on first use; `prepare` does that up front so an
unwritable folder fails before any work is done. Every command that writes the cache holds
`cache_writing` while it works, so `clean --all` cannot remove the cache from under it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from generator import __version__, metrics
from generator.cache.entries import DAMAGE, CacheWarning
from generator.cache.reads import note
from generator.cache.sidecar import (
    Artifact,
    Metrics,
    Sidecar,
    SidecarError,
    StoredFile,
    float_lists,
    read_sidecar,
)
from generator.cache.temp import TMP_DIR, clean_temp, temp_prefix
from generator.core.errors import FeatvisError
from generator.core.images import png_bytes
from generator.core.lock import CACHE_LOCK, cache_lock
from generator.jobs import VisJob, canonical_json
from generator.optvis.render import RenderResult, not_finite

CACHE_FORMAT = 1
FORMAT_FILE = "featvis-cache.json"
DATASET_DIR = "dataset"  # generator.dataset keeps its scans here
MEASURES_DIR = "measures"  # generator.measure keeps what it measured of the network here
CIRCUITS_DIR = "circuits"  # generator.atlas.circuits keeps its matrices here
ACCENT_DIR = "accentuation"  # generator.atlas.accentstore keeps its accentuated photos here


# What a run may leave in the root before the format file exists (killed between the two).
OWN_ENTRIES = frozenset({TMP_DIR, DATASET_DIR, MEASURES_DIR, CACHE_LOCK})
META_FILE = "meta.json"


class _Corrupt(Exception):
    pass


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


@contextlib.contextmanager
def cache_writing(root: Path, *, create: bool = True) -> Iterator[ArtifactStore]:
    """Open the cache for writing: hold its writer lock (`generator.core.lock.cache_lock`, shared
    with other writers, refused to `clean --all`) once `root` is known to be a featvis cache or a
    new folder (the lock file never goes into a folder that is not one), and yield its store.
    Without `create`, a missing cache is not made. The temp entries of dead writers are removed
    first, even when nothing is computed after (a `--force` run killed half way leaves the old
    artifacts whole and its new ones in `.tmp/`)."""
    store = ArtifactStore(root)
    made = create and not Path(root).exists()
    try:
        with cache_lock(root, create=create):
            store.clean_temp()
            yield store
    except FeatvisError:
        if made and _only_probes(Path(root)):  # bad input: a new cache leaves nothing behind
            shutil.rmtree(root, ignore_errors=True)
        raise


def _only_probes(root: Path) -> bool:
    """Whether a cache holds nothing but its lock and cheap measurements (`measures/`, made while
    the site was read): nothing a person would lose if the folder went."""
    return all(
        path.name == CACHE_LOCK or path.relative_to(root).parts[0] == MEASURES_DIR
        for path in root.rglob("*")
    )


class ArtifactStore:
    """Content-addressed artifacts under `root`; `report` receives one line per bad entry."""

    def __init__(self, root: Path, *, report: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.report = _warn if report is None else report
        self._reported: set[str] = set()
        self._prepared = False
        self._verified: dict[str, Artifact] = {}  # key -> artifact checked in full, once
        self._check_format()

    # Layout --------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        path = self.root / key[:2] / key
        note(path)
        return path

    def _check_format(self) -> None:
        marker = self.root / FORMAT_FILE
        if marker.is_file():
            try:
                found = json.loads(marker.read_text(encoding="utf-8"))["format"]
            except (OSError, ValueError, KeyError, TypeError):
                found = "unreadable"
            if found != CACHE_FORMAT:
                raise FeatvisError(
                    f"{self.root}: cache written by format {found}, this featvis uses format "
                    f"{CACHE_FORMAT} (remove the folder, or choose another with --cache)"
                )
        elif self.root.is_dir() and any(p.name not in OWN_ENTRIES for p in self.root.iterdir()):
            raise FeatvisError(
                f"{self.root}: not a featvis cache (no {FORMAT_FILE}) and not empty; "
                "choose an empty or new folder with --cache"
            )
        elif self.root.exists() and not self.root.is_dir():
            raise FeatvisError(f"{self.root}: cache folder is a file")

    def prepare(self) -> None:
        """Create the root and its format file, clear dead temp folders; fail if unwritable.

        Safe to call from several processes at once (every write is a rename of the same content).
        """
        if self._prepared:
            return
        try:
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
            marker = self.root / FORMAT_FILE
            if not marker.is_file():
                fd, tmp = tempfile.mkstemp(prefix=temp_prefix("format"), dir=self.root / TMP_DIR)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(canonical_json({"format": CACHE_FORMAT, "featvis": __version__}) + "\n")
                os.replace(tmp, marker)
        except OSError as exc:
            raise FeatvisError(
                f"{self.root}: cannot write the cache folder ({exc.strerror or exc}); "
                "choose another with --cache"
            ) from None
        self._check_format()
        self.clean_temp()
        self._prepared = True

    def clean_temp(self) -> int:
        """Remove temp entries left by dead processes on this host; returns how many."""
        return clean_temp(self.root)

    # Reading -------------------------------------------------------------------------------
    def get(self, job: VisJob) -> Artifact | None:
        """The artifact of `job`, or None when missing or unusable (reported once). An artifact is
        verified in full once per store: a build opens one store, so once per build."""
        if job.key in self._verified:  # checked once per store (one build): files do not change
            return self._verified[job.key]
        directory = self.path(job.key)
        if not directory.exists():
            return None
        try:
            artifact = self._load(directory, job.key, job.to_dict())
        except _Corrupt as exc:
            self._problem(job.key, str(exc))
            return None
        self._verified[job.key] = artifact
        return artifact

    def has(self, job: VisJob) -> bool:
        return self.get(job) is not None

    def entries(self) -> Iterator[tuple[str, str | None]]:
        """Every artifact folder in the cache as (key, problem or None), checked in full."""
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for directory in sorted(shard.iterdir()):
                try:
                    self._load(directory, directory.name, None)
                    yield directory.name, None
                except _Corrupt as exc:
                    yield directory.name, str(exc)

    def _problem(self, key: str, what: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.report(
                f"cache entry {key} is unusable ({what}; {self.path(key)}); it will be recomputed"
            )

    def _load(self, directory: Path, key: str, spec: dict[str, Any] | None) -> Artifact:
        try:
            meta = read_sidecar(directory / META_FILE)
        except FileNotFoundError:
            raise _Corrupt(f"no {META_FILE}") from None
        except SidecarError as exc:
            raise _Corrupt(str(exc)) from None
        except OSError as exc:
            raise _Corrupt(f"unreadable {META_FILE}: {type(exc).__name__}") from None
        try:
            if meta.cache_format != CACHE_FORMAT or meta.key != key:
                raise _Corrupt("sidecar belongs to another key or format")
            if meta.metrics_version != metrics.VERSION:
                raise _Corrupt(f"its numbers are from metrics version {meta.metrics_version}")
            if spec is None:
                stored = VisJob.from_dict(meta.job)
                if stored.key != key:
                    raise _Corrupt("spec does not hash to the key")
                spec = stored.to_dict()
            if meta.job != json.loads(canonical_json(spec)):
                raise _Corrupt("sidecar spec differs from the job")
            images = tuple(directory / name for name in meta.images)
            snapshots = {
                step: tuple(directory / name for name in names)
                for step, names in meta.snapshots.items()
            }
            listed = [p.name for p in images] + [p.name for ps in snapshots.values() for p in ps]
            if len(images) != len(spec["objectives"]) or set(listed) - set(meta.files):
                raise _Corrupt("sidecar does not list one image per objective")
            for name, info in meta.files.items():
                data = (directory / name).read_bytes()
                if len(data) != info.size or hashlib.sha256(data).hexdigest() != info.sha256:
                    raise _Corrupt(f"{name} does not match its size or sha256")
        except FileNotFoundError as exc:
            raise _Corrupt(f"missing {Path(str(exc.filename)).name}") from None
        except OSError as exc:  # a file that is a folder, an unreadable one
            name = Path(str(exc.filename)).name
            raise _Corrupt(f"unreadable {name}: {type(exc).__name__}") from None
        except DAMAGE as exc:
            raise _Corrupt(f"malformed sidecar: {type(exc).__name__} {exc}"[:200]) from None
        return Artifact(key=key, dir=directory, images=images, snapshots=snapshots, sidecar=meta)

    # Writing -------------------------------------------------------------------------------
    def put(
        self,
        job: VisJob,
        result: RenderResult,
        *,
        device: str,
        batch: dict[str, Any] | None = None,
        worker: dict[str, Any] | None = None,
    ) -> Artifact:
        """Write `result` as the artifact of `job` (replacing any old one) and return it; `batch`
        and `worker` (which batch and process computed it) go into its sidecar."""
        if result.images.shape[0] != job.n_images:
            raise ValueError(f"job {job.key}: {job.n_images} images, result {len(result.images)}")
        bad = not_finite(result)
        if bad is not None:
            raise ValueError(f"job {job.key}: the {bad} is not finite; a failed job is not cached")
        self.prepare()
        key = job.key
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(key), dir=self.root / TMP_DIR))
        try:
            meta = self._write(tmp, job, result, device, batch, worker)
            final = self._publish(tmp, key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._verified.pop(key, None)  # the next get checks the new files, once
        return Artifact(
            key=key,
            dir=final,
            images=tuple(final / name for name in meta.images),
            snapshots={s: tuple(final / n for n in ns) for s, ns in meta.snapshots.items()},
            sidecar=meta,
        )

    def _write(
        self, tmp: Path, job: VisJob, result: RenderResult, device: str,
        batch: dict[str, Any] | None, worker: dict[str, Any] | None,
    ) -> Sidecar:
        files: dict[str, StoredFile] = {}

        def write(name: str, data: bytes) -> str:
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            files[name] = StoredFile(len(data), hashlib.sha256(data).hexdigest())
            return name

        images = tuple(write(f"image-{k}.png", png_bytes(im)) for k, im in enumerate(result.images))
        snapshots = {
            step: tuple(write(f"snapshot-{step}-{k}.png", png_bytes(im)) for k, im in enumerate(t))
            for step, t in sorted(result.snapshots.items())
        }
        meta = Sidecar(
            cache_format=CACHE_FORMAT,
            key=job.key,
            job=json.loads(canonical_json(job.to_dict())),
            images=images,
            snapshots=snapshots,
            files=dict(files),
            final=tuple(float_lists(result.final)),
            history=tuple(tuple(steps) for steps in float_lists(result.history.T)),
            seconds=float(result.seconds),
            device=device,
            versions={
                "featvis": __version__,
                "torch": torch.__version__,
                "python": sys.version.split()[0],
            },
            metrics=Metrics.of(result.images),
            metrics_version=metrics.VERSION,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            batch=batch,
            worker=worker,
            unit=tuple(float_lists(result.unit))
            if result.unit is not None and job.has_group_terms else None,
        )
        write(META_FILE, meta.encode())
        return meta

    def _publish(self, tmp: Path, key: str) -> Path:
        """Rename `tmp` to the key's folder; whatever stood there (old, corrupt) is moved aside."""
        final = self.path(key)
        final.parent.mkdir(exist_ok=True)
        for _ in range(5):
            try:
                os.rename(tmp, final)
                return final
            except OSError:
                if not final.exists():
                    raise
            aside = tempfile.mkdtemp(prefix=temp_prefix(f"{key}-old"), dir=self.root / TMP_DIR)
            try:
                os.rename(final, Path(aside) / "entry")
            except FileNotFoundError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
        raise FeatvisError(f"{final}: could not move the new artifact into place")
