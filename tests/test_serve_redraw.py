"""The preview while visualizations land: it draws again only the explorer pages they change
(their layers', and those whose circuits name them), and what it serves then equals, file for
file, a whole drawing from the same cache. When a measurement the pages show changed since the
last whole drawing, it draws the whole site again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from samples import SAMPLE, sample_photos

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.urls import channel_url
from generator.figures.channels import single_channel
from generator.plan.explorer import channel_page_jobs
from generator.serve.preview import Preview

TINY = Preset("tiny", size=32, steps=4, explorer_channels=2, figure_scale=1.0)
LAYERS = ["conv_stem", "blocks.1.0", "blocks.2.1"]


def preview_of(root: Path, said: list[str]) -> Preview:
    config = load_config(root / "site.toml")
    return Preview(argparse.Namespace(), read_config=lambda: config,
                   read_preset=lambda _c, _d: TINY, say=said.append, compute=False)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_serves_a_whole_drawing(site: Path, preview: Preview) -> None:
    """What `preview` serves equals, file for file, a whole drawing of `site` from its cache."""
    whole = preview_of(site, [])
    try:
        assert whole.refresh()
        served, fresh = files(preview.current), files(whole.current)
        assert sorted(served) == sorted(fresh)
        assert [p for p in served if served[p] != fresh.get(p)] == []
    finally:
        whole.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built site of three explorer layers (with photos, so circuits and accentuations,
    when the sample is beside the repository); its cache of its own."""
    root = tmp_path_factory.mktemp("redraw-site")
    (root / "content").mkdir()
    (root / "content" / "note.md").write_text("---\ntitle: A note\n---\n\nText.\n")
    toml = f'explorer_layers = {LAYERS}\ncache_dir = "{root / "cache"}"\ndevice = "cpu"\n'
    if SAMPLE.is_dir():
        sample_photos(root / "photos", every=125)
        toml += 'dataset = "photos"\n'
    (root / "site.toml").write_text(toml.replace("'", '"'), encoding="utf-8")
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root


def one_channel_aside(site: Path) -> tuple[Path, Path]:
    """One channel of the deepest layer taken out of the cache (its folder, where it went)."""
    finder = preview_of(site, [])
    try:
        assert finder.refresh() and finder._renderer is not None
        renderer = finder._renderer
        job = renderer.states[0].layers["blocks.2.1"][-1]
        folder = renderer.store.path(job.key)
    finally:
        finder.close()
    aside = site / "aside" / job.key
    aside.parent.mkdir(exist_ok=True)
    folder.rename(aside)
    return folder, aside


def test_landed_channels_redraw_only_the_pages_they_change(site: Path) -> None:
    folder, aside = one_channel_aside(site)
    said: list[str] = []
    preview = preview_of(site, said)
    try:
        assert preview.refresh()
        assert said[-1].startswith("rendered the site (1 article and the explorer) in ")
        # the channels whose pictures disagree with their photos: one line, however many layers
        assert len([line for line in said if "pattern agreement" in line]) <= 1, said
        assert folder.name in [k for keys in preview.missing.values() for k in keys]
        every = len([p for p in files(preview.current) if p.startswith("explorer/")
                     and p.endswith(".html")])

        aside.rename(folder)  # it lands
        preview._drawn_at = 0.0
        assert preview.landed()
        assert preview.refresh(landed=True)
        assert "explorer pages" in said[-1], said[-1]
        drawn = int(said[-1].split(" explorer pages")[0].split()[-1])
        assert 0 < drawn < every, said[-1]
        assert not preview.missing and not preview.landed()

        assert_serves_a_whole_drawing(site, preview)
    finally:
        preview.close()
        if aside.exists():
            aside.rename(folder)

    # a measurement the last whole drawing read changes before the channel lands: the whole site
    folder.rename(aside)
    preview = preview_of(site, said)
    try:
        assert preview.refresh() and preview._inputs is not None
        aside.rename(folder)
        entry = next(path for path, seen in preview._inputs[1].items() if seen is not None)
        os.utime(entry, ns=(entry.stat().st_atime_ns, entry.stat().st_mtime_ns + 1_000_000))
        preview._drawn_at = 0.0
        assert preview.refresh(landed=True) and said[-1].startswith("rendered the site"), said
    finally:
        preview.close()
        if aside.exists():
            aside.rename(folder)


def test_a_landed_negative_draws_its_channel_page_again(site: Path) -> None:
    """A channel page drawn before its negative was in the cache waits for it; its landing
    alone draws that page again, as a whole drawing would."""
    finder = preview_of(site, [])
    try:
        assert finder.refresh() and finder._renderer is not None
        state = finder._renderer.states[0]
        job = state.layers["blocks.1.0"][0]
        layer, channel = single_channel(job)  # type: ignore[misc]
        negative = channel_page_jobs(state.ctx, layer, channel)["negative"]
        folder = finder._renderer.store.path(negative.key)
    finally:
        finder.close()
    aside = site / "aside" / negative.key
    aside.parent.mkdir(exist_ok=True)
    folder.rename(aside)
    said: list[str] = []
    preview = preview_of(site, said)
    page = channel_url(state.model.id, layer, channel)
    try:
        assert preview.refresh()
        assert preview.missing.get(page) == [negative.key]
        before = (preview.current / page).read_bytes()

        aside.rename(folder)  # it lands, and nothing else does
        preview._drawn_at = 0.0
        assert preview.landed()
        assert preview.refresh(landed=True) and "explorer pages" in said[-1], said[-1]
        assert (preview.current / page).read_bytes() != before
        assert not preview.missing and not preview.landed()

        assert_serves_a_whole_drawing(site, preview)
    finally:
        preview.close()
        if aside.exists():
            aside.rename(folder)


def test_a_new_title_or_description_redraws_its_article_and_the_home_page_alone(
    site: Path,
) -> None:
    """An article's title, description, date and order show on the article and the home page
    alone, which an edit of the article draws again: no whole drawing of the site."""
    note = site / "content" / "note.md"
    text = note.read_text(encoding="utf-8")
    said: list[str] = []
    preview = preview_of(site, said)
    try:
        assert preview.refresh()
        note.write_text("---\ntitle: A new title\ndescription: Now described.\norder: 3\n---\n\n"
                        "Text.\n", encoding="utf-8")
        assert preview.refresh({note.resolve()})
        assert said[-1].startswith("rendered note in "), said[-1]
        home = (preview.current / "index.html").read_text(encoding="utf-8")
        assert "A new title" in home and "Now described." in home
        assert "A new title" in (preview.current / "note.html").read_text(encoding="utf-8")
    finally:
        note.write_text(text, encoding="utf-8")
        preview.close()
