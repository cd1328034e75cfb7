# ruff: noqa: E501  (test names read best on one line)
"""An accentuated photo is cached by its pixels and the model; its agreements with the channel's
top photos are scored against the scan as it is: after a folder grows, the explorer's numbers
equal a from-scratch build's, and only the accentuations whose photo changed are made again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_measure_grow import LAYER, _photo, _scan

from generator.atlas import accentstore
from generator.atlas.site import site_accentuations
from generator.config.presets import PRESETS, Preset

CHANNELS = (0, 1, 2, 3)  # of LAYER's 16


def _bright(folder: Path, name: str, seed: int) -> None:
    """A photo unlike `_photo`'s: photos of these move the layer's mean and spread."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(190, 256, (36, 44, 3), dtype=np.uint8)
    pixels[8:20, 10:26] = rng.integers(0, 256, 3, dtype=np.uint8)
    Image.fromarray(pixels).save(folder / name)


def _accents(tiny, index, cache, monkeypatch):  # type: ignore[no-untyped-def]
    """The explorer's accentuations of CHANNELS, by (channel, photo name), and the keys of the
    ones this computed."""
    computed: list[str] = []
    real = accentstore.accentuate

    def accentuate(model, jobs, photos, **kw):  # type: ignore[no-untyped-def]
        computed.extend(job.key for job in jobs)
        return real(model, jobs, photos, **kw)

    monkeypatch.setattr(accentstore, "accentuate", accentuate)
    config = SimpleNamespace(cache_dir=cache, seed=0)
    preset = SimpleNamespace(steps=2, size=32, accent_steps=48)
    found = site_accentuations(config, tiny, preset, {LAYER: dict.fromkeys(CHANNELS)}, index)
    monkeypatch.setattr(accentstore, "accentuate", real)
    out = {(channel, item.photo.name): item for (_, channel), items in found.items()
           for item in items}
    assert len(out) == 3 * len(CHANNELS)
    return out, set(computed)


def test_a_grown_folder_scores_cached_accentuations_against_the_new_scan(tiny, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    folder.mkdir()
    for i in range(12):
        _photo(folder, f"p{i:02d}.png", i)
    before, made = _accents(tiny, _scan(tiny, folder, cache), cache, monkeypatch)
    assert {item.job.key for item in before.values()} <= made

    for i in range(4):  # photos like the first ones (some new to a top), and bright ones
        _photo(folder, f"q{i:02d}.png", 50 + i)
        _bright(folder, f"r{i:02d}.png", 60 + i)
    grown = _scan(tiny, folder, cache)
    after, again = _accents(tiny, grown, cache, monkeypatch)
    old_keys = {item.job.key for item in before.values()}
    new_keys = {item.job.key for item in after.values()} - old_keys
    assert again == new_keys  # only the accentuations of a photo new to the top are made
    kept = set(before) & set(after)
    assert kept and new_keys, "some top photos stay (their accentuations are read), some change"

    fresh_cache = tmp_path / "fresh"
    fresh, _ = _accents(tiny, _scan(tiny, folder, fresh_cache), fresh_cache, monkeypatch)
    assert set(fresh) == set(after)
    moved = 0
    for unit, item in after.items():
        numbers, expected = item.result.numbers(), fresh[unit].result.numbers()
        for name in ("agreement", "photo_pattern", "image_pattern"):
            assert numbers[name] == pytest.approx(expected[name], abs=1e-5), (unit, name)
        if unit in before:
            moved += abs(numbers["photo_pattern"] - before[unit].result.numbers()["photo_pattern"]) > 1e-4
    assert moved, "the new photos moved the layer's numbers: the test would see a stale one"
    for unit in kept:  # read back from the cache, not made again
        torch.testing.assert_close(after[unit].result.image, before[unit].result.image,
                                   atol=1 / 255, rtol=0)


def test_the_quick_preset_accentuates_in_fewer_steps_the_standard_as_before(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A quick build's accentuations take the quick preset's 16 steps (its visualizations take
    3/8 of the standard's); the standard and full presets keep 48, so their cache keys stay; a
    `--steps` below either is the count."""
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    folder.mkdir()
    for i in range(8):
        _photo(folder, f"p{i:02d}.png", i)
    index = _scan(tiny, folder, cache)
    config = SimpleNamespace(cache_dir=cache, seed=0)

    def steps(preset: Preset) -> set[int]:
        found = site_accentuations(config, tiny, replace(preset, size=32), {LAYER: {0: None}}, index)
        assert found
        return {item.job.steps for items in found.values() for item in items}

    assert steps(PRESETS["quick"]) == {16}
    assert steps(PRESETS["standard"]) == steps(PRESETS["full"]) == {48}
    assert steps(replace(PRESETS["quick"], steps=8)) == {8}
