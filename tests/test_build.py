"""A build reads each input once and does each piece of work once: the article is read once, its
figure constructed once, the explorer's jobs made once and every artifact verified once, counted
with wrappers around the real functions (not with timing)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_site import TINY, make_site

from generator import build
from generator.cache.store import ArtifactStore
from generator.config.site import load_config
from generator.figures.base import Figure
from generator.figures.channels import single_channel
from generator.pages import content
from generator.plan import site as plan_site

ONE_FIGURE = """\
---
title: One figure
---

The gallery shows {{ numbers.gallery.images }} images.

```figure
type: layer-gallery
id: gallery
layers: [conv_stem]
channels: 2
```
"""


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, counts: Counter[str],
           key: Any = None) -> None:
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts[name if key is None else f"{name}:{key(*args, **kwargs)}"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)


def test_a_one_figure_build_reads_and_constructs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path / "site", tmp_path / "cache", article=ONE_FIGURE)
    config = load_config(site / "site.toml")
    counts: Counter[str] = Counter()
    _count(monkeypatch, content, "read_page", counts)
    _count(monkeypatch, Figure, "__init__", counts)
    _count(monkeypatch, plan_site, "explorer_jobs", counts)
    _count(monkeypatch, ArtifactStore, "_load", counts, key=lambda self, d, key, spec: key)
    for warm in (False, True):  # cold (plan, compute, plan again), then from the cache
        counts.clear()
        report = build.build_site(config, preset=TINY, quiet=True)
        assert report.pages >= 2 and report.visualizations >= 2
        assert counts["read_page"] == 1, counts
        assert counts["__init__"] == 1, counts
        assert counts["explorer_jobs"] == 1, counts
        verified = {k: n for k, n in counts.items() if k.startswith("_load:")}
        assert set(verified.values()) <= {1}, verified  # each artifact checked at most once
        assert verified or not warm, "a warm build reads its artifacts from the cache"


def test_reading_the_site_plans_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_site` reads; the plan stage plans: a model's first plan makes the explorer's jobs
    and keeps them on the plan, and its later plans start from them."""
    from test_modelsite import own_model_site

    from generator.stages.pipeline import plan, read_site

    site = own_model_site(tmp_path / "site")  # a small network: reading loads it
    counts: Counter[str] = Counter()
    _count(monkeypatch, plan_site, "explorer_jobs", counts)
    config = load_config(site / "site.toml")
    read = read_site(config, TINY, store=ArtifactStore(config.cache_dir), compute=False)
    (one,) = read.models
    assert counts["explorer_jobs"] == 0 and one.plan is None
    first = plan(read, one)
    again = plan(read, one)
    assert counts["explorer_jobs"] == 1 and again.explorer is first.explorer
    shown = [job for jobs in first.explorer.values() for job in jobs.values()]
    assert shown and all(job in again.jobs for job in shown)
    for layer, channels in first.explorer.items():  # layer -> channel -> that channel's job
        assert list(channels) == sorted(channels), layer
        assert all(single_channel(job) == (layer, c) for c, job in channels.items()), layer


def test_a_misnamed_explorer_layer_stops_before_any_photo_is_read(tmp_path: Path) -> None:
    """Every model's explorer layers are resolved before the first model's photos are scanned:
    a typo in the second model's is one line at once, not after the first model's scan."""
    from generator.core.errors import FeatvisError
    from generator.stages.pipeline import read_site

    example = Path(__file__).resolve().parents[1] / "examples" / "own-model" / "tiny_cnn.py"
    for name in ("one.py", "two.py"):
        (tmp_path / name).write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "content").mkdir()
    (tmp_path / "photos").mkdir()
    (tmp_path / "site.toml").write_text(
        'dataset = "photos"\ndevice = "cpu"\nmodels = [\n'
        '  {model = "python:one.py:build", random_weights = true, input_size = 32},\n'
        '  {model = "python:two.py:build", random_weights = true, input_size = 32, '
        'explorer_layers = ["stem.9"]},\n]\n',
        encoding="utf-8",
    )
    scanned: list[str] = []

    def read(config: Any, model: Any, articles: Any, compute: bool) -> None:
        scanned.append(model.id)

    bad = r"site\.toml:5: explorer_layers: unknown layer 'stem\.9'"
    with pytest.raises(FeatvisError, match=bad):
        config = load_config(tmp_path / "site.toml")
        read_site(config, TINY, store=ArtifactStore(config.cache_dir), compute=False,
                  datasets=read)
    assert scanned == [], "no model's photos were read"
