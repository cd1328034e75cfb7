"""Dataset examples: the scan against brute force, skipping, the cache, bad folders, geometry."""

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

from generator.cli import main
from generator.core.errors import FeatvisError
from generator.dataset import scan as dataset_scan
from generator.dataset.checks import check_patterns
from generator.dataset.fields import ReceptiveField
from generator.dataset.folder import list_images, load_view, open_photo
from generator.dataset.grow import spectrum_sample
from generator.dataset.index import Example, _patch_box
from generator.dataset.scan import load_or_scan
from generator.dataset.tables import _LayerScan

LAYERS = ["conv_stem", "blocks.1.1", "blocks.3.0", "blocks.5.3", "conv_head"]
TOP_K = 3


@pytest.fixture(scope="module")
def model(lite0):
    return lite0


def _make_folder(root: Path, sample: Path) -> Path:
    """7 photos (one as PNG with an upper-case suffix, two in a subfolder) and one corrupt JPEG."""
    photos = sorted(sample.glob("*.jpg"))[::143][:7]
    (root / "sub").mkdir(parents=True)
    for i, src in enumerate(photos):
        if i == 0:
            Image.open(src).save(root / (src.stem + ".PNG"))
        else:
            shutil.copy(src, root / ("sub" if i >= 5 else "") / src.name)
    (root / "zz_corrupt.jpg").write_bytes(os.urandom(2048))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample_dir) -> Path:
    return _make_folder(tmp_path_factory.mktemp("photos"), sample_dir)


def _config(folder: Path, cache: Path) -> SimpleNamespace:
    return SimpleNamespace(dataset=folder, cache_dir=cache)


@pytest.fixture(scope="module")
def scanned(model, folder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    index = load_or_scan(
        _config(folder, cache), model, LAYERS, top_k=TOP_K, progress=False, batch_size=3, workers=0
    )
    return index, cache


def _brute_force(model, folder: Path, files: list[str]) -> dict[str, torch.Tensor]:
    """Every layer's full activations for every readable image, in one batch, hooks that copy."""
    images = torch.stack([load_view(folder / f, model.input_size) for f in files]).float() / 255
    modules = dict(model.net.named_modules())
    store: dict[str, torch.Tensor] = {}
    handles = [
        modules[model.layer(name).module_path].register_forward_hook(
            lambda _m, _i, out, name=name: store.__setitem__(name, out.detach().clone())
        )
        for name in LAYERS
    ]
    try:
        with torch.no_grad():
            model.net(model.preprocess(images))
    finally:
        for h in handles:
            h.remove()
    return store


def test_scan_matches_brute_force(model, folder, scanned):
    index, _ = scanned
    readable = [f for f in list_images(folder) if f != "zz_corrupt.jpg"]
    acts = _brute_force(model, folder, readable)
    position = {folder / f: i for i, f in enumerate(readable)}
    for layer in LAYERS:
        act = acts[layer]
        flat = act.flatten(2)
        means = flat.mean(dim=2)
        constant = index.constant_channels(layer)
        for channel in range(0, act.shape[1], max(1, act.shape[1] // 12)):
            if channel in constant:  # one value on every photo: no examples, which would tie
                assert float(flat[:, channel].max() - flat[:, channel].min()) < 1e-3
                assert index.examples(layer, channel) == []
                assert index.examples(layer, channel, "bottom") == []
                assert index.spectrum(layer, channel, 16) == []
                continue
            for kind, values in (("top", flat.amax(2)), ("bottom", flat.amin(2))):
                expected = values[:, channel].sort(descending=kind == "top").values[:TOP_K]
                found = index.examples(layer, channel, kind)
                assert len(found) == TOP_K
                got = torch.tensor([e.activation for e in found])
                # batched against alone: 3.1e-5 at most over kernel paths and thread counts
                # (benchmarks/results/tolerances.md), 30x under the bound
                torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)
                for e in found:
                    i = position[e.path]
                    value = torch.tensor(e.activation)
                    torch.testing.assert_close(values[i, channel], value, atol=1e-3, rtol=1e-4)
                    peak = act[i, channel, e.y, e.x]
                    torch.testing.assert_close(peak, value, atol=1e-3, rtol=1e-4)
            top_ids = [position[e.path] for e in index.examples(layer, channel)]
            torch.testing.assert_close(index.pattern(layer, channel), means[top_ids].mean(0),
                                       atol=1e-3, rtol=1e-4)
            assert index.mean_activation(layer, channel) == pytest.approx(
                float(means[:, channel].mean()), abs=1e-3, rel=1e-4)
            assert index.strongest_mean(layer, channel) == pytest.approx(
                float(means[:, channel].max()), abs=1e-3, rel=1e-4)
            # the spectrum: every photo here (fewer than SPECTRUM_SAMPLE), by mean, ascending
            spectrum = index.spectrum(layer, channel, 16)
            assert sorted(position[e.path] for e in spectrum) == list(range(len(readable)))
            got = torch.tensor([e.activation for e in spectrum])
            assert (got[1:] >= got[:-1]).all()
            own = means[[position[e.path] for e in spectrum], channel]
            torch.testing.assert_close(got, own, atol=2e-2, rtol=2e-3)  # stored as float16
            assert all(e.whole for e in spectrum)
            ends = index.spectrum(layer, channel, 3)
            assert [e.path for e in ends] == [spectrum[0].path, spectrum[3].path, spectrum[-1].path]
            strongest = index.examples(layer, channel)[0].activation
            assert index.max_activation(layer, channel) == strongest
            assert index.min_activation(layer, channel) == found[0].activation  # bottom, last kind


def test_a_photo_among_the_top_is_not_shown_among_the_bottom(scanned):
    """A photo whose peak tops a channel and whose lowest position is among the channel's lowest
    is shown once, among the top; the bottom keeps the other photos in their order."""
    index, _ = scanned
    both = 0
    for layer in LAYERS:
        for channel in range(index.channel_means(layer).numel()):
            top = [e.path for e in index.examples(layer, channel, "top")[:TOP_K]]
            bottom = [e.path for e in index.examples(layer, channel, "bottom")]
            least = [e.path for e in index.least(layer, channel, TOP_K)]
            both += bool(set(top) & set(bottom))
            assert not set(top) & set(least), (layer, channel)
            assert least == [path for path in bottom if path not in top][:TOP_K]
    assert both > 0, "no photo of the scan was among both a channel's top and its bottom"


def test_spectrum_sample_beyond_its_size_is_chosen_by_name(model, folder, tmp_path, monkeypatch):
    """Beyond `SPECTRUM_SAMPLE` photos the sample is those whose names hash low enough: about
    that many, and a photo left out stays out as the folder grows (a grown folder's scan goes on
    from the earlier one's sample)."""
    monkeypatch.setattr(dataset_scan, "SPECTRUM_SAMPLE", 3)
    index = load_or_scan(_config(folder, tmp_path), model, ["blocks.2.0"], top_k=2,
                         progress=False, workers=0)
    files = list_images(folder)
    rule = spectrum_sample(files, 3)
    picked = {e.path for e in index.spectrum("blocks.2.0", 5, 16)}
    readable = {folder / f for f, keep in zip(files, rule.tolist(), strict=True) if keep}
    assert picked == readable - {folder / "zz_corrupt.jpg"} and 0 < len(picked) < len(files) - 1
    many = [f"photo{i:05d}.jpg" for i in range(20000)]
    chosen = spectrum_sample(many, 2048)
    assert 1800 < int(chosen.sum()) < 2300
    grown = spectrum_sample(many + [f"photo{i:05d}b.jpg" for i in range(5000)], 2048)
    assert not (grown[:20000] & ~chosen).any(), "a photo left out came back in"
    assert bool(spectrum_sample(many[:2048], 2048).all())


def test_stem_and_head_are_read_before_their_inplace_relu6(scanned):
    index, _ = scanned
    # Pre-activation values leave [0, 6]; clipped ones (a hook read after ReLU6) would not.
    assert max(index.max_activation("conv_stem", c) for c in range(32)) > 6.0
    assert min(index.min_activation("conv_head", c) for c in range(64)) < 0.0


def test_corrupt_images_are_counted_not_fatal(scanned):
    index, _ = scanned
    assert index.summary.images_read == 7
    assert index.summary.images_skipped == 1
    assert index.summary.skipped[0].startswith("zz_corrupt.jpg: ")
    assert all(e.path.name != "zz_corrupt.jpg" for e in index.examples("conv_head", 0))


def test_listing_is_recursive_sorted_and_case_insensitive(folder):
    files = list_images(folder)
    assert files == sorted(files)
    assert any(f.endswith(".PNG") for f in files) and any(f.startswith("sub/") for f in files)
    assert "notes.txt" not in files


def test_a_photo_whose_name_is_not_utf8_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """Its name cannot be written into a page: the scan skips it, saying why; the folder's
    digest is still taken."""
    from generator.dataset.folder import _Photos, folder_fingerprint

    Image.new("RGB", (20, 12), (200, 30, 30)).save(tmp_path / "a.jpg")
    (tmp_path / os.fsdecode(b"caf\xe9.jpg")).write_bytes((tmp_path / "a.jpg").read_bytes())
    files = list_images(tmp_path)
    assert files == ["a.jpg", os.fsdecode(b"caf\xe9.jpg")]
    assert len(folder_fingerprint(tmp_path, files)) == 64
    photos = _Photos(tmp_path, files, 16)
    assert photos[0][2] == ""
    assert photos[1][2] == "ValueError: its name is not UTF-8 (rename the file)"


def test_linked_folders_and_bitmaps_are_listed(tmp_path: Path) -> None:
    """A linked folder is walked (once, and a link loop ends); .bmp and .tif photos are read."""
    outside, root = tmp_path / "outside", tmp_path / "photos"
    outside.mkdir()
    root.mkdir()
    picture = Image.new("RGB", (20, 12), (200, 30, 30))
    picture.save(outside / "a.jpg")
    picture.save(root / "b.BMP")
    picture.save(root / "c.tif")
    (root / "cats").symlink_to(outside)
    (root / "again").symlink_to(outside)
    (outside / "loop").symlink_to(root)
    files = list_images(root)
    assert files == ["again/a.jpg", "b.BMP", "c.tif"]
    assert all(load_view(root / f, 16).shape == (3, 16, 16) for f in files)


def _counting_open(monkeypatch) -> list[str]:
    opened: list[str] = []
    real = Image.open

    def counting(fp, *a, **k):
        opened.append(str(fp))
        return real(fp, *a, **k)

    monkeypatch.setattr(Image, "open", counting)
    return opened


def test_rescan_of_unchanged_folder_reads_no_image(model, folder, scanned, monkeypatch):
    first, cache = scanned
    opened = _counting_open(monkeypatch)
    again = load_or_scan(_config(folder, cache), model, LAYERS, top_k=TOP_K, progress=False)
    assert opened == []
    assert again.summary.from_cache and again.summary.images_skipped == 1
    assert again.examples("blocks.3.0", 5, "bottom") == first.examples("blocks.3.0", 5, "bottom")
    # A subset of the cached layers is served from the cache too.
    load_or_scan(_config(folder, cache), model, ["conv_head"], top_k=TOP_K, progress=False)
    assert opened == []


def test_changed_folder_or_new_layer_rescans(model, folder, sample_dir, tmp_path, monkeypatch):
    local = tmp_path / "photos"
    shutil.copytree(folder, local)
    config = _config(local, tmp_path / "cache")
    load_or_scan(config, model, ["blocks.1.1"], top_k=2, progress=False, workers=0)
    opened = _counting_open(monkeypatch)
    load_or_scan(config, model, ["blocks.1.1", "blocks.2.0"], top_k=2, progress=False, workers=0)
    assert len(opened) == 8  # a layer not cached yet: one pass over every image
    opened.clear()
    shutil.copy(sorted(sample_dir.glob("*.jpg"))[500], local / "sub" / "added.jpg")
    index = load_or_scan(config, model, ["blocks.1.1"], top_k=2, progress=False, workers=0)
    assert not index.summary.from_cache and index.summary.images_read == 8
    assert len(opened) == 1  # a photo added: only it is read (tests/test_dataset_grow.py)
    opened.clear()
    target = next(local.glob("*.PNG"))  # a photo every earlier scan read
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    index = load_or_scan(config, model, ["blocks.1.1"], top_k=2, progress=False)
    assert not index.summary.from_cache and index.summary.cached == 0
    assert len(opened) == 9  # a photo changed: every photo is read again


def test_an_interrupted_scan_goes_on_where_it_stopped(model, folder, scanned, tmp_path,
                                                      monkeypatch):
    """Ctrl-C after two batches of three, with a checkpoint after every batch: the next scan opens
    only the two images left, and its tables are the uninterrupted scan's."""
    monkeypatch.setattr(dataset_scan, "CHECKPOINT_SECONDS", 0.0)
    real_update, calls = _LayerScan.update, []

    def update_then_stop(self, act, ids):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) > 2 * len(LAYERS):
            raise KeyboardInterrupt
        real_update(self, act, ids)

    monkeypatch.setattr(_LayerScan, "update", update_then_stop)
    config = _config(folder, tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        load_or_scan(config, model, LAYERS, top_k=TOP_K, progress=False, batch_size=3, workers=0)
    assert list((tmp_path / "cache").rglob("partial-*.pt")), "a checkpoint was left"
    monkeypatch.setattr(_LayerScan, "update", real_update)
    opened = _counting_open(monkeypatch)
    index = load_or_scan(config, model, LAYERS, top_k=TOP_K, progress=False, batch_size=3,
                         workers=0)
    assert len(opened) == 2, opened  # images 7 and 8 of 8 (the last one is the corrupt file)
    assert index.summary.images_read == 7 and index.summary.images_skipped == 1
    assert not list((tmp_path / "cache").rglob("partial-*.pt")), "the checkpoint is removed"
    full, _ = scanned
    for layer in LAYERS:
        for kind in ("top", "bottom"):
            assert index.examples(layer, 3, kind) == full.examples(layer, 3, kind)
        torch.testing.assert_close(index.pattern(layer, 3), full.pattern(layer, 3))
        assert index.mean_activation(layer, 3) == pytest.approx(full.mean_activation(layer, 3))
        assert index.spectrum(layer, 3, 16) == full.spectrum(layer, 3, 16)


def test_no_dataset_configured_is_none(model, tmp_path):
    assert load_or_scan(_config(None, tmp_path), model, LAYERS, top_k=3) is None


@pytest.mark.parametrize("case", ["missing", "empty", "no-images", "a-file"])
def test_bad_folders_name_the_path_and_exit_2(case, tmp_path, capsys):
    target = tmp_path / "data"
    if case == "empty":
        target.mkdir()
    elif case == "no-images":
        target.mkdir()
        (target / "readme.md").write_text("hello")
        (target / "table.csv").write_text("a,b")
    elif case == "a-file":
        target.write_text("x")
    with pytest.raises(FeatvisError, match=re.escape(str(target))):
        list_images(target)
    code = main(["scan", "--dataset", str(target), "--cache", str(tmp_path / "c"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0]


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_scan_runs_and_reports(folder, tmp_path, capsys, quiet):
    """Its summary on standard output; its progress, in a log, as counted lines."""
    code = main(["scan", "--dataset", str(folder), "--cache", str(tmp_path / "c"),
                 *(["--quiet"] if quiet else []), "--only", "blocks.1.0", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "7 images read, 1 skipped" in out and "zz_corrupt.jpg" in out
    assert "top/bottom 7 per channel" in out, "the photos kept, not the setting (8)"
    counted = re.findall(r"^featvis: dataset scan: (\d+)/8 ", err, re.MULTILINE)
    assert counted == ([] if quiet else ["8"]), err


def test_receptive_fields_are_measured(scanned):
    index, _ = scanned
    fields = [index.receptive_field(name) for name in LAYERS]
    assert fields[0].support == 3 and fields[0].stride == 2  # the stem: a 3x3 conv, stride 2
    assert [f.stride for f in fields] == [2, 4, 16, 32, 32]
    sizes = [f.size for f in fields]
    assert sizes == sorted(sizes) and all(f.size <= f.support for f in fields)
    assert not fields[0].whole and not fields[1].whole and fields[-1].whole


def test_patch_covers_the_receptive_field_around_the_peak(scanned, tmp_path):
    index, _ = scanned
    field = ReceptiveField(stride=8, size=41, support=67, offset_y=3.5, offset_x=3.5, whole=False)
    # A 448 x 600 photo: scaled by 1/2 to 224 x 300, the view is cropped 38 px from its top.
    box = _patch_box(field, Example(Path("p"), 1.0, y=10, x=20), 448, 600, 224)
    cy, cx = field.centre(10, 20)
    assert ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) == pytest.approx((cx * 2, (cy + 38) * 2))
    assert box[2] - box[0] == pytest.approx(82) and box[3] - box[1] == pytest.approx(82)
    # Clamped inside the photo near its corner.
    corner = _patch_box(field, Example(Path("p"), 1.0, y=0, x=0), 448, 600, 224)
    assert corner[0] == 0 and corner[1] >= 0 and corner[2] - corner[0] == pytest.approx(82)
    # Real patches: the requested size, and for a late layer the whole view of the photo.
    top = index.examples("blocks.1.1", 0)[0]
    assert index.patch(top, "blocks.1.1", 64).size == (64, 64)
    whole = index.examples("conv_head", 3)[0]
    view = load_view(whole.path, 224).permute(1, 2, 0).numpy()
    small = Image.fromarray(view).resize((56, 56), Image.Resampling.BICUBIC)
    expected = torch.from_numpy(np.asarray(small, dtype=np.float32))
    got = torch.from_numpy(np.asarray(index.patch(whole, "conv_head", 56), dtype=np.float32))
    assert (got - expected).abs().mean() < 6.0


def test_check_patterns_agree_for_the_top_photo_itself(model, folder, tmp_path):
    index = load_or_scan(_config(folder, tmp_path), model, ["blocks.5.3"], top_k=1,
                         progress=False, workers=0)
    items = []
    for channel in (0, 7, 42):
        top = index.examples("blocks.5.3", channel)[0]
        items.append(("blocks.5.3", channel, load_view(top.path, 224).float() / 255))
    checks = check_patterns(model, index, items)
    assert [c.channel for c in checks] == [0, 7, 42]
    for c in checks:
        assert c.cosine > 0.999 and c.spearman > 0.999
        assert c.own_rank_visualization == c.own_rank_photos
    # Another photo's pattern does not agree perfectly.
    top0 = index.examples("blocks.5.3", 0)[0].path
    path = next(folder / f for f in index.files if folder / f != top0 and f.endswith(".jpg"))
    other = check_patterns(model, index, [("blocks.5.3", 0, load_view(path, 224).float() / 255)])
    assert other[0].cosine < 0.99


def test_unwritable_cache_is_one_clear_error(model, folder, tmp_path):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    with pytest.raises(FeatvisError, match="cannot write the dataset cache"):
        load_or_scan(_config(folder, blocker), model, ["blocks.0.0"], top_k=1, progress=False)


def test_a_photo_stored_turned_is_read_upright(tmp_path: Path) -> None:
    """A phone stores a portrait photo turned, with an EXIF orientation; the model and the pages
    must see it the way a viewer shows it."""
    upright = np.zeros((48, 32, 3), dtype=np.uint8)
    upright[:8] = (255, 0, 0)  # a red top edge
    Image.fromarray(upright).save(tmp_path / "upright.png")
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    stored.save(tmp_path / "turned.png", exif=exif)
    turned, shown = load_view(tmp_path / "turned.png", 32), load_view(tmp_path / "upright.png", 32)
    assert torch.equal(turned, shown)
    with open_photo(tmp_path / "turned.png") as img:
        assert img.size == (32, 48)


def test_a_sixteen_bit_grey_photo_keeps_its_range(tmp_path: Path) -> None:
    """A 16-bit grey PNG (a scanner's, a microscope's) reads as its 8-bit twin, not clipped."""
    ramp = np.linspace(0, 255, 32 * 32).reshape(32, 32).round().astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "eight.png")
    Image.fromarray(ramp.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    deep, flat = load_view(tmp_path / "sixteen.png", 32), load_view(tmp_path / "eight.png", 32)
    assert (deep.int() - flat.int()).abs().max() <= 1


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_transparent_photo_reads_on_white(tmp_path: Path, mode: str) -> None:
    """Transparent pixels read as white (as a page shows them), not as the hidden colour behind."""
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)  # transparent black
    rgba[8:24, 8:24] = (200, 30, 30, 255)  # an opaque red square
    img = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        img = img.convert("LA")
    elif mode == "P":  # a palette with one transparent entry
        img = img.convert("RGB").quantize(colors=4)
        clear = img.getpixel((0, 0))
        img.info["transparency"] = clear
    img.save(tmp_path / "clear.png")
    view = load_view(tmp_path / "clear.png", 32)
    assert view[:, 0, 0].tolist() == [255, 255, 255], "the transparent corner is white"
    inside = view[:, 16, 16].tolist()
    grey = round(0.299 * 200 + 0.587 * 30 + 0.114 * 30)
    expected = [grey] * 3 if mode == "LA" else [200, 30, 30]
    assert all(abs(a - b) <= 40 for a, b in zip(inside, expected, strict=True)), inside


CHANNEL_NORM_NET = '''\
import torch
from torch import nn


class ChannelNorm(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ChannelNorm(8), nn.GELU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 32 * 32, 10))
'''


def test_a_layer_norm_over_channels_has_a_measured_field(tmp_path: Path) -> None:
    """The channels of a layer norm sum to a constant: the field is measured all the same."""
    from generator.dataset.fields import _field_from_gradient, measure_receptive_fields
    from generator.models import load_model

    (tmp_path / "net.py").write_text(CHANNEL_NORM_NET)
    model = load_model("python:net.py:build", root=tmp_path, input_size=32, layers=["0", "1", "2"])
    fields = measure_receptive_fields(model, ["0", "1", "2"])
    assert [f.support for f in fields.values()] == [3, 3, 3]
    assert all(f.stride == 1 and not f.whole for f in fields.values())
    blind = _field_from_gradient(torch.zeros(32, 32, dtype=torch.float64), model.layer("2"), 32)
    assert blind.whole and blind.size == blind.support == 32  # a centre unit no probe moves
