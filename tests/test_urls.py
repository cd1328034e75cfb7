# ruff: noqa: E501  (expected URLs read best one per line)
"""The site's URL scheme: model folders, layer and channel pages, the root from each page, and
articles' old `explorer/<layer>.html` links mapped to the site's model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.cache.store import ArtifactStore
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.core.urls import (
    article_link,
    channel_url,
    layer_url,
    model_folder,
    model_slug,
    model_url,
    root_prefix,
)
from generator.figures.registry import read_pages
from generator.pages.links import check_explorer_links
from generator.stages.pipeline import read_site


def test_model_slugs_are_folder_names() -> None:
    assert model_slug("efficientnet_lite0") == "efficientnet_lite0"
    assert model_slug("torchvision:resnet50") == "torchvision-resnet50"
    assert model_slug("timm:vit_small_patch16_224.augreg_in21k") == "timm-vit_small_patch16_224.augreg_in21k"
    assert model_slug("python:models/my net.py:Net") == "my-net"  # the file, not the loader string
    assert model_slug("python:../mycnn.py:build") == "mycnn"
    assert model_slug("python:pkg.nets:build") == "nets"
    assert model_slug("python:../Über_café.py:build") == "Uber_cafe"  # accents dropped, not letters
    assert model_folder("python:a.py:build", "Ünïcode net") == "unicode-net"
    # a name or file name with nothing Latin in it: the id's folder, distinct for distinct ids
    assert model_folder("efficientnet_lite0", "猫") == "efficientnet_lite0"
    assert model_folder("torchvision:resnet18", "狗") == "torchvision-resnet18"
    cats = {model_slug("python:a/猫.py:build"), model_slug("python:b/猫.py:build")}
    assert len(cats) == 2 and all(re.fullmatch(r"model-[0-9a-f]{8}", c) for c in cats), cats
    assert "/" not in model_slug("python:../x/y.py") and not model_slug("python:../x").startswith(".")


def test_pages_and_their_roots() -> None:
    m = "torchvision:resnet50"
    assert model_url(m) == "explorer/torchvision-resnet50/index.html"
    assert layer_url(m, "layer4.2") == "explorer/torchvision-resnet50/layer4.2.html"
    assert layer_url(m, "layer4.2", 7) == "explorer/torchvision-resnet50/layer4.2.html#ch-7"
    assert channel_url(m, "layer4.2", 7) == "explorer/torchvision-resnet50/layer4.2/7.html"
    assert root_prefix("index.html") == "" and root_prefix("explorer/index.html") == "../"
    assert root_prefix(layer_url(m, "a", 3)) == "../../"
    assert root_prefix(channel_url(m, "a", 3)) == "../../../"


def test_old_layer_links_map_to_the_model() -> None:
    assert article_link("explorer/conv_stem.html", "efficientnet_lite0") == "explorer/efficientnet_lite0/conv_stem.html"
    assert article_link("explorer/blocks.1.0.html#ch-3", "torchvision:resnet50") == "explorer/torchvision-resnet50/blocks.1.0.html#ch-3"
    assert article_link("explorer/index.html", "m") is None
    assert article_link("explorer/m/conv_stem.html", "m") is None
    assert article_link("other.html", "m") is None


def test_article_links_follow_the_scheme(tmp_path: Path) -> None:
    text = ("---\ntitle: A\n---\n\nSee [a layer](explorer/conv_stem.html#ch-2), [the explorer](explorer/index.html),\n"
            "[a channel](explorer/efficientnet_lite0/blocks.1.0/3.html) and [a model](explorer/efficientnet_lite0/index.html).\n")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(text, encoding="utf-8")
    page = read_pages(load_config(root=tmp_path))[0]
    assert "(explorer/efficientnet_lite0/conv_stem.html#ch-2)" in page.body
    assert "(explorer/index.html)" in page.body
    assert "(explorer/efficientnet_lite0/blocks.1.0/3.html)" in page.body
    assert "(explorer/efficientnet_lite0/index.html)" in page.body


def test_a_link_to_an_explorer_page_the_site_will_not_have_stops_at_its_line(tmp_path: Path, lite0) -> None:  # type: ignore[no-untyped-def]
    text = ("---\ntitle: A\n---\n\nSee [the stem](explorer/conv_stem.html) and its [model](explorer/efficientnet_lite0/index.html).\n\n"
            "Then [a deep layer](explorer/efficientnet_lite0/blocks.4.2/3.html).\n")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(text, encoding="utf-8")
    (tmp_path / "site.toml").write_text('explorer_layers = ["conv_stem"]\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    page = read_pages(config)[0]
    assert page.explorer_links == (
        ("explorer/efficientnet_lite0/conv_stem.html", "content/a.md:5"),
        ("explorer/efficientnet_lite0/index.html", "content/a.md:5"),
        ("explorer/efficientnet_lite0/blocks.4.2/3.html", "content/a.md:7"),
    )
    # before any photo is scanned or anything computed: the line, the layer and what to do
    with pytest.raises(FeatvisError, match=r"^content/a\.md:7: link to 'explorer/efficientnet_lite0/blocks\.4\.2/3\.html': the explorer shows no page of layer 'blocks\.4\.2' \(add it to explorer_layers in site\.toml; valid: conv_stem\)$"):
        read_site(config, store=ArtifactStore(tmp_path / "cache"), models=[lite0], compute=False)
    check_explorer_links(page.explorer_links[:2], {"efficientnet_lite0": {"conv_stem": 32}})
    with pytest.raises(FeatvisError, match=r"content/a\.md:5: link to 'explorer/other/x\.html': no model's explorer is in 'explorer/other/' \(did you mean"):
        check_explorer_links([("explorer/other/x.html", "content/a.md:5")], {"efficientnet_lite0": {"conv_stem": 32}, "others": {}})


TINY_NET = Path(__file__).resolve().parents[1] / "examples" / "own-model" / "tiny_cnn.py"


def _linking_site(root: Path, link: str) -> Path:
    """A site of the own-model example at 32 px whose explorer shows `stem.2` (16 channels) and
    whose one article links to `link`."""
    (root / "content").mkdir(parents=True)
    (root / "content" / "a.md").write_text(
        f"---\ntitle: A\n---\n\nIntro.\n\nSee [this channel]({link}).\n", encoding="utf-8"
    )
    (root / "site.toml").write_text(
        f'model = "python:{TINY_NET}:build"\nseed = 3\ninput_size = 32\n'
        f'explorer_layers = ["stem.2"]\ncache_dir = "{root / "cache"}"\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    return root / "site.toml"


def test_a_channel_an_article_links_to_gets_its_page_beyond_the_presets_channels(tmp_path: Path) -> None:
    from generator.build import build_site
    from generator.check import check_site
    from generator.config.presets import Preset

    one = Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0)
    config = load_config(_linking_site(tmp_path, "explorer/tiny_cnn/stem.2/9.html"))
    build_site(config, preset=one, quiet=True)
    out = tmp_path / "site_output"
    pages = sorted(p.name for p in (out / "explorer" / "tiny_cnn" / "stem.2").glob("*.html"))
    assert "9.html" in pages and len(pages) == 2, pages  # the preset's one channel and the linked
    assert 'href="explorer/tiny_cnn/stem.2/9.html"' in (out / "a.html").read_text(encoding="utf-8")
    assert check_site(out) == []


def test_a_linked_channel_out_of_range_stops_at_its_line(tmp_path: Path, tiny) -> None:  # type: ignore[no-untyped-def]
    config = load_config(_linking_site(tmp_path, "explorer/tiny_cnn/stem.2/16.html"))
    with pytest.raises(FeatvisError, match=r"^content/a\.md:7: link to 'explorer/tiny_cnn/stem\.2/16\.html': layer 'stem\.2' has 16 channels, there is no channel 16 \(valid: 0\.\.15\)$"):
        read_site(config, store=ArtifactStore(tmp_path / "cache"), models=[tiny], compute=False)
    with pytest.raises(FeatvisError, match=r"^content/a\.md:7: .*without leading zeros \('stem\.2/7\.html'\)$"):
        check_explorer_links([("explorer/tiny_cnn/stem.2/07.html", "content/a.md:7")], {"tiny_cnn": {"stem.2": 16}})


def test_links_in_a_figure_caption_are_rewritten_copied_and_planned_as_the_texts(tmp_path: Path) -> None:
    text = ("---\ntitle: A\n---\n\nIntro.\n\n```figure\ntype: layer-gallery\nlayers: [conv_stem]\n"
            "caption: See [a layer](explorer/conv_stem.html#ch-2), [a channel](explorer/efficientnet_lite0/blocks.1.0/3.html),\n"
            "  [the other page](b.md) and [a file](notes.txt).\n```\n")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(text, encoding="utf-8")
    (tmp_path / "content" / "b.md").write_text("---\ntitle: B\n---\n\nB.\n", encoding="utf-8")
    (tmp_path / "content" / "notes.txt").write_text("notes\n", encoding="utf-8")
    page = read_pages(load_config(root=tmp_path))[0]
    caption = page.figures[0].options["caption"]
    assert "(explorer/efficientnet_lite0/conv_stem.html#ch-2)" in caption
    assert "(b.html)" in caption and "(assets/notes.txt)" in caption
    assert [asset for _, asset in page.assets] == ["assets/notes.txt"]
    assert page.explorer_links == (
        ("explorer/efficientnet_lite0/blocks.1.0/3.html", "content/a.md:10"),
        ("explorer/efficientnet_lite0/conv_stem.html", "content/a.md:10"),
    )
    (tmp_path / "content" / "a.md").write_text(text.replace("b.md", "https://example.com"), encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"^content/a\.md:10: link 'https://example\.com' leaves the site"):
        read_pages(load_config(root=tmp_path))
