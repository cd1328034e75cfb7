"""The home page's article list: what it says when there is none to list."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from generator.config.site import SiteConfig
from generator.pages.content import Page
from generator.pages.frontmatter import Author
from generator.site.env import make_env

REPO = Path(__file__).resolve().parents[1]


def _articles_section(home: object, articles: list[Page] | None = None) -> str:
    env = make_env(SiteConfig(root=Path(".")))
    env.undefined = jinja2.ChainableUndefined  # only the articles section matters here
    html = env.get_template("index.html").render(
        home=home,
        articles=articles or [],
        model=SimpleNamespace(layers=[1, 2], name="M", id="m", class_names=[]),
        shown_layers=2,
        bands=[],
        site=SimpleNamespace(title="Site", description="About."),
        root="",
    )
    found = re.search(r'<h2 id="articles">Articles</h2>(.*?)<h2 id="explorer">', html, re.DOTALL)
    assert found, html
    return " ".join(found.group(1).split())


@pytest.mark.parametrize("has_home", [True, False])
def test_empty_article_list_is_described_truly(has_home: bool) -> None:
    home = SimpleNamespace(title="Home", description="") if has_home else None
    text = _articles_section(home)
    if has_home:
        assert "besides this home page (<code>content/index.md</code>)" in text
        assert "add another Markdown file" in text
    else:
        assert "No articles yet: add a Markdown file to <code>content/</code>" in text


def test_an_article_card_byline_has_no_dangling_separator() -> None:
    """A card names the authors and the date, joined by a dot only when it has both (an article
    with a date and no authors read "· 2026-02-02"); one with neither has no byline."""
    def page(slug: str, authors: tuple[Author, ...], date: str | None) -> Page:
        return Page(slug=slug, source=Path(f"content/{slug}.md"), path=Path(f"/{slug}.md"),
                    title=slug.title(), authors=authors, date=date)

    text = _articles_section(None, [
        page("both", (Author("Ada"), Author("Bob")), "2026-01-15"),
        page("dated", (), "2026-02-02"),
        page("signed", (Author("Ada"),), None),
        page("bare", (), None),
    ])
    bylines = re.findall(r'<p class="muted">(.*?)</p>', text)
    assert bylines == ["Ada, Bob · 2026-01-15", "2026-02-02", "Ada"], bylines


SHALLOW = """\
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 4))
"""


def _text(path: Path) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")).split())


def test_the_home_and_model_pages_say_what_is_true_of_a_shallow_network(tmp_path: Path) -> None:
    """A network of three convolutions has no objects band: the home page names the first and
    the last layer it shows with their bands (never "from the first edges to whole objects"), the
    model page the bands its layers span, and the flagship article the band of its channels."""
    from generator.build import build_site
    from generator.config.presets import Preset
    from generator.config.site import load_config

    shutil.copytree(REPO / "content", tmp_path / "content")  # the flagship, as `featvis init`
    (tmp_path / "shallow.py").write_text(SHALLOW, encoding="utf-8")
    (tmp_path / "site.toml").write_text(
        'model = "python:shallow.py:build"\nrandom_weights = true\ninput_size = 32\n'
        'device = "cpu"\n', encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    build_site(config, quiet=True, preset=Preset(
        "tiny", size=32, steps=2, explorer_channels=1, figure_scale=0.5, diversity=False))
    out = tmp_path / "site_output"
    home = _text(out / "index.html")
    assert "every layer and channel" not in home, "the tiny preset visualized a sample"
    explorer = home[home.index("Explorer Every layer"):]
    assert "objects" not in explorer, explorer
    span = r"from \S+ in the edges band to \S+ in the parts band: 3 layers"
    assert re.search(span, explorer), explorer
    (model,) = out.glob("explorer/*/index.html")
    assert "3 layers, from edges through textures to parts." in _text(model), _text(model)
    model_text = _text(model)
    said = re.search(r"a layer's page shows each of them \(the tiny preset visualizes a sample",
                     model_text)
    assert said and "see every one" not in model_text, "a sample, not every channel"
    article = _text(out / "feature-visualization.html")
    said = re.search(r"[^.]*a channel of the first layer in the[^.]*", article)
    band = r"\S+:\d+, a channel of the first layer in the parts band:"
    assert said and re.search(band, said.group(0)), said
    wrong = re.search(r"[^.]*(objects band \(bottom\)|layer in the objects band)[^.]*", article)
    assert wrong is None, wrong.group(0)  # Figure 1's caption, the objectives' text
