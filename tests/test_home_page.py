"""The home page's article list: what it says when there is none to list."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from generator.config.site import SiteConfig
from generator.pages.content import Page
from generator.pages.frontmatter import Author
from generator.site.env import make_env


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
