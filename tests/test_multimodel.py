# ruff: noqa: E501  (expected messages read best one per line)
"""Several models in one site: EfficientNet-Lite0 and a ResNet-18 with random weights the test
saves to a checkpoint, at a tiny preset. One shared pair of builds: the Lite0 site alone, then
the same site with the second model added (same cache). Both explorers and the compare page
exist and every link resolves; search and manifest cover both models; adding the model
recomputed nothing of Lite0; `model:` picks a figure's model and resolves its band references
against that model; labels name the second model's channels; the one-line errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from pagechecks import axe_violations, images_without_alt, overflow_at_phone_width

from generator.atlas.labels import read_site_labels
from generator.build import build_site
from generator.check import check_site
from generator.cli import main
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.errors import FeatvisError, one_line
from generator.core.urls import model_slug
from generator.figures.registry import bind_articles, read_articles
from generator.models import load_model, resolve_layer_ref

TINY = Preset("tiny", size=32, steps=4, explorer_channels=2, figure_scale=0.5)
LITE0 = "efficientnet_lite0"
RESNET = "torchvision:resnet18"
ARTICLE = """\
---
title: Two networks
---

The first model's parts:

```figure
type: negative
id: lite
layer: parts[-1]
channels: 1
```

The second model's parts, the same reference resolved against its catalog:

```figure
type: negative
id: res
model: torchvision:resnet18
layer: parts[-1]
channels: 1
```

```figure
type: compare-models
id: both
bands: [edges, parts]
channels: 1
```

{{ numbers.both.images }} images of {{ numbers.both.models }} models.
"""
NET_ARTICLE = f"---\ntitle: The second network\nmodel: {RESNET}\n---\n\nIts {{{{ model.layers }}}} layers.\n"
LABELS = '"blocks.1.1:0" = "lite0 stripes"\n"torchvision:resnet18/layer1.0:1" = "resnet grid"\n'
ONE = 'explorer_layers = ["edges[-1]", "textures[0]"]\ndevice = "cpu"\n'
TWO = ONE + (f'models = ["{LITE0}", {{model = "{RESNET}", weights = "r18.pth", input_size = 64, '
             'explorer_layers = ["layer1.0", "layer3.1"]}]\n')


def artifacts(cache: Path) -> dict[str, tuple[str, int]]:
    """Every artifact in the cache: key -> (its job's model, its sidecar's mtime)."""
    out = {}
    for meta in cache.glob("*/*/meta.json"):
        data = json.loads(meta.read_text())
        out[data["key"]] = (data["job"]["model"], meta.stat().st_mtime_ns)
    return out


def computed(lines: list[str], model: str) -> int:
    """How many visualizations the build's summary line says it computed for `model`."""
    line = next(line for line in lines if line.startswith(f"{model}: computed "))
    return int(line.split()[2].rstrip(","))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("multimodel")
    (root / "content").mkdir()
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), root / "r18.pth")
    first_article = ARTICLE.split("The second model's")[0]
    (root / "content" / "two.md").write_text(first_article, encoding="utf-8")
    (root / "site.toml").write_text(ONE, encoding="utf-8")
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    before = artifacts(root / ".featvis-cache")
    shown = json.loads((root / "site_output" / "manifest.json").read_text())["visualizations"]
    (root / "content" / "two.md").write_text(ARTICLE, encoding="utf-8")
    (root / "content" / "net.md").write_text(NET_ARTICLE, encoding="utf-8")
    (root / "labels.toml").write_text(LABELS, encoding="utf-8")
    (root / "site.toml").write_text(TWO, encoding="utf-8")
    lines: list[str] = []
    report = build_site(load_config(root / "site.toml"), preset=TINY, quiet=True, log=lines.append)
    return {"root": root, "out": root / "site_output", "before": before, "lines": lines, "shown": shown,
            "after": artifacts(root / ".featvis-cache"), "report": report}


def test_both_explorers_and_the_compare_page_exist_and_every_link_resolves(site: dict[str, Any]) -> None:
    out = site["out"]
    assert check_site(out) == []
    index = (out / "explorer" / "index.html").read_text()
    for model, layer in ((LITE0, "blocks.1.1"), (RESNET, "layer1.0")):
        folder = out / "explorer" / model_slug(model)
        assert f'href="{model_slug(model)}/index.html"' in index
        assert (folder / f"{layer}.html").is_file()
        assert sorted(p.name for p in (folder / layer).glob("*.html"))[:2] == ["0.html", "1.html"]
    assert 'href="compare.html"' in index
    compare = (out / "explorer" / "compare.html").read_text()
    for band in ("edges", "textures", "patterns", "parts", "objects"):
        assert f"band-{band}" in compare
    # each model's images, those of explorer layers linking to their channel pages
    assert re.search(r'href="\.\./explorer/efficientnet_lite0/[\w.]+/\d+\.html"', compare)
    assert re.search(r'href="\.\./explorer/torchvision-resnet18/[\w.]+/\d+\.html"', compare)


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_compare_and_channel_pages_in_chromium(site: dict[str, Any]) -> None:
    """The compare page fits a 390 px screen and passes axe (light and dark) with alt text on
    every image and a caption only where there is text; channel pages follow the arrow keys."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    out = site["out"]
    compare = out / "explorer" / "compare.html"
    assert not re.search(r"Figure \d+\.</a>\s*</figcaption>", compare.read_text()), "no empty caption"
    channel = out / "explorer" / "efficientnet_lite0" / "blocks.1.1" / "0.html"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        assert overflow_at_phone_width(browser, compare) == 0, "the compare page fits a phone"
        long_name = compare.with_name("long-name.html")  # a model name with no break in it
        text, named = re.subn(r"<th>[^<]*(<code>torchvision:<wbr>resnet18)", r"<th>mobilenet_v3_small_long \1",
                              compare.read_text())
        assert named == 1
        long_name.write_text(text)
        assert overflow_at_phone_width(browser, long_name) == 0, "a long model name wraps"
        long_name.unlink()
        for scheme in ("light", "dark"):
            for path in (compare, channel):
                page = browser.new_page(color_scheme=scheme)
                page.goto(path.as_uri())
                assert axe_violations(page) == [] and images_without_alt(page) == [], (path, scheme)
                page.close()
        page = browser.new_page()
        page.goto(channel.as_uri())
        page.keyboard.press("ArrowRight")
        page.wait_for_url("**/blocks.1.1/1.html")
        assert page.inner_text("h1") == "blocks.1.1:1"
        page.keyboard.press("ArrowLeft")
        page.wait_for_url("**/blocks.1.1/0.html")
        browser.close()


# the header cells' lines that end inside a word: a line ends at a space, after a hyphen, an
# underscore or a colon, or at a <wbr> (where the text node ends), and nowhere else
MID_WORD_BREAKS = """() => {
  const broken = [];
  for (const th of document.querySelectorAll('table.compare-models thead th')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      let last = null;
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect || node.data[i] === ' ') { last = null; continue; }
        if (last && rect.top > last.top + 2 && !' -_:'.includes(last.ch)) {
          broken.push(node.data.slice(0, i) + '|' + node.data.slice(i));
        }
        last = {top: rect.top, ch: node.data[i]};
      }
    }
  }
  const band = document.querySelector('table.compare-models tbody th .band').getBoundingClientRect();
  const next = document.querySelector('table.compare-models tbody td').getBoundingClientRect();
  return {broken, overlap: Math.max(0, band.right - next.left)};
}"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_phone_wraps_the_compare_tables_model_names_between_words(site: dict[str, Any]) -> None:
    """At 390 px the compare table's header breaks a model's name or id only between words
    (`EfficientNet-|Lite0`, `efficientnet_|lite0`), never inside one (`efficientnet_lit|e0`), and a
    band's badge stays inside its column; a table wider than that scrolls on its own."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    compare = site["out"] / "explorer" / "compare.html"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 390, "height": 800})
        page.goto(compare.as_uri())
        assert page.evaluate(MID_WORD_BREAKS) == {"broken": [], "overlap": 0}
        scroller = page.evaluate("getComputedStyle(document.querySelector('table.compare-models')"
                                 ".parentElement).overflowX")
        assert scroller == "auto", "a table wider than the screen scrolls sideways"
        browser.close()


def test_a_models_own_explorer_layers_replace_the_sites_for_it(site: dict[str, Any]) -> None:
    """ResNet-18's table names its explorer layers; Lite0 keeps the site's band references."""
    explorer = site["out"] / "explorer"

    def pages(model: str) -> set[str]:
        return {p.stem for p in (explorer / model_slug(model)).glob("*.html")} - {"index"}

    assert pages(RESNET) == {"layer1.0", "layer3.1"}
    lite0 = load_model(LITE0)
    site_refs = ("edges[-1]", "textures[0]")
    assert pages(LITE0) == {resolve_layer_ref(ref, lite0.layers, LITE0) for ref in site_refs}


def page_text(path: Path) -> str:
    """A page's text: tags dropped, narrow spaces as spaces, runs of white space as one."""
    html = re.sub(r"<[^>]+>", "", path.read_text()).replace("&#8239;", " ")
    return re.sub(r"\s+", " ", html)


def test_model_pages_count_the_layers_they_show_name_the_input_and_link_the_others(site: dict[str, Any]) -> None:
    """With `explorer_layers`, a model page and the explorer's index say how many of the
    network's layers they show (not the network's count, above a table of fewer rows); they
    name the input size the grids are given at (the model's own, not the pictures'), and a
    model page links to the site's other models and to the compare page."""
    explorer = site["out"] / "explorer"
    lite0 = page_text(explorer / model_slug(LITE0) / "index.html")
    assert "2 of its 18 layers" in lite0
    assert "Its input is 224 px" in lite0 and "optimized at 32 px" in lite0
    assert "Grid at 224 px" in lite0
    assert "2 of its 18 layers, input 224 px" in page_text(explorer / "index.html")
    resnet = page_text(explorer / model_slug(RESNET) / "index.html")
    assert "Its input is 64 px" in resnet and "Grid at 64 px" in resnet
    assert "grid (at the network's 64 px input)" in page_text(explorer / model_slug(RESNET) / "layer1.0.html")
    html = (explorer / model_slug(LITE0) / "index.html").read_text()
    assert '<a href="../torchvision-resnet18/index.html">ResNet-18</a>' in html
    assert 'href="../compare.html"' in html


def test_a_channel_page_without_its_negative_says_why(site: dict[str, Any]) -> None:
    """A channel a figure surveyed or chose, outside the explorer's sample, has a page with its
    picture but no negative: the page says so and why, where a sampled channel's shows it."""
    folder = site["out"] / "explorer" / model_slug(LITE0) / "blocks.1.1"
    sampled, surveyed = (folder / "0.html").read_text(), (folder / "3.html").read_text()
    assert "<h3>Negative</h3>" in sampled and "not computed" not in page_text(folder / "0.html")
    assert "<h3>Negative</h3>" not in surveyed
    assert "Its negative is not computed: the build makes them for the channels the explorer samples from each layer (2 with the tiny preset)" in page_text(folder / "3.html")


def test_search_and_manifest_cover_every_model(site: dict[str, Any]) -> None:
    out = site["out"]
    text = (out / "explorer" / "search-index.js").read_text()
    data = json.loads(text.split("=", 1)[1].strip().rstrip(";"))
    assert data["models"] == [LITE0, RESNET]
    assert data["names"] == ["EfficientNet-Lite0", "ResNet-18"]  # as the compare page names them
    rows_of = {m: 0 for m in data["models"]}
    for row in data["channels"]:
        rows_of[data["models"][data["layers"][row[0]][0]]] += 1
    assert all(n >= 4 for n in rows_of.values()), rows_of  # 2 layers x 2 channels each
    manifest = json.loads((out / "manifest.json").read_text())
    models = {m["id"]: m for m in manifest["models"]}
    assert list(models) == [LITE0, RESNET]
    assert models[RESNET]["input_size"] == 64 and models[LITE0]["input_size"] == 224
    assert [layer["name"] for layer in models[RESNET]["layers"]][:2] == ["relu", "layer1.0"]
    assert len(set(m["weights_digest"] for m in models.values())) == 2
    assert {row["model"] for row in manifest["channels"]} == {LITE0, RESNET}
    resnet_pages = [r["page"] for r in manifest["channels"] if r["model"] == RESNET]
    assert resnet_pages and all(p.startswith("explorer/torchvision-resnet18/") for p in resnet_pages)


def test_adding_a_model_recomputes_nothing_of_the_first(site: dict[str, Any]) -> None:
    before, after = site["before"], site["after"]
    assert {model for model, _ in before.values()} == {LITE0}
    assert all(after[key] == stamp for key, stamp in before.items()), "a Lite0 artifact was rewritten"
    new_lite0 = [k for k, (model, _) in after.items() if model == LITE0 and k not in before]
    # Lite0 computed only what is new to it (the compare page's channels), nothing again
    assert computed(site["lines"], LITE0) == len(new_lite0)
    assert computed(site["lines"], RESNET) == sum(m == RESNET for m, _ in after.values()) > 0
    manifest = json.loads((site["out"] / "manifest.json").read_text())
    now = {entry["key"]: set(entry["used_on"]) for entry in manifest["visualizations"]}
    for entry in site["shown"]:  # what the Lite0 site showed, the same artifacts on the same pages
        assert entry["key"] in before and set(entry["used_on"]) <= now.get(entry["key"], set()), entry["key"]


def test_a_figure_model_resolves_its_bands_against_that_model(site: dict[str, Any]) -> None:
    manifest = json.loads((site["out"] / "manifest.json").read_text())
    shown = {
        entry["job"]["model"]: entry["objectives"][0]
        for entry in manifest["visualizations"]
        for where in entry["used_on"]
        if where.startswith("two.html#res") or where.startswith("two.html#lite")
    }
    assert set(shown) == {LITE0, RESNET}
    assert "layer4.0" in shown[RESNET]  # parts[-1] of ResNet-18's catalog
    assert "blocks." in shown[LITE0]


def test_a_compare_models_figure_shows_each_model_per_band(site: dict[str, Any]) -> None:
    page = (site["out"] / "two.html").read_text()
    figure = page.split('id="both"', 1)[1].split("</figure>", 1)[0]
    assert "band-edges" in figure and "band-parts" in figure and "band-objects" not in figure
    for model in (LITE0, RESNET):  # a narrow column breaks an id after a colon or underscore
        assert f"<code>{model.replace(':', ':<wbr>').replace('_', '_<wbr>')}</code>" in figure
    assert len(re.findall(r"<img ", figure)) == 4  # one channel, two bands, two models
    assert "4 images of 2 models." in page
    appendix = page.split('id="both"', 1)[1]
    assert "layer4.0" in appendix or "layer3.1" in appendix  # its ResNet jobs are in the appendix


def test_an_article_names_its_own_model_and_every_model_it_shows(site: dict[str, Any]) -> None:
    """The byline names the page's `model:` (not the site's first); the appendix names each model
    whose pictures the page shows."""
    net = (site["out"] / "net.html").read_text()
    byline = net.split('<div class="d-byline">')[1].split('<div class="d-article"')[0]
    assert 'href="explorer/torchvision-resnet18/index.html"' in byline and "Lite0" not in byline
    two = (site["out"] / "two.html").read_text()
    made = re.search(r"optimized by the build from the models?(.*?)\. Each row", two, re.S).group(1)  # type: ignore[union-attr]
    assert f"<code>{LITE0}</code>" in made and f"<code>{RESNET}</code>" in made
    # a page that shows several models' pictures names each in its byline, its own model first
    byline = two.split('<div class="d-byline">')[1].split('<div class="d-article"')[0]
    assert "<h2>Models</h2>" in byline
    assert byline.index('href="explorer/efficientnet_lite0/index.html"') < byline.index('href="explorer/torchvision-resnet18/index.html"')


def test_labels_name_the_second_models_channels(site: dict[str, Any]) -> None:
    out = site["out"]
    assert "resnet grid" in (out / "explorer" / "torchvision-resnet18" / "layer1.0" / "1.html").read_text()
    assert "resnet grid" not in (out / "explorer" / "efficientnet_lite0" / "blocks.1.1.html").read_text()
    assert "lite0 stripes" in (out / "explorer" / "efficientnet_lite0" / "blocks.1.1" / "0.html").read_text()


def test_an_unknown_model_is_a_one_line_error_and_publishes_nothing(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = site["root"], site["out"]
    published = (out / "index.html").stat().st_mtime_ns
    article = root / "content" / "two.md"
    good = article.read_text()
    try:
        article.write_text(good.replace("model: torchvision:resnet18", "model: resnet18"))
        config = load_config(root / "site.toml")
        with pytest.raises(FeatvisError) as err:
            read_articles(config)
        assert str(err.value) == (
            "content/two.md:19: figure 'negative': unknown model 'resnet18' "
            "(valid: efficientnet_lite0, torchvision:resnet18)"
        )
        assert main(["build", "--config", str(root / "site.toml"), "--quiet"]) == 2
        message = capsys.readouterr().err.strip().splitlines()
        assert len(message) == 1 and "unknown model 'resnet18'" in message[0]
    finally:
        article.write_text(good)
    assert (out / "index.html").stat().st_mtime_ns == published


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ('"resnet18/layer1.0:1" = "x"\n', r"labels\.toml:1: unknown model 'resnet18' in 'resnet18/layer1\.0:1' \(valid: efficientnet_lite0, torchvision:resnet18\)$"),
        ('"blocks.1.0:1" = "b"\n"torchvision:resnet18/layer1.0:64" = "x"\n', r"labels\.toml:2: channel 64 out of range for layer 'layer1\.0' \(valid: 0\.\.63\)$"),
        ('"torchvision:resnet18/blocks.1.0:0" = "x"\n', r"labels\.toml:1: unknown layer 'blocks\.1\.0' \(.*valid: relu, layer1\.0"),
        ('"blocks.1.0:3" = "x"\n"efficientnet_lite0/blocks.1.0:3" = "y"\n', r"labels\.toml:2: duplicate label for 'efficientnet_lite0/blocks\.1\.0:3'"),
    ],
)
def test_label_errors_name_the_line_and_the_valid_choices(labels: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.toml"
    path.write_text(labels)
    models = {LITE0: {"blocks.1.0": 16}, RESNET: {"relu": 64, "layer1.0": 64}}
    with pytest.raises(FeatvisError, match=message):
        read_site_labels(path, models)


def test_a_pages_model_is_its_figures_default(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "r.md").write_text(
        f"---\ntitle: R\nmodel: {RESNET}\n---\n\n```figure\ntype: negative\nlayer: parts\n```\n\n"
        f"```figure\ntype: negative\nmodel: {LITE0}\nlayer: parts\n```\n"
    )
    (tmp_path / "site.toml").write_text(f'models = ["{LITE0}", "{RESNET}"]\n')
    [article] = read_articles(load_config(tmp_path / "site.toml"))
    assert [fig.models_used() for fig in article.figures] == [(RESNET,), (LITE0,)]
    assert article.for_model(RESNET) == [article.figures[0]]


def test_a_layer_of_the_other_model_names_that_model(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "r.md").write_text(
        "---\ntitle: R\n---\n\n```figure\ntype: negative\nlayer: layer3.0\n```\n"
    )
    (tmp_path / "site.toml").write_text(f'models = ["{LITE0}", "{RESNET}"]\n')
    config = load_config(tmp_path / "site.toml")
    models = {m: load_model(m, random_weights=True, input_size=64) for m in config.model_ids}
    with pytest.raises(FeatvisError) as err:
        bind_articles(read_articles(config), models)
    assert str(err.value).startswith("content/r.md:7: figure 'negative': unknown layer 'layer3.0'")
    assert str(err.value).endswith(f"; 'layer3.0' is a layer of {RESNET}: add `model: {RESNET}`")
    assert one_line(str(err.value)) == str(err.value), "printed whole: what to add is its end"


def test_the_lite_family_example_reads_and_binds() -> None:
    """examples/lite-family: three models with packaged weights, its article's figures bound to
    each model's catalog (band references resolved) and its labels valid for their models."""
    root = Path(__file__).resolve().parents[1] / "examples" / "lite-family"
    config = load_config(root / "site.toml")
    assert config.model_ids == ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
    models = {m: load_model(m, random_weights=True) for m in config.model_ids}
    articles = bind_articles(read_articles(config), models)
    figures = [fig for article in articles for fig in article.figures]
    assert {fig.type for fig in figures} >= {"compare-models", "negative", "layer-gallery"}
    assert {m for fig in figures for m in fig.models_used()} == set(config.model_ids)
    for fig in (fig for fig in figures if fig.type == "negative"):  # parts[-1] of its own model
        model = models[fig.models_used()[0]]
        parts = [info.name for info in model.layers if info.band == "parts"]
        assert fig.options["layer"] == parts[-1], (model.id, fig.options["layer"], parts)
    labels = read_site_labels(
        root / "labels.toml", {m.id: {i.name: i.channels for i in m.layers} for m in models.values()}
    )
    assert labels["efficientnet_lite1"] and labels["efficientnet_lite0"]


def test_the_preview_shows_every_model(site: dict[str, Any]) -> None:
    """`featvis serve`'s rendering (no background compute here: the cache is full) draws both
    explorers, the compare page and the second model's figure from the cache."""
    import argparse

    from generator.serve.preview import Preview

    config = load_config(site["root"] / "site.toml")
    preview = Preview(argparse.Namespace(), read_config=lambda: config,
                      read_preset=lambda _c, _d: TINY, say=lambda _m: None, compute=False)
    try:
        assert preview.refresh(reason="test")
        served = preview.current
        assert (served / "explorer" / model_slug(RESNET) / "layer1.0.html").is_file()
        assert (served / "explorer" / "compare.html").is_file()
        page = (served / "two.html").read_text(encoding="utf-8")
        figure = re.search(r'<figure[^>]*id="res".*?</figure>', page, re.S)
        assert figure and "<img" in figure.group(0) and "fv-placeholder" not in figure.group(0)
        assert not preview.missing
    finally:
        preview.close()


def test_the_preview_checks_explorer_layers_of_the_networks_it_keeps(site: dict[str, Any]) -> None:
    """The preview keeps its networks loaded between edits; a site.toml edit that misnames an
    explorer layer is still one line before any model's photos are read."""
    import argparse
    import dataclasses

    from generator.serve.preview import Preview

    config = load_config(site["root"] / "site.toml")
    current = [config]
    preview = Preview(argparse.Namespace(), read_config=lambda: current[0],
                      read_preset=lambda _c, _d: TINY, say=lambda _m: None, compute=False)
    try:
        preview._load(config)  # the networks, loaded as a first rendering loads them
        read: list[str] = []
        real = preview._site_dataset

        def counting(config: Any, model: Any, *args: Any) -> Any:
            read.append(model.id)
            return real(config, model, *args)

        preview._site_dataset = counting  # type: ignore[method-assign]
        current[0] = dataclasses.replace(config, explorer_layers=("edges[-1]", "blocks.99"))
        assert not preview.refresh(reason="test")
        assert "explorer_layers: unknown layer 'blocks.99'" in (preview.hub.state.error or "")
        assert read == [], "no model's photos were read"
    finally:
        preview.close()


def test_the_previews_channel_pages_equal_the_builds(site: dict[str, Any]) -> None:
    """`featvis serve` draws every explorer page (channel pages with their circuits, accentuated
    photos and labels) byte for byte as the build drew it, from the same cache."""
    import argparse

    from generator.serve.preview import Preview

    config = load_config(site["root"] / "site.toml")
    preview = Preview(argparse.Namespace(), read_config=lambda: config,
                      read_preset=lambda _c, _d: TINY, say=lambda _m: None, compute=False)
    try:
        assert preview.refresh(reason="test")
        built = site["out"] / "explorer"
        pages = sorted(p.relative_to(built) for p in built.rglob("*.html"))
        channels = [p for p in pages if p.parent.name.startswith(("blocks", "layer", "conv"))]
        assert channels and any("resnet grid" in (built / p).read_text() for p in channels)
        served = preview.current / "explorer"
        assert sorted(p.relative_to(served) for p in served.rglob("*.html")) == pages
        for page in pages:
            assert (served / page).read_text() == (built / page).read_text(), page
    finally:
        preview.close()


def test_each_pages_footer_names_the_models_its_pictures_come_from(site: dict[str, Any]) -> None:
    """The site's own pages name every model; an article the models it shows; a model's explorer
    pages that model alone."""
    def footer(page: str) -> str:
        text = (site["out"] / page).read_text()
        return " ".join(text.split('<footer class="site-footer">')[1].split())

    both = f"from the models <code>{LITE0}</code> and <code>{RESNET}</code>"
    for page in ("index.html", "explorer/index.html", "explorer/compare.html", "two.html"):
        assert both in footer(page), page
    assert f"from the model <code>{RESNET}</code> (preset" in footer("net.html")
    channel = next((site["out"] / "explorer" / model_slug(RESNET) / "layer1.0").glob("*.html"))
    assert f"from the model <code>{RESNET}</code> (preset" in footer(str(channel.relative_to(site["out"])))


def test_a_local_checkpoint_is_named_from_the_sites_folder(site: dict[str, Any]) -> None:
    """A page and the manifest name `weights = "r18.pth"` as site.toml does: no absolute path of
    the machine that built the site is published."""
    manifest = json.loads((site["out"] / "manifest.json").read_text())
    assert [m["weights"] for m in manifest["models"]][1] == "r18.pth"
    for page in ("two.html", "net.html", "manifest.json"):
        assert str(site["root"]) not in (site["out"] / page).read_text(), page
    assert "(weights: r18.pth," in (site["out"] / "two.html").read_text()
