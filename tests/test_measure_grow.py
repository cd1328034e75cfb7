# ruff: noqa: E501  (test names read best on one line)
"""Measurements are keyed by what they read: after a folder gains a photo, a channel whose top and
lowest photos did not change keeps its two-alternative score, one whose changed is measured again,
and every result equals a measurement from scratch."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from generator.cache.store import MEASURES_DIR, ArtifactStore
from generator.dataset.index import DatasetIndex
from generator.dataset.scan import load_or_scan
from generator.jobs import VisJob
from generator.measure import store as measure_store
from generator.measure.legibility import HELD, LegibleUnit, measure_legibility, site_judge
from generator.measure.stage import Unit, measure_site
from generator.measure.twoafc import REFS, unit_photos
from generator.models import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis.render import RenderResult

LAYER = "stage1.1"  # 16 channels; the judge (the same network) reads later layers


def _photo(folder: Path, name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
    pixels[8:20, 10:26] = rng.integers(0, 256, 3, dtype=np.uint8)
    Image.fromarray(pixels).save(folder / name)


def _scan(tiny: LoadedModel, folder: Path, cache: Path) -> DatasetIndex:
    config = SimpleNamespace(dataset=folder, cache_dir=cache)
    index = load_or_scan(config, tiny, [LAYER], top_k=6, progress=False, batch_size=8,
                         workers=0)
    assert index is not None
    return index


def _units(tiny: LoadedModel, store: ArtifactStore) -> tuple[list[Unit], list[LegibleUnit]]:
    gen = torch.Generator().manual_seed(0)
    checks, legible = [], []
    for channel in range(tiny.layer(LAYER).channels):
        job = VisJob(tiny.id, "x", (obj.channel(LAYER, channel),), steps=1, size=24, seed=channel)
        images = torch.rand(1, 3, 24, 24, generator=gen)
        store.put(job, RenderResult(images=images, snapshots={}, history=torch.zeros(1, 1),
                                    final=torch.zeros(1)), device="cpu")
        checks.append(Unit(job, LAYER, channel))
        legible.append(LegibleUnit(LAYER, channel, (job,)))
    return checks, legible


def _measure(tiny, index, store, units, monkeypatch) -> tuple[object, object, list[str]]:  # type: ignore[no-untyped-def]
    """Both measurements of `units`, and the keys this wrote to the measure store."""
    written: list[str] = []
    real = measure_store.MeasureStore.put

    def put(self, key, data):  # type: ignore[no-untyped-def]
        written.append(key)
        real(self, key, data)

    monkeypatch.setattr(measure_store.MeasureStore, "put", put)
    checks, legible = units
    found = measure_site(tiny, store, index, checks, [])
    verdicts, missing = measure_legibility(site_judge(tiny, [tiny]), index, store, legible)
    monkeypatch.setattr(measure_store.MeasureStore, "put", real)
    assert missing == 0 and len(verdicts) == len(legible)
    return found, verdicts, written


def _photos_of(index: DatasetIndex, channel: int) -> list[object]:
    p = unit_photos(index, LAYER, channel, REFS, HELD)
    return [[index.photo_id(e.path), e.y, e.x]
            for part in (p.top_refs, p.top_held, p.bottom_refs, p.bottom_held) for e in part]


def _start(tiny: LoadedModel, tmp_path: Path, photos: int):  # type: ignore[no-untyped-def]
    """A folder of `photos` photos, its scan, and a visualization of every channel of LAYER."""
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    folder.mkdir()
    for i in range(photos):
        _photo(folder, f"p{i:02d}.png", i)
    store = ArtifactStore(cache)
    return folder, cache, store, _units(tiny, store), _scan(tiny, folder, cache)


def test_a_new_photo_measures_again_only_the_channels_whose_photos_it_changed(tiny, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder, cache, store, units, before = _start(tiny, tmp_path, 16)
    first_found, _, first = _measure(tiny, before, store, units, monkeypatch)
    assert len(first) == 2 * 16  # a pattern check and a score per channel
    again = _measure(tiny, before, store, units, monkeypatch)[2]
    assert again == []  # nothing changed: nothing measured

    _photo(folder, "p99.png", 99)
    after = _scan(tiny, folder, cache)
    assert after.summary.cached == 16  # the earlier scan went on: the grown folder's case
    changed = {c for c in range(16) if _photos_of(before, c) != _photos_of(after, c)}
    assert 0 < len(changed) < 16, changed
    found, verdicts, written = _measure(tiny, after, store, units, monkeypatch)
    # the scores of the channels whose photos changed, and nothing else: the pattern checks
    # compare the stored network's part with the new scan's numbers
    assert len(written) == len(changed)
    assert found.patterns != first_found.patterns  # the new photo moved the layer's means

    shutil.rmtree(cache / MEASURES_DIR)
    fresh_found, fresh, _ = _measure(tiny, after, store, units, monkeypatch)
    assert verdicts == fresh
    assert found.patterns == fresh_found.patterns and found.readings == fresh_found.readings


def test_a_rewritten_photo_is_measured_again(tiny, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder, cache, store, units, index = _start(tiny, tmp_path, 12)
    _measure(tiny, index, store, units, monkeypatch)
    top = index.examples(LAYER, 0)[0].path
    os.utime(top, ns=(1, 1))  # the same bytes, another modification time: read as changed
    rescanned = _scan(tiny, folder, cache)
    assert rescanned.photo_id(top) != index.photo_id(top)
    written = _measure(tiny, rescanned, store, units, monkeypatch)[2]
    using = [c for c in range(16) if any(
        index.photo_id(top) == item[0] for item in _photos_of(index, c))]
    assert 0 in using and len(written) == len(using)  # a score again where the photo is read
