# ruff: noqa: E501  (test names and page sentences read best on one line)
"""The two-alternative score: one implementation for the benchmark and the build, measured per
explorer channel with photos, cached, and said on the channel and layer pages with its judge."""

from __future__ import annotations

import ast
import copy
import json
import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from generator import dataset as ds
from generator.build import build_site
from generator.cache.store import ArtifactStore
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.dataset import index as ds_index
from generator.jobs import VisJob
from generator.measure import twoafc
from generator.measure.legibility import (
    LegibleUnit,
    judge_layers,
    measure_legibility,
    site_judge,
)
from generator.models import load_model
from generator.optvis import objectives as obj
from generator.optvis.render import RenderResult

REPO = Path(__file__).resolve().parents[1]
TINY = Preset("tiny", size=32, steps=4, explorer_channels=2, figure_scale=1.0)
LAYERS = ("blocks.5.0",)


def photos(sample: Path, folder: Path, n: int = 24) -> Path:
    """`n` photos of the ImageNet sample, spread over its classes (links, not copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in sample.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    for i, path in enumerate(files[:: max(1, len(files) // n)][:n]):
        (folder / f"{i:02d}{path.suffix}").symlink_to(path)
    return folder


def test_the_bench_and_the_build_share_one_implementation() -> None:
    source = (REPO / "benchmarks" / "bench_legibility.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    shared = {"Judge", "pick_accuracy", "unit_photos", "trial_pairs", "to_tensor", "photo"}
    assert not defined & shared, "the bench defines its own copy"
    imported = {
        a.name for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "generator.measure.twoafc"
        for a in n.names
    }
    assert {"Judge", "pick_accuracy", "unit_photos", "trial_pairs"} <= imported


def test_pick_accuracy_and_trial_pairs() -> None:
    pos, neg = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    top = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    bottom = torch.tensor([[0.1, 0.9], [0.1, 0.9]])
    assert twoafc.pick_accuracy(pos, neg, top, bottom, [(0, 0), (0, 1)]) == 1.0
    assert twoafc.pick_accuracy(pos, neg, top, bottom, [(1, 0)]) == 1.0  # 0.2-0.8 > 0.1-0.9
    assert twoafc.pick_accuracy(neg, pos, top, bottom, [(0, 0)]) == 0.0
    assert twoafc.pick_accuracy(pos, neg, bottom, bottom, [(0, 1)]) == 0.5  # a tie
    assert twoafc.pick_accuracy(pos, neg[:0], top, bottom, [(0, 0)]) == 1.0  # no negative
    assert twoafc.trial_pairs(2, 3, 20, random.Random(0)) == [(i, j) for i in range(2)
                                                               for j in range(3)]
    many = twoafc.trial_pairs(50, 50, 20, random.Random(0))
    assert len(many) == 20 and many == twoafc.trial_pairs(50, 50, 20, random.Random(0))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, lite0):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("twoafc")
    config = SimpleNamespace(dataset=photos(sample_dir, base / "photos"), cache_dir=base / "cache")
    index = ds.load_or_scan(config, lite0, ["blocks.1.0", "blocks.5.0"], top_k=8, progress=False)
    return index, ArtifactStore(base / "cache")


def _pictures(store: ArtifactStore, seed: int, images: torch.Tensor) -> VisJob:
    """A job whose cached images are `images` (n, 3, s, s)."""
    n = len(images)
    job = VisJob("efficientnet_lite0", "x", (obj.channel("blocks.5.0", 0),) * n, steps=1,
                 size=images.shape[-1], seed=seed)
    store.put(job, RenderResult(images=images, snapshots={}, history=torch.zeros(1, n),
                                final=torch.zeros(n)), device="cpu")
    return job


def test_pictures_that_are_the_held_out_photos_score_high_and_noise_does_not(scanned, lite0) -> None:  # type: ignore[no-untyped-def]
    """Pictures cut from the channel's own held-out top and low photos pick the top photo of
    nearly every pair (swapped, nearly none); noise pictures score lower. The scores come from
    the judge's embeddings of the cached pictures, each set measured in one batched call."""
    index, store = scanned
    judge = site_judge(lite0, [lite0])
    assert judge is not None and judge.same and "blocks.5.0" not in judge.layers_for("blocks.5.0")
    gen = torch.Generator().manual_seed(0)
    units = []
    for channel in range(2):
        held = twoafc.unit_photos(index, "blocks.5.0", channel, refs=4)
        top, low = (torch.stack([twoafc.photo(index, e, "blocks.5.0") for e in examples])
                    for examples in (held.top_held, held.bottom_held))
        oracle, swapped = _pictures(store, 10 * channel, top), _pictures(store, 10 * channel + 1, low)
        noise = [_pictures(store, 10 * channel + k, torch.rand(1, 3, 96, 96, generator=gen))
                 for k in (2, 3)]
        units += [LegibleUnit("blocks.5.0", channel, (oracle,), (swapped,)),
                  LegibleUnit("blocks.5.0", channel, (swapped,), (oracle,)),
                  LegibleUnit("blocks.5.0", channel, (noise[0],), (noise[1],))]
    oracle, missing = measure_legibility(judge, index, store, units[0::3])
    assert missing == 0 and len(oracle) == 2
    swapped = measure_legibility(judge, index, store, units[1::3])[0]
    noise = measure_legibility(judge, index, store, units[2::3])[0]
    for channel in range(2):
        verdict = oracle[("blocks.5.0", channel)]
        assert verdict.trials == 16 and verdict.refs == 4 and verdict.positives == 4
        assert verdict.pictures >= 0.9, verdict
        # the same pictures as each other's negatives: the mirror score
        assert swapped[("blocks.5.0", channel)].pictures <= 0.1
        assert verdict.photos == swapped[("blocks.5.0", channel)].photos
    assert sum(v.pictures for v in noise.values()) / 2 < 0.75, noise


def test_each_photo_is_decoded_once_for_all_its_patches_and_they_are_the_patches_cut_one_at_a_time(scanned, lite0, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Channels of an early layer use several patches of one photo (peaks at other places, a
    top photo of one channel the low photo of another): the stage opens each photo file once,
    and every patch it cuts equals `DatasetIndex.patch` of that example alone."""
    index, store = scanned
    judge = site_judge(lite0, [lite0])
    gen = torch.Generator().manual_seed(1)
    units = [LegibleUnit("blocks.1.0", c, (_pictures(store, 100 + c, torch.rand(1, 3, 32, 32, generator=gen)),))
             for c in range(4)]
    opened: Counter[Path] = Counter()
    cut: list[tuple[Path, list, list]] = []  # type: ignore[type-arg]
    open_photo, patches = ds_index.open_photo, ds_index.DatasetIndex.patches
    monkeypatch.setattr(ds_index, "open_photo", lambda path: opened.update([path]) or open_photo(path))
    monkeypatch.setattr(ds_index.DatasetIndex, "patches", lambda self, path, cuts, size=96: cut.append(
        (path, list(cuts), out := patches(self, path, cuts, size))) or out)
    verdicts, _ = measure_legibility(judge, index, store, units)
    assert len(verdicts) == 4
    assert max(len(cuts) for _, cuts, _ in cut) >= 2, "no photo with several patches: the test says nothing"
    assert opened and max(opened.values()) == 1, opened.most_common(3)
    monkeypatch.setattr(ds_index.DatasetIndex, "patches", patches)
    for path, cuts, got in cut:
        for (example, layer), image in zip(cuts, got, strict=True):
            assert example.path == path
            assert image.tobytes() == index.patch(example, layer, twoafc.PATCH).tobytes()


def test_the_judges_features_of_an_image_are_the_same_in_any_batch(lite0, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The judge embeds many images per forward pass (`BATCH_PIXELS`): the scores are those of
    one image at a time."""
    judge = twoafc.Judge(lite0, judge_layers(lite0), 64)
    images = torch.rand(8, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    together = judge.parts(images)
    monkeypatch.setattr(twoafc, "BATCH_PIXELS", 3 * 64 * 64)  # passes of 3, 3 and 2 images
    apart = judge.parts(images)
    assert together.keys() == apart.keys()
    assert all(torch.equal(together[name], apart[name]) for name in together)


def test_the_judge_is_another_network_of_the_site_or_the_same_without_the_units_layer(lite0) -> None:  # type: ignore[no-untyped-def]
    assert judge_layers(lite0) == ("blocks.3.1", "blocks.4.1", "blocks.5.2", "conv_head")
    same = site_judge(lite0, [lite0])
    assert same is not None and same.same
    assert same.layers_for("conv_head") == ("blocks.3.1", "blocks.4.1", "blocks.5.2")
    other = load_model("python:examples/own-model/tiny_cnn.py:build", random_weights=True)
    judged = site_judge(lite0, [lite0, other])
    assert judged is not None and not judged.same and judged.judge.model.id == other.id
    back = site_judge(other, [lite0, other])
    assert back is not None and back.judge.model.id == lite0.id
    assert back.layers_for("conv_head") == judge_layers(lite0)  # another network: every layer
    grey = copy.copy(other)
    grey.id, grey.input_channels = "python:grey.py:build", 1
    alone = site_judge(lite0, [lite0, grey])  # a grey network cannot judge colour: lite0 itself
    assert alone is not None and alone.same
    assert site_judge(lite0, [lite0, grey, other]).judge.model.id == other.id  # type: ignore[union-attr]
    assert site_judge(grey, [lite0, grey]).judge.model.id == lite0.id  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("legibility-site")
    root = base / "site"
    (root / "content").mkdir(parents=True)
    (root / "content" / "a.md").write_text("---\ntitle: A\n---\n\nText.\n", encoding="utf-8")
    (root / "site.toml").write_text(
        f'explorer_layers = {json.dumps(list(LAYERS))}\ncache_dir = "{base / "cache"}"\n'
        f'device = "cpu"\ndataset = "{photos(sample_dir, base / "photos")}"\n', encoding="utf-8")
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root


def test_channel_pages_show_both_scores_and_the_judge(built: Path) -> None:
    out = built / "site_output"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    scored = [c for c in manifest["channels"] if "legibility" in c]
    assert {c["layer"] for c in scored} == set(LAYERS) and len(scored) == 2
    for c in scored:
        score = c["legibility"]
        assert 0 <= score["pictures"] <= 1 and 0 <= score["photos"] <= 1
        assert score["trials"] == 16 and score["same_network"]
        assert c["layer"] not in score["judge_layers"]
        page = (out / c["page"]).read_text(encoding="utf-8")
        hits = score["pictures"] * 16
        assert f"excites this channel {hits:g} of 16 times ({score['pictures']:.2f})" in page
        assert f"Judge: this same network, {score['judge']} (the site shows no other)" in page
        assert f"pooled features of {', '.join(score['judge_layers'])}" in page
    layer = (out / "explorer" / "efficientnet_lite0" / "blocks.5.0.html").read_text(encoding="utf-8")
    assert "Two-alternative score, the mean over the layer's 2 channels" in layer


def test_a_second_build_measures_no_score(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    parts = twoafc.Judge.parts
    monkeypatch.setattr(twoafc.Judge, "parts", lambda self, x: calls.append(len(x)) or parts(self, x))
    build_site(load_config(built / "site.toml"), preset=TINY, quiet=True)
    assert calls == []
    manifest = json.loads((built / "site_output" / "manifest.json").read_text(encoding="utf-8"))
    assert sum("legibility" in c for c in manifest["channels"]) == 2
