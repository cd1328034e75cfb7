# ruff: noqa: E501  (expected messages read best one per line)
"""A whole site built end to end from a temporary folder at toy sizes (32 px, 4 steps): articles,
explorer, manifest, checked offline; measured numbers quoted in the text; a failed build (bad
article, or a site that fails the check) leaves the published site byte for byte untouched; render
from the cache lists what is missing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from generator.build import build_site
from generator.check import check_site
from generator.cli import main
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.site.state import MissingVisualizations
from generator.site.writer import SiteWriter

TINY = Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0)
LAYERS = ("conv_stem", "blocks.1.0")
ARTICLE = """\
---
title: A small article
description: Two figures and a measured number.
authors:
  - name: Test Author
    affiliation: Test Lab
date: 2024-01-02
updated: 2024-03-04
---

## Layers

Regularization moves the high-frequency share from {{ numbers.reg.hf.unregularized | pct }}
to {{ numbers.reg.hf.tv.strongest | pct:2 }}; the gallery shows {{ numbers.gallery.images }} images
of a model with {{ model.layers }} layers[^n], as in Distill [@olah2017].

```figure
type: layer-gallery
id: gallery
layers: [conv_stem, blocks.1.0]
channels: 2
caption: Chosen by the build, from $h_c$ measured [@erhan2009; @olah2017].
```

```figure
type: regularization
id: reg
layer: blocks.1.0
channel: 3
strengths: {l1: [2], tv: [50], blur: [3000], jitter: [2], robust: [1]}
```

```figure
type: dataset-examples
layer: conv_stem
channels: [0]
```

[^n]: Counted by the build.
"""
BIB = """\
@article{olah2017, author = {Olah, C.}, title = {Feature Visualization}, journal = {Distill},
  year = {2017}, doi = {10.23915/distill.00007}}
@misc{erhan2009, author = {Erhan, D.}, title = {Higher-layer features}, year = {2009}}
@misc{unused, author = {Nobody, N.}, title = {Cited nowhere}, year = {2000}}
"""


def make_site(root: Path, cache: Path, article: str = ARTICLE, **extra: str) -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "small.md").write_text(article, encoding="utf-8")
    (root / "content" / "references.bib").write_text(BIB, encoding="utf-8")
    layers = ", ".join(f'"{name}"' for name in LAYERS)
    lines = ['title = "Test site"', f"explorer_layers = [{layers}]", f'cache_dir = "{cache}"',
             'device = "cpu"', *(f'{k} = "{v}"' for k, v in extra.items())]
    (root / "site.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"  # shared with the browser test
    root = make_site(tmp_path_factory.mktemp("site"), cache)
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root


def test_site_layout_and_check(built: Path) -> None:
    out = built / "site_output"
    for page in ("index.html", "small.html", "explorer/index.html", "manifest.json", "static/featvis.css"):
        assert (out / page).is_file(), page
    assert (out / "explorer" / "efficientnet_lite0" / "index.html").is_file(), "the model's page"
    layer_pages = sorted(p.name for p in (out / "explorer" / "efficientnet_lite0").glob("*.html") if p.name != "index.html")
    assert layer_pages == sorted(f"{name}.html" for name in LAYERS), "a page per explorer layer only"
    assert check_site(out) == []
    assert not list(built.glob(".site_output.*")), "the staging folder is gone"


def test_manifest_lists_every_visualization_with_numbers(built: Path) -> None:
    out = built / "site_output"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    entries = manifest["visualizations"]
    assert manifest["preset"]["name"] == "tiny" and manifest["pages"] == ["small.html"]
    assert len(entries) >= 2 * 2 + 6, "gallery, regularization and explorer"
    on_disk = {p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png")}
    for entry in entries:
        assert entry["images"] and set(entry["images"]) <= on_disk
        assert len(entry["numbers"]["high_freq_share"]) == len(entry["images"])
        assert entry["job"]["size"] == 32 and entry["used_on"]
    used = {u for e in entries for u in e["used_on"]}
    assert any(u.startswith("small.html#reg") for u in used) and any(u.startswith("explorer/") for u in used)


def test_text_quotes_measured_numbers(built: Path) -> None:
    out = built / "site_output"
    html = (out / "small.html").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    def hf(terms: list[str], transforms_identity: bool) -> float:
        for e in manifest["visualizations"]:
            kinds = [t["kind"] for t in e["job"]["objectives"][0]]
            if "small.html#reg" in e["used_on"] and kinds == terms and (e["job"]["transforms"]["jitter"] == 0) == transforms_identity:
                return e["numbers"]["high_freq_share"][0]
        raise AssertionError(terms)

    plain, tv = hf(["channel"], True), hf(["channel", "tv"], True)
    assert f"from {plain * 100:.1f}%" in html and f"to {tv * 100:.2f}%;" in html
    assert "the gallery shows 4 images" in html and "with 18 layers" in html
    assert "{{" not in html and "FEATVISFIGURE" not in html
    assert "No dataset is configured" in html, "dataset figures say so plainly"
    assert re.search(r"<math[^>]*><mrow><msub><mi>h</mi><mi>c</mi></msub>", html), "math in a caption"
    assert html.count('<img src="images/') == 2 * 2 + 6 + 1, "gallery, regularization, dataset-examples"
    assert 'id="fn-n"' in html and "How the figures were made" in html and "<td>cpu</td>" in html


def test_every_figure_of_an_article_shows_its_number(built: Path) -> None:
    """A figure without a caption still reads "Figure N.", the number the text and the appendix
    call it by."""
    html = (built / "site_output" / "small.html").read_text(encoding="utf-8")
    text = html.split('id="appendix"')[0]
    numbers = re.findall(r'<a class="fv-figno" href="#([\w-]+)">Figure (\d+)\.</a>', text)
    assert numbers == [("gallery", "1"), ("reg", "2"), ("figure-3", "3")]
    # the number and the caption after it are two words ("Figure 1. An early layer"), as read
    assert not re.search(r"Figure \d+\.</a>[^\s<]", text)


def test_the_byline_dates_the_article_and_its_update(built: Path) -> None:
    html = (built / "site_output" / "small.html").read_text(encoding="utf-8")
    byline = html.split('<div class="d-byline">')[1].split('<div class="d-article"')[0]
    assert '<time datetime="2024-01-02">2024-01-02</time>' in byline
    assert '<p class="updated">Updated <time datetime="2024-03-04">2024-03-04</time></p>' in byline


def test_reproduce_names_the_output_folder_without_an_absolute_path(built: Path, tmp_path: Path) -> None:
    """The appendix's "Reproduce" line names the output folder relative to the project, or by
    name alone when it lies outside; no page shows an absolute path."""
    assert "publishes into <code>site_output/</code>" in (built / "site_output" / "small.html").read_text()
    cache = built.parent / "featvis-cache"  # the built site's: this build only renders
    root = make_site(tmp_path / "site", cache, output_dir=str(tmp_path / "elsewhere" / "public"))
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    html = (tmp_path / "elsewhere" / "public" / "small.html").read_text(encoding="utf-8")
    assert "publishes into <code>public/</code>" in html and str(tmp_path) not in html


def test_citations_link_to_the_references(built: Path) -> None:
    """Numbered in reading order (the text's first, then the gallery's caption), each linking to
    its entry, which links back; the entry never cited is not listed and the .bib is not copied into the site."""
    out = built / "site_output"
    html = (out / "small.html").read_text(encoding="utf-8")
    text, appendix = html.split('id="appendix"')
    assert re.findall(r'href="#(ref-\d)"', text) == ["ref-1", "ref-2", "ref-1"]
    assert re.search(r'<figcaption>.*<a href="#ref-2" id="cite-2" title="D\. Erhan\. Higher-layer', text, re.S)
    assert re.findall(r'<li id="(ref-\d)"', appendix) == ["ref-1", "ref-2"]
    assert appendix.index('id="bibliography"') < appendix.index("How the figures were made")
    assert 'href="#cite-1"' in appendix and 'href="#cite-2"' in appendix and "Cited nowhere" not in html
    assert not list(out.rglob("*.bib")), "the bibliography is the source, not a download"


def test_explorer_pages_link_layers_and_channels(built: Path) -> None:
    out = built / "site_output"
    first = (out / "explorer" / "efficientnet_lite0" / "conv_stem.html").read_text(encoding="utf-8")
    assert 'id="ch-0"' in first and 'href="blocks.1.0.html" rel="next"' in first and 'rel="prev"' not in first
    model_page = (out / "explorer" / "efficientnet_lite0" / "index.html").read_text(encoding="utf-8")
    assert "blocks.1.0.html" in model_page and "blocks.0.0.html" not in model_page, "explorer layers only"
    assert "Pattern vs photos" not in model_page, "no photos: no column for them"
    article = (out / "small.html").read_text(encoding="utf-8")
    gallery = re.search(r'<figure[^>]*id="gallery">.*?</figure>', article, re.DOTALL).group(0)  # type: ignore[union-attr]
    gallery_units = re.findall(r'alt="channel (conv_stem):(\d+)"', gallery)
    assert len(gallery_units) == 2, "two channels chosen by the build for conv_stem"
    for _, channel in gallery_units:
        assert f'id="ch-{channel}"' in first, "a channel shown in an article is on its layer page"


def test_a_first_layer_channel_page_shows_its_filter(built: Path) -> None:
    pages = built / "site_output" / "explorer" / "efficientnet_lite0"
    stem, later = (sorted((pages / layer).glob("*.html"))[0].read_text(encoding="utf-8")
                   for layer in ("conv_stem", "blocks.1.0"))
    channel = re.search(r"<h1><code>conv_stem:(\d+)</code>", stem).group(1)  # type: ignore[union-attr]
    # affine in the pixels: the filter its layer page draws, with what it is in words
    assert re.search(rf'<img src="../../../images/filters/[^"]+\.png" alt="linear filter of conv_stem:{channel}, 3×3 pixels">', stem)
    assert "everything the channel computes" in stem
    assert "linear filter" not in later and "everything the channel computes" not in later


def test_failed_builds_leave_the_site_untouched(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = built / "site_output"
    before = snapshot(out)
    bad = ARTICLE.replace("layer: blocks.1.0\nchannel: 3", "layer: blocks.1.9\nchannel: 3")
    (built / "content" / "small.md").write_text(bad, encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"content/small\.md:\d+: figure 'regularization': unknown layer 'blocks\.1\.9' \(did you mean"):
        build_site(load_config(built / "site.toml"), preset=TINY, quiet=True)
    (built / "content" / "small.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    assert main(["build", "--config", str(built / "site.toml"), "--quiet"]) == 2
    assert "small.md:2: malformed front matter" in capsys.readouterr().err
    assert snapshot(out) == before

    # A site that renders but fails the offline check is not published either.
    (built / "content" / "small.md").write_text(ARTICLE, encoding="utf-8")
    (built / "theme").mkdir(exist_ok=True)
    base = (Path(__file__).resolve().parent.parent / "templates" / "base.html").read_text(encoding="utf-8")
    (built / "theme" / "base.html").write_text(base.replace("</footer>", '<a href="https://example.com">x</a></footer>'), encoding="utf-8")
    config = load_config(built / "site.toml").with_overrides(templates_dir=str(built / "theme"))
    with pytest.raises(FeatvisError, match="problems"):
        build_site(config, preset=TINY, quiet=True)
    assert "external URL 'https://example.com" in capsys.readouterr().err
    assert snapshot(out) == before and not list(built.glob(".site_output.*"))


def test_render_uses_the_cache_only(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = built / "site_output"
    (built / "content" / "small.md").write_text(ARTICLE, encoding="utf-8")
    result = build_site(load_config(built / "site.toml"), compute=False, preset=TINY, quiet=True)
    assert result.computed == 0 and check_site(out) == []
    before = snapshot(out)
    other_seed = load_config(built / "site.toml").with_overrides(seed=99)
    with pytest.raises(MissingVisualizations) as info:
        build_site(other_seed, compute=False, preset=TINY, quiet=True)
    assert len(info.value.jobs) >= 2 and "not in the cache" in str(info.value)
    listed = capsys.readouterr().err
    assert "channel conv_stem:0" in listed and "explorer/efficientnet_lite0/conv_stem.html" in listed
    assert snapshot(out) == before


def test_a_damaged_class_hierarchy_is_one_line_and_publishes_nothing(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import generator.atlas.hierarchy as hierarchy

    out = built / "site_output"
    (built / "content" / "small.md").write_text(ARTICLE, encoding="utf-8")
    before = snapshot(out)
    bad = tmp_path / "imagenet_hierarchy.json"
    bad.write_text('{"version": 1, "names": ["tench"], "nodes": [["n01440764", "tench", [7', encoding="utf-8")
    monkeypatch.setattr(hierarchy, "HIERARCHY_FILE", bad)
    with pytest.raises(FeatvisError, match="damaged ImageNet class hierarchy") as info:
        build_site(load_config(built / "site.toml"), compute=False, preset=TINY, quiet=True)
    assert info.value.exit_code == 2 and str(bad) in str(info.value) and "\n" not in str(info.value)
    assert snapshot(out) == before and not list(built.glob(".site_output.*"))


def test_every_template_and_article_ships_in_the_package() -> None:
    """An installed featvis reads generator/templates and generator/articles: pyproject must map
    templates/ and content/ there and its package-data patterns must match every file in them."""
    import fnmatch
    import tomllib

    repo = Path(__file__).resolve().parents[1]
    setup = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    for package, folder in (("generator.templates", "templates"), ("generator.articles", "content")):
        assert setup["package-dir"][package] == folder
        assert package in setup["packages"]
        patterns = setup["package-data"][package]
        files = [p.relative_to(repo / folder).as_posix() for p in (repo / folder).rglob("*") if p.is_file()]
        assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files
    assert sorted(setup["packages"]) == sorted(
        {"generator.templates", "generator.articles"} | {
            ".".join(p.parent.relative_to(repo).parts) for p in (repo / "generator").rglob("__init__.py")
        }
    ), "every package with an __init__.py is listed"


def test_writer_refuses_to_write_a_path_twice(tmp_path: Path) -> None:
    writer = SiteWriter(tmp_path)
    writer.text("a/index.html", "one", "content/a.md")
    with pytest.raises(FeatvisError, match=r"'a/index\.html': content/a\.md and content/b\.md"):
        writer.text("a/index.html", "two", "content/b.md")
    with pytest.raises(FeatvisError, match="outside the site"):
        writer.text("../escape.html", "x", "content/c.md")
    assert (tmp_path / "a" / "index.html").read_text(encoding="utf-8") == "one"


def test_clean_refuses_foreign_folders(tmp_path: Path) -> None:
    root = make_site(tmp_path, tmp_path / "cache")
    (root / "site_output").mkdir()
    (root / "site_output" / "precious.txt").write_text("keep", encoding="utf-8")
    assert main(["clean", "--config", str(root / "site.toml")]) == 2
    assert (root / "site_output" / "precious.txt").exists()
    (root / "site_output" / ".featvis-site").write_text("", encoding="utf-8")
    assert main(["clean", "--config", str(root / "site.toml")]) == 0
    assert not (root / "site_output").exists()


def test_dataset_examples_in_figures_and_explorer(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from PIL import Image, ImageDraw

    from generator.core.notices import Notices

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):  # stripes and blobs in a few colours: something for edge channels to find
        image = Image.new("RGB", (80, 64), (20 * i, 120, 255 - 30 * i))
        draw = ImageDraw.Draw(image)
        for k in range(0, 80, 6 + 2 * i):
            draw.line([(k, 0), (k + 10 * (i % 3), 63)], fill=(255, 255 - 40 * i, 0), width=2)
        draw.ellipse([10 + 5 * i, 10, 40 + 5 * i, 40], fill=(200, 30 * i, 90))
        folder = photos / ("golden_retriever" if i % 2 else "stripes")  # class subfolders
        folder.mkdir(exist_ok=True)
        image.save(folder / f"photo{i}.{'png' if i % 2 else 'jpg'}")
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"
    root = make_site(tmp_path / "site", cache, ARTICLE + "\nThe scan read {{ dataset.images }} photos.\n", dataset=str(photos))
    notices = Notices()
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True, notices=notices)
    out = root / "site_output"
    assert check_site(out) == []
    # the folder names are the photos' classes: one in the ImageNet hierarchy, one said once
    told = [n.message for n in notices.items if n.kind == "classes"]
    assert len(told) == 1 and "(stripes)" in told[0] and "matches them by their own words" in told[0], told
    search = (out / "explorer" / "search-index.js").read_text(encoding="utf-8")
    data = json.loads(search.split("=", 1)[1].strip().rstrip(";"))
    kinds = {name: [data["terms"][t] for t in data["kinds"][c]] for c, name in enumerate(data["classes"])}
    assert "dog" in kinds["golden retriever"] and kinds["stripes"] == []
    article = (out / "small.html").read_text(encoding="utf-8")
    assert "No dataset is configured" not in article and "The scan read 6 photos." in article
    assert re.search(r'<div class="examples top"><img src="images/dataset/[0-9a-f]+\.jpg"', article)
    layer = (out / "explorer" / "efficientnet_lite0" / "conv_stem.html").read_text(encoding="utf-8")
    assert layer.count('src="../../images/dataset/') >= 2 and "photo" in layer, "top and bottom photos per channel"
    assert re.search(r"Over the \d+ channels checked against the photos, .* median cosine of -?\d\.\d\d", layer, re.S)
    model_page = (out / "explorer" / "efficientnet_lite0" / "index.html").read_text(encoding="utf-8")
    assert "Pattern vs photos" in model_page and len(re.findall(r">cos -?\d\.\d\d<", model_page)) == 2, "conv_stem and blocks.1.0"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    relative = [e["numbers"]["relative_to_strongest_photo"] for e in manifest["visualizations"]
                if any(u.startswith("explorer/efficientnet_lite0/conv_stem.html") for u in e["used_on"])]
    assert relative and all(r is not None for r in relative), "measured against the photos"
    assert any(r[0] is not None and r[0] > 0 for r in relative)
    checks = [e["numbers"] for e in manifest["visualizations"] if any(u.startswith("explorer/efficientnet_lite0/conv_stem.html") for u in e["used_on"])]
    assert all(-1 <= c["pattern_agreement"]["cosine"] <= 1 for c in checks), "the pattern check, per visualization"
    assert all(c["class_reading"] is None for c in checks), "an edge-band picture is not read as a class"


def test_layer_summary_takes_medians_and_counts() -> None:
    from types import SimpleNamespace as NS

    from generator.site.explorer import layer_summary

    def channel(relative, cosine, meets=None):  # type: ignore[no-untyped-def]
        return {"image": NS(relative=relative), "agreement": NS(cosine=cosine, spearman=cosine / 2),
                "reading": None if meets is None else NS(meets=meets)}

    assert layer_summary([channel(None, 0.0) | {"agreement": None}]) is None, "nothing measured: no summary"
    summary = layer_summary([channel(2.0, 0.05, True), channel(None, 0.3, False), channel(6.0, 0.5, None)])
    assert summary == {"checked": 3, "relative": 4.0, "cosine": 0.3, "spearman": 0.15, "low": 1, "named": 1, "read": 2}
