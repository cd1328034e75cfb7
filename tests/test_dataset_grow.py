"""A folder that gained photos is scanned from its earlier scan, reading only the new photos: the
tables equal a full scan's; anything else is a full scan; an interrupted one goes on; superseded
scans leave the cache."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from generator.dataset import scan as dataset_scan
from generator.dataset.index import DatasetIndex
from generator.dataset.scan import load_or_scan
from generator.dataset.tables import _LayerScan
from generator.models import LoadedModel

OLD = [f"p{i:02d}.png" for i in range(0, 24, 2)] + ["p13.jpg"]  # 12 photos and a broken file
NEW = ["a.png", "p05.png", "p07.jpg", "z.png"]  # sorted before, between and after; one broken
BROKEN = {"p13.jpg", "p07.jpg"}
TOP_K = 3


def _add(folder: Path, names: list[str]) -> None:
    """Tiny photos of seeded noise and a bright square (some with flat, tying regions)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        if name in BROKEN:
            (folder / name).write_bytes(b"not a photo" * 40)
            continue
        rng = np.random.default_rng(sum(map(ord, name)))
        pixels = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
        if name < "p10":
            pixels[:18, :22] = 0  # a black corner: ReLU layers tie at 0 there
        pixels[10:20, 12:24] = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)


def _scan(tiny: LoadedModel, folder: Path, cache: Path, **options: object) -> DatasetIndex:
    config = SimpleNamespace(dataset=folder, cache_dir=cache)
    settings = {"top_k": TOP_K, "progress": False, "batch_size": 4, "workers": 0, **options}
    index = load_or_scan(config, tiny, tiny.layer_names, **settings)  # type: ignore[arg-type]
    assert index is not None
    return index


def _opening(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    real = Image.open

    def counting(fp, *a, **k):  # type: ignore[no-untyped-def]
        opened.append(Path(fp).name)
        return real(fp, *a, **k)

    monkeypatch.setattr(Image, "open", counting)
    return opened


def _assert_same_tables(got: DatasetIndex, want: DatasetIndex) -> None:
    """Ids and positions exact; values exact up to float rounding (the network sees each photo in
    another batch); the float16 spectrum sample within its precision."""
    assert got.files == want.files
    assert got.summary.images_read == want.summary.images_read
    assert got.summary.skipped == want.summary.skipped
    for layer in want.layer_names:
        a, b = got._layers[layer], want._layers[layer]
        for kind in ("top", "bottom"):
            assert torch.equal(a[kind]["ids"], b[kind]["ids"]), (layer, kind)
            assert torch.equal(a[kind]["pos"], b[kind]["pos"]), (layer, kind)
            torch.testing.assert_close(a[kind]["values"], b[kind]["values"], atol=1e-5, rtol=1e-5)
        for key in ("mean", "std", "best_mean", "pattern"):
            torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5)
        assert torch.equal(a["at_floor"], b["at_floor"]) and a["field"] == b["field"]
        assert torch.equal(a["sample_ids"], b["sample_ids"])
        torch.testing.assert_close(a["sample_means"], b["sample_means"], atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("sample", [2048, 15, 6], ids=["every-photo", "crossing", "sampled"])
def test_added_photos_alone_are_read_and_the_tables_equal_a_full_scan(
    tiny, tmp_path, monkeypatch, capsys, sample
):
    monkeypatch.setattr(dataset_scan, "SPECTRUM_SAMPLE", sample)
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    _add(folder, OLD)
    _scan(tiny, folder, cache)
    _add(folder, NEW)
    opened = _opening(monkeypatch)
    grown = _scan(tiny, folder, cache, progress=True)
    assert sorted(opened) == sorted(NEW)
    assert "featvis: dataset scan: 4 new photos (13 cached)" in capsys.readouterr().err
    assert grown.summary.cached == 13 and "(4 new, 13 from the earlier scan)" in (
        grown.summary.describe())
    assert grown.summary.images_skipped == 2
    full = _scan(tiny, folder, tmp_path / "fresh")
    assert full.summary.cached == 0
    _assert_same_tables(grown, full)
    if sample < 17:  # the grown folder's spectrum keeps some of its 15 readable photos
        assert 0 < grown._layers["stem.2"]["sample_ids"].numel() < 15
    # the earlier scan is superseded: one scan of the folder is left, and it is read as it is
    assert len(list((cache / "dataset").iterdir())) == 1
    opened.clear()
    assert _scan(tiny, folder, cache).summary.from_cache and opened == []


@pytest.mark.parametrize("change", ["removed", "changed", "renamed"])
def test_a_photo_removed_or_changed_is_a_full_scan(tiny, tmp_path, monkeypatch, capsys, change):
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    _add(folder, OLD)
    _scan(tiny, folder, cache)
    _add(folder, ["z.png"])
    if change == "removed":
        (folder / "p04.png").unlink()
    elif change == "changed":
        stat = (folder / "p04.png").stat()
        os.utime(folder / "p04.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    else:
        (folder / "p04.png").rename(folder / "p04b.png")
    opened = _opening(monkeypatch)
    index = _scan(tiny, folder, cache, progress=True)
    assert len(opened) == len(list(folder.iterdir())) and index.summary.cached == 0
    err = capsys.readouterr().err
    assert re.search(r"dataset scan: 1\d photos, a full scan \(1 photo removed or changed", err)
    assert len(list((cache / "dataset").iterdir())) == 1, "the earlier scan is superseded"


def test_another_setting_is_a_full_scan_and_keeps_the_other_scan(tiny, tmp_path, monkeypatch):
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    _add(folder, OLD)
    _scan(tiny, folder, cache)
    _add(folder, ["z.png"])
    opened = _opening(monkeypatch)
    _scan(tiny, folder, cache, top_k=2)
    assert len(opened) == len(OLD) + 1
    assert len(list((cache / "dataset").iterdir())) == 2
    opened.clear()
    _scan(tiny, folder, cache, force=True)
    assert len(opened) == len(OLD) + 1, "--force reads every photo"


@pytest.mark.parametrize("earlier", ["kept", "gone"])
def test_an_interrupted_scan_of_new_photos_goes_on_or_starts_over(
    tiny, tmp_path, monkeypatch, earlier
):
    """Stopped after the first new photo (a checkpoint after each), the next run reads only the
    new photos left, from the same earlier scan; with the earlier scan gone, it reads every photo
    (the checkpoint, made on top of that scan, is not used). Either way its tables equal a full
    scan's and the checkpoint is removed."""
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    _add(folder, OLD)
    first = _scan(tiny, folder, cache)
    _add(folder, NEW)
    monkeypatch.setattr(dataset_scan, "CHECKPOINT_SECONDS", 0.0)
    real_update, calls = _LayerScan.update, []

    def update_then_stop(self, act, ids):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) > len(tiny.layer_names):
            raise KeyboardInterrupt
        real_update(self, act, ids)

    monkeypatch.setattr(_LayerScan, "update", update_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _scan(tiny, folder, cache, batch_size=1)
    assert len(list((cache / "dataset").iterdir())) == 2, "the earlier scan is kept"
    if earlier == "gone":
        shutil.rmtree(cache / "dataset" / first.key)
    monkeypatch.setattr(_LayerScan, "update", real_update)
    opened = _opening(monkeypatch)
    grown = _scan(tiny, folder, cache, batch_size=1)
    if earlier == "kept":
        assert sorted(opened) == ["p05.png", "p07.jpg", "z.png"], "a.png was read before"
    else:
        assert len(opened) == len(OLD) + len(NEW) and grown.summary.cached == 0
    assert not list(cache.rglob("partial-*.pt")), "the checkpoint is removed"
    _assert_same_tables(grown, _scan(tiny, folder, tmp_path / "fresh"))


def test_the_running_state_keeps_each_photos_layer_vector_once(tiny) -> None:
    """The top table's layer vectors are saved once per photo it holds (not once per channel
    and place: (C, k, C) floats), and restore exactly; a state of the earlier layout, with the
    (C, k, C) vectors, still restores."""
    info = tiny.layer(tiny.layer_names[-1])
    c, k = info.channels, TOP_K
    scan = _LayerScan(info, k, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    for start in range(0, 20, 4):  # 20 photos in batches of 4, some channels flat (ties)
        act = torch.randn(4, c, 3, 3, generator=gen)
        act[:, : c // 4] = act[:, : c // 4].clamp(min=0)
        scan.update(act, torch.arange(start, start + 4))
    state = scan.state()
    top = state["top"]
    assert "vectors" not in top
    photos = int(torch.unique(top["ids"][top["ids"] >= 0]).numel())
    assert top["rows"].shape == (photos, c) and photos <= 20
    again = _LayerScan(info, k, torch.device("cpu"))
    again.restore(state)
    assert again.top.vectors is not None and scan.top.vectors is not None
    assert torch.equal(again.top.vectors, scan.top.vectors)
    older = {**state, "top": {**scan.top.table(), "vectors": scan.top.vectors.clone()}}
    old = _LayerScan(info, k, torch.device("cpu"))
    old.restore(older)
    assert torch.equal(old.top.vectors, scan.top.vectors)  # type: ignore[arg-type]
    more = torch.randn(4, c, 3, 3, generator=gen)
    for one in (scan, again, old):  # each goes on alike from its state
        one.update(more, torch.arange(20, 24))
    assert torch.equal(again.top.vectors, scan.top.vectors)  # type: ignore[arg-type]
    assert torch.equal(old.top.vectors, scan.top.vectors)  # type: ignore[arg-type]
