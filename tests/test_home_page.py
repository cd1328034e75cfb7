"""The home page's article list: what it says when there is none to list."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from generator.config.site import SiteConfig
from generator.site.env import make_env


def _articles_section(home: object) -> str:
    env = make_env(SiteConfig(root=Path(".")))
    env.undefined = jinja2.ChainableUndefined  # only the articles section matters here
    html = env.get_template("index.html").render(
        home=home,
        articles=[],
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
