# ruff: noqa: E501  (expected messages read best one per line)
"""The flagship article and the guide to writing one (docs/articles.md).

The flagship (content/feature-visualization.md) is read and every figure checked against the
embedded model without computing anything: every figure type is used, channels are left to the
build, every `{{ numbers... }}` names a key its figure declares, the prose quotes no measured number
of its own, and "Figure N" links point at figure N. Then the article the guide shows is saved as
content/my-article.md in a temporary site and built at toy size, as an author would, to prove the
guide is enough (its file:line error message included).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_site import TINY, make_site

from generator.build import build_site
from generator.check import check_site
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.figures.context import DrawContext
from generator.figures.registry import FIGURE_TYPES, figure_for, page_figures, read_pages
from generator.pages.content import FigureSpec, Page

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = "feature-visualization"
CHANNEL_OPTIONS = ("channels", "channel", "pairs")


@pytest.fixture(scope="module")
def pages() -> dict[str, Page]:
    return {page.slug: page for page in read_pages(load_config(REPO / "site.toml"))}


@pytest.fixture(scope="module")
def flagship(pages: dict[str, Page]) -> Page:
    return pages[FLAGSHIP]


def test_flagship_figures_validate_against_the_model(flagship: Page, lite0) -> None:  # type: ignore[no-untyped-def]
    figures = page_figures(flagship, lite0)  # layers, channels and classes checked, nothing computed
    # every type but compare-models, which needs a site of several models (examples/lite-family)
    single = set(FIGURE_TYPES) - {"compare-models"}
    assert {fig.type for fig in figures} == single, "the article shows every figure type"
    assert flagship.authors and flagship.authors[0].affiliations and flagship.date and flagship.description
    assert flagship.model is None  # it speaks of whatever model the site shows
    ctx = DrawContext(config=load_config(REPO / "site.toml"), model=lite0, preset=TINY)
    for fig in figures:
        assert fig.jobs(ctx), f"{fig.id} asks for no visualization"  # the survey, while nothing is cached
        assert fig.caption.strip(), f"figure {fig.id} has no caption"
        for key in CHANNEL_OPTIONS:
            value = fig.options.get(key)
            assert value is None or isinstance(value, int), (
                f"{fig.spec.where(key)}: {fig.id} names channels by hand; give a count so the build "
                "chooses them from measurements"
            )
    gallery = next(fig for fig in figures if fig.type == "layer-gallery")
    bands = {lite0.layer(name).band for name in gallery.layers_used(lite0)}
    assert bands == {"edges", "textures", "patterns", "parts", "objects"}


def test_every_quoted_number_is_declared_by_its_figure(flagship: Page, lite0) -> None:  # type: ignore[no-untyped-def]
    keys = {fig.id: fig.number_keys() for fig in page_figures(flagship, lite0)}
    quoted = [ref for ref in flagship.variables if ref.name.startswith("numbers.")]
    assert len(quoted) >= 20, "the text quotes the build's measurements"
    for ref in quoted:
        _, fig, key = ref.name.split(".", 2)
        assert fig in keys, f"{flagship.source}:{ref.line}: no figure '{fig}'"
        assert key in keys[fig], f"{flagship.source}:{ref.line}: figure '{fig}' has no number '{key}'"
    for needed in ("regularization", "preconditioning", "photos", "diversity"):
        assert any(ref.name.startswith(f"numbers.{needed}.") for ref in quoted), needed


def prose(page: Page) -> str:
    """The article's text without variables, math, code, figure placeholders and references."""
    text = re.sub(r"\{\{.*?\}\}|\$\$.*?\$\$|\$[^$\n]+\$|`[^`]*`|FEATVISFIGURE\d+X", " ", page.body, flags=re.S)
    return text.split("## References")[0]


def test_prose_quotes_no_measured_number_of_its_own(flagship: Page) -> None:
    text = prose(flagship)
    measured = re.findall(r"\d+(?:\.\d+)?\s*(?:%|×|x\b|times\b)|\b\d+\.\d+\b", text)
    assert measured == [], "measured numbers come through {{ numbers... }}, not typed in"


def test_prose_about_the_model_holds_for_any_architecture(flagship: Page) -> None:
    """The flagship builds for any model, vision transformers included: a sentence that speaks of
    the site's model (quotes a `model.` variable) claims no convolution of it."""
    body = flagship.body.split("## References")[0]
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z{])", re.sub(r"\s+", " ", body))
    about = [s for s in sentences if "{{ model." in s]
    assert about, "the article speaks of the site's model"
    assert [s for s in about if "convolution" in s.lower()] == []


def test_figure_references_point_at_the_right_figure(flagship: Page, lite0) -> None:  # type: ignore[no-untyped-def]
    """The text names its figures by id (`[](#photos)` reads "Figure 5"), never by a typed number
    that an added figure would make wrong; the appendix's bare numbers are figures of the page."""
    order = {fig.id: i + 1 for i, fig in enumerate(page_figures(flagship, lite0))}
    links = re.findall(r"\[\]\(#([\w-]+)\)", flagship.body)
    assert len(links) >= 6 and all(target in order for target in links), links
    assert not re.findall(r"\[Figures? \d+\]\(#", flagship.body), "a figure named by a typed number"
    bare = re.findall(r"Figures? (\d+)", prose(flagship))
    assert all(1 <= int(n) <= len(order) for n in bare)


def test_the_flagship_cites_every_work_of_its_bibliography(flagship: Page) -> None:
    """Each entry of content/references.bib is cited where the text names the work (or listed by
    `nocite`), numbered once; no hand-written list is left in the text."""
    bib = (REPO / "content" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib, re.M)
    assert sorted(ref.key for ref in flagship.references if ref.cited) == sorted(keys)
    assert [ref.number for ref in flagship.references] == list(range(1, len(keys) + 2))
    # `nocite: "@model"`: the paper of the site's network (EfficientNet-Lite0's), last
    assert [ref.key for ref in flagship.references if not ref.cited] == ["tan2019efficientnet"]
    assert "## References" not in flagship.body
    for named, key in (("Olah, Mordvintsev and Schubert (2017)", "olah2017feature"),
                       ("Tyka, 2015)", "mordvintsev2015inceptionism"),
                       ("Brendel and Kim\n(2023)", "geirhos2023dont")):
        assert f"{named} [@{key}]" in flagship.body, key


LITE0_PAPER = ('M.&nbsp;Tan and Q.&nbsp;Le. <span class="bibtex-protected">EfficientNet</span>: rethinking '
               'model scaling for convolutional neural networks. In <em><span class="bibtex-protected">ICML</span></em>. 2019.')


@pytest.mark.parametrize(
    ("model", "paper", "names"),
    [
        ("efficientnet_lite0", "tan2019efficientnet", "EfficientNet"),
        ("torchvision:resnet50", "he2016deep", "Deep residual learning for image recognition"),
        ("torchvision:googlenet", "szegedy2015going", "Going deeper with convolutions"),
        ("timm:vit_small_patch16_224.augreg_in21k", "dosovitskiy2021image", "16x16 words"),
        ("torchvision:convnext_tiny", "liu2022convnet", "for the 2020s"),
        ("timm:mobilenetv3_large_100", "howard2019searching", "MobileNetV3"),
        ("python:tiny_cnn.py:build", None, None),  # a network of one's own: none
    ],
)
def test_the_flagship_lists_the_paper_of_the_sites_network(tmp_path: Path, model: str, paper: str | None, names: str | None) -> None:
    """`featvis init`'s flagship cites the paper of the network the site shows, whichever it is
    (`nocite: "@model"`), with no edit: no EfficientNet paper on a site of another network."""
    shutil.copytree(REPO / "content", tmp_path / "content")
    (tmp_path / "site.toml").write_text(f'model = "{model}"\n', encoding="utf-8")
    pages = {page.slug: page for page in read_pages(load_config(tmp_path / "site.toml"))}
    listed = [ref for ref in pages[FLAGSHIP].references if not ref.cited]
    assert [ref.key for ref in listed] == ([paper] if paper else [])
    if names:
        assert names in str(listed[0].html)
    if model == "efficientnet_lite0":  # as the flagship listed it before `@model`
        assert str(listed[0].html) == LITE0_PAPER
    others = [str(ref.html) for ref in pages[FLAGSHIP].references if ref.key != paper]
    assert others and not [html for html in others if "EfficientNet" in html]


def test_home_page_introduces_the_site(pages: dict[str, Page]) -> None:
    home = pages["index"]
    assert home.is_home and "feature-visualization.html" in home.body and "explorer/index.html" in home.body
    assert "featvis build" in home.body


GUIDE = REPO / "docs" / "articles.md"  # the user guide's "Writing articles and figures"


def guide_article() -> str:
    """The example article of the guide to writing one."""
    guide = GUIDE.read_text(encoding="utf-8")
    return re.search(r"````markdown\n(.*?)\n````", guide, re.S).group(1) + "\n"  # type: ignore[union-attr]


def test_the_guide_lists_every_figure_option() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for kind, cls in FIGURE_TYPES.items():
        row = re.search(rf"^\| `{re.escape(kind)}` \|.*$", guide, re.M)
        assert row, f"the guide's figure table lacks {kind}"
        for option in cls.OPTIONS:
            assert f"`{option}`" in row.group(0), f"{GUIDE.name}: {kind} option {option} is not documented"
        keys = re.findall(rf"^\| `{re.escape(kind)}` \|.*$", guide, re.M)[-1]
        required = {k: "blocks.1.0" for k, o in cls.OPTIONS.items() if o.required}
        for key in figure_for(FigureSpec(kind, required, Path("articles.md"), 1)).number_keys():
            documented = f"`{key}`" in keys or f"`{key.split('.')[0]}.KIND." in keys
            assert documented, f"{GUIDE.name}: {kind} number {key} is not documented"


def test_an_author_adds_an_article_and_sees_it_built(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"  # shared with test_site and test_browser
    article = guide_article()
    root = make_site(tmp_path, cache, article)
    (root / "content" / "small.md").rename(root / "content" / "my-article.md")
    typo = article.replace("layer: blocks.4.2", "layer: blocks.4.9")
    (root / "content" / "my-article.md").write_text(typo, encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"content/my-article\.md:25: figure 'negative': unknown layer 'blocks\.4\.9' \(did you mean"):
        build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)

    (root / "content" / "my-article.md").write_text(article, encoding="utf-8")
    (root / "content" / "notes.md").write_text("---\ntitle: Notes\n---\n\nNo figures.\n", encoding="utf-8")
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    out = root / "site_output"
    assert check_site(out) == []
    html = (out / "my-article.html").read_text(encoding="utf-8")
    assert 'href="my-article.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert "<h1>Two layers of EfficientNet-Lite0</h1>" in html and "Your Lab" in html
    for fig_id in ("gallery", "both-ways"):
        figure = re.search(rf'<figure[^>]*id="{fig_id}">.*?</figure>', html, re.S)
        assert figure and '<img src="images/' in figure.group(0), fig_id
    text = re.sub(r"\s+", " ", html)
    assert "The gallery shows 6 channels, chosen by the build, from a model with 18 layers" in text
    assert "{{" not in html and 'id="fn-why"' in html and "How the figures were made" in html
    notes = (out / "notes.html").read_text(encoding="utf-8")
    assert "How the figures were made" not in notes and "Every image in this article" not in notes, \
        "a page without figures has no appendix about them"
    assert 'id="reproduce"' in notes


def test_titles_and_descriptions_take_inline_markdown(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"
    root = make_site(tmp_path, cache, guide_article())
    (root / "content" / "marked.md").write_text(
        "---\ntitle: Where *edges* meet `conv_stem` & $x$ ([home](index.html))\ndescription: A <b>bold</b> **claim**\n---\nText.\n",
        encoding="utf-8",
    )
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    html = (root / "site_output" / "marked.html").read_text(encoding="utf-8")
    assert "<h1>Where <em>edges</em> meet <code>conv_stem</code> &amp; <math" in html
    assert '<p class="description">A &lt;b&gt;bold&lt;/b&gt; <strong>claim</strong></p>' in html
    assert re.search(r"<title>Where edges meet conv_stem &amp; x \(home\) · ", html), "the tab's title is plain text"
    assert 'content="A &lt;b&gt;bold&lt;/b&gt; claim"' in html
    index = (root / "site_output" / "index.html").read_text(encoding="utf-8")
    assert '<span class="card-title">Where <em>edges</em> meet' in index and "*" not in index
    card = re.search(r'<a href="marked.html"><span class="card-title">(.*?)</span></a>', index)
    assert card and "<a " not in card.group(1) and "(home)" in card.group(1), "no link inside the card's link"


def test_the_readme_example_binds_to_the_model(tmp_path: Path, lite0) -> None:  # type: ignore[no-untyped-def]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    article = re.search(r"````markdown\n(.*?)\n````", readme, re.S).group(1) + "\n"  # type: ignore[union-attr]
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "my-article.md").write_text(article, encoding="utf-8")
    (tmp_path / "site.toml").write_text('title = "example"\n', encoding="utf-8")
    page = next(p for p in read_pages(load_config(tmp_path / "site.toml")) if p.slug == "my-article")
    figures = page_figures(page, lite0)
    keys = {fig.id: fig.number_keys() for fig in figures}
    quoted = [ref.name.split(".", 2) for ref in page.variables if ref.name.startswith("numbers.")]
    assert quoted and all(key in keys[fig] for _, fig, key in quoted)
    assert {lite0.layer(name).band for name in figures[0].layers_used(lite0)} == {"edges", "objects"}
