"""The artifact cache: what it writes, how it validates, how it fails."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator.cache.sidecar import SIDECAR_VERSION
from generator.cache.store import (
    CACHE_FORMAT,
    DATASET_DIR,
    FORMAT_FILE,
    TMP_DIR,
    ArtifactStore,
    cache_writing,
)
from generator.cache.temp import temp_host
from generator.core.errors import FeatvisError
from generator.jobs import VisJob
from generator.optvis import objectives as obj
from generator.optvis.render import RenderResult

JOB = VisJob(
    model="efficientnet_lite0",
    weights_digest="0123456789abcdef",
    objectives=(obj.channel("blocks.1.0", 3), obj.channel("blocks.1.0", 3)),
    steps=4,
    size=8,
    snapshot_steps=(2,),
)


def _result(job: VisJob = JOB, seed: int = 0) -> RenderResult:
    g = torch.Generator().manual_seed(seed)
    n = job.n_images
    images = torch.rand(n, 3, job.size, job.size, generator=g)
    return RenderResult(
        images=images,
        snapshots={2: torch.rand(n, 3, job.size, job.size, generator=g)},
        history=torch.arange(job.steps * n, dtype=torch.float32).view(job.steps, n),
        final=torch.tensor([1.5, -0.5][:n]),
        seconds=0.25,
    )


class Reports(list):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "cache", report=Reports())


def test_put_then_get_round_trips_pixels_and_sidecar(store: ArtifactStore):
    assert store.get(JOB) is None and not store.root.exists()  # reading creates nothing
    result = _result()
    art = store.put(JOB, result, device="cpu")
    assert art.dir == store.root / JOB.key[:2] / JOB.key
    got = store.get(JOB)
    assert got is not None and got.images == art.images and got.snapshots == art.snapshots
    for k, path in enumerate(got.images):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        expected = (result.images[k].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(pixels, expected)
    assert [p.name for p in got.snapshots[2]] == ["snapshot-2-0.png", "snapshot-2-1.png"]
    meta = got.sidecar
    assert meta == art.sidecar, "the sidecar read back is the one written"
    assert meta.version == SIDECAR_VERSION
    assert json.loads((got.dir / "meta.json").read_text())["version"] == SIDECAR_VERSION
    assert VisJob.from_dict(meta.job) == JOB
    assert meta.final == (1.5, -0.5)  # a non-finite one is a failed job, never stored
    assert meta.history == ((0, 2, 4, 6), (1, 3, 5, 7))  # per image, per step
    assert meta.device == "cpu" and meta.seconds == 0.25
    assert set(meta.versions) >= {"featvis", "torch"}
    assert len(meta.metrics.high_freq_share) == 2
    assert len(meta.metrics.clipped_fraction) == 2
    assert isinstance(meta.metrics.mean_pairwise_similarity, float)
    assert set(meta.files) == {p.name for p in got.dir.iterdir()} - {"meta.json"}
    assert json.loads((store.root / FORMAT_FILE).read_text())["format"] == CACHE_FORMAT
    assert list((store.root / TMP_DIR).iterdir()) == []


def test_single_image_jobs_have_no_similarity(store: ArtifactStore):
    job = dataclasses.replace(JOB, objectives=JOB.objectives[:1], snapshot_steps=())
    art = store.put(job, dataclasses.replace(_result(job), snapshots={}), device="cpu")
    assert art.sidecar.metrics.mean_pairwise_similarity is None


def test_a_diversity_set_shows_its_channels_activation_and_old_entries_still_read(
    store: ArtifactStore,
):
    """A diversity set's sidecar records each image's channel activation (`unit`), which its
    pages show (`act`) in place of the objective with its diversity term; a sidecar written
    before it was recorded still reads, showing no number; another job shows its objective."""
    from generator.figures.channels import shown_value

    pushed = obj.channel("blocks.1.0", 3) + 5.0 * obj.diversity("blocks.1.0")
    job = dataclasses.replace(JOB, objectives=(pushed, pushed))
    result = dataclasses.replace(_result(job), unit=torch.tensor([0.75, 0.25]))
    art = store.put(job, result, device="cpu")
    assert art.sidecar.unit == (0.75, 0.25)
    assert store.get(job).sidecar == art.sidecar  # type: ignore[union-attr]
    assert [shown_value(job, art.sidecar, i) for i in (0, 1)] == [(0.75, "act"), (0.25, "act")]
    meta = art.dir / "meta.json"
    old = json.loads(meta.read_text())
    del old["unit"]
    meta.write_text(json.dumps(old))
    older = ArtifactStore(store.root, report=Reports()).get(job)  # read afresh
    assert older is not None and older.sidecar.unit is None
    assert shown_value(job, older.sidecar, 0) == (None, "act")
    plain = store.put(JOB, dataclasses.replace(_result(), unit=torch.tensor([1.5, -0.5])),
                      device="cpu")
    assert "unit" not in json.loads((plain.dir / "meta.json").read_text())
    assert shown_value(JOB, plain.sidecar, 1) == (-0.5, "obj")


def test_a_sidecar_without_a_version_is_read_as_version_one(store: ArtifactStore):
    """A sidecar written before the version was recorded has the same keys: it is read."""
    art = store.put(JOB, _result(), device="cpu")
    meta = json.loads((art.dir / "meta.json").read_text())
    del meta["version"]
    (art.dir / "meta.json").write_text(json.dumps(meta))
    got = ArtifactStore(store.root, report=Reports()).get(JOB)
    assert got is not None and got.sidecar.version == 1
    assert dataclasses.replace(got.sidecar, version=SIDECAR_VERSION) == art.sidecar


def _truncate(d: Path) -> None:
    path = d / "image-1.png"
    path.write_bytes(path.read_bytes()[:40])


def _flip_byte(d: Path) -> None:
    path = d / "snapshot-2-0.png"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _garbage_sidecar(d: Path) -> None:
    (d / "meta.json").write_text("{not json")


def _no_sidecar(d: Path) -> None:
    (d / "meta.json").unlink()


def _no_image(d: Path) -> None:
    (d / "image-0.png").unlink()


def _sidecar_of_another_job(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    meta["job"]["seed"] = 7
    (d / "meta.json").write_text(json.dumps(meta))


def _sidecar_of_a_later_version(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    meta["version"] = SIDECAR_VERSION + 1
    (d / "meta.json").write_text(json.dumps(meta))


def _sidecar_without_metrics(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    del meta["metrics"]
    (d / "meta.json").write_text(json.dumps(meta))


def _sidecar_drops_an_image(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    meta["images"] = meta["images"][:1]
    (d / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", [
    _truncate, _flip_byte, _garbage_sidecar, _no_sidecar, _no_image, _sidecar_of_another_job,
    _sidecar_drops_an_image, _sidecar_of_a_later_version, _sidecar_without_metrics,
])
def test_damaged_entries_are_reported_missing_then_replaced(store: ArtifactStore, damage):
    art = store.put(JOB, _result(), device="cpu")
    damage(art.dir)
    assert store.get(JOB) is None and not store.has(JOB)
    assert len(store.report) == 1 and JOB.key in store.report[0]  # reported once
    assert [problem is not None for _, problem in store.entries()] == [True]
    fresh = store.put(JOB, _result(), device="cpu")
    assert store.get(JOB) is not None and fresh.dir == art.dir
    assert [problem for _, problem in store.entries()] == [None]


def test_put_replaces_a_valid_entry(store: ArtifactStore):
    store.put(JOB, _result(seed=0), device="cpu")
    old = (store.path(JOB.key) / "image-0.png").read_bytes()
    store.put(JOB, _result(seed=1), device="cuda:0")
    got = store.get(JOB)
    assert got is not None and got.sidecar.device == "cuda:0"
    assert got.images[0].read_bytes() != old


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_folders_of_dead_processes_are_removed(store: ArtifactStore):
    host = temp_host()
    tmp = store.root / TMP_DIR
    dead = tmp / f"{JOB.key}.{host}.{_dead_pid()}.abc123"
    alive = tmp / f"{JOB.key}.{host}.{os.getpid()}.def456"
    elsewhere = tmp / f"{JOB.key}.other-host.1.ghi789"
    for d in (dead, alive, elsewhere):
        d.mkdir(parents=True)
        (d / "image-0.png").write_bytes(b"partial")
    half_format = tmp / f"format.{host}.{_dead_pid()}.jkl012"
    half_format.write_text("{")
    (store.root / FORMAT_FILE).write_text(json.dumps({"format": CACHE_FORMAT}))
    store.prepare()
    assert not dead.exists() and not half_format.exists()
    assert alive.exists() and elsewhere.exists()
    assert store.get(JOB) is None  # a temp folder is never an artifact


def test_a_writer_removes_dead_temp_folders_even_when_it_computes_nothing(store: ArtifactStore):
    # a `build --force` killed half way: the old artifacts whole, its new ones left in .tmp/
    store.prepare()
    dead = store.root / TMP_DIR / f"{JOB.key}.{temp_host()}.{_dead_pid()}.abc123"
    dead.mkdir(parents=True)
    with cache_writing(store.root):
        assert not dead.exists()


def test_incompatible_format_is_an_error(tmp_path: Path):
    root = tmp_path / "cache"
    root.mkdir()
    (root / FORMAT_FILE).write_text(json.dumps({"format": CACHE_FORMAT + 1}))
    with pytest.raises(FeatvisError, match=f"format {CACHE_FORMAT + 1}"):
        ArtifactStore(root)
    (root / FORMAT_FILE).write_text("garbage")
    with pytest.raises(FeatvisError, match="format unreadable"):
        ArtifactStore(root)


def test_a_foreign_folder_is_not_a_cache(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FeatvisError, match="not a featvis cache"):
        ArtifactStore(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_killed_before_the_format_file_leaves_a_usable_cache(tmp_path: Path):
    # killed between creating the temp folder (or a dataset scan) and writing the format file
    root = tmp_path / "cache"
    (root / TMP_DIR / "featvis-format-1-x").mkdir(parents=True)
    (root / DATASET_DIR / "abc").mkdir(parents=True)
    store = ArtifactStore(root)
    store.prepare()
    assert (root / FORMAT_FILE).is_file() and (root / DATASET_DIR / "abc").is_dir()


def test_unwritable_cache_folder_is_an_error(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    store = ArtifactStore(tmp_path / "file" / "cache")
    with pytest.raises(FeatvisError, match="cannot write the cache folder"):
        store.prepare()
    with pytest.raises(FeatvisError, match="cannot write"):
        store.put(JOB, _result(), device="cpu")


def test_a_copied_cache_is_still_valid(store: ArtifactStore, tmp_path: Path):
    store.put(JOB, _result(), device="cpu")
    shutil.copytree(store.root, tmp_path / "copy")
    assert ArtifactStore(tmp_path / "copy").get(JOB) is not None
