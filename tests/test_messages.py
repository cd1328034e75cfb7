# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""Inputs that ended in a traceback, a hang or a misleading message: each is now one line naming
the file (and line) it is about, exit code 2, or a cost that grows with the input, not faster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from generator.cli import main
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.pages.content import read_page
from generator.pages.text import MAX_NESTING, Lines, splice


def _site(root: Path, article: str, toml: str = "") -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "a.md").write_text(article, encoding="utf-8")
    (root / "content" / "b.md").write_text("---\ntitle: B\n---\n", encoding="utf-8")
    (root / "site.toml").write_text(f'device = "cpu"\n{toml}', encoding="utf-8")
    return root


def _one_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("featvis: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert len(lines[0]) <= 300, lines[0]
    return lines[0]


# A long article: its cost grows with its length ------------------------------------------------


def _read_seconds(root: Path, paragraphs: int) -> float:
    body = "".join(f"Paragraph {i}, see [the other](b.md) and {{{{ model.layers }}}}.\n\n" for i in range(paragraphs))
    _site(root, "---\ntitle: Long\n---\n\n" + body)
    config = load_config(root / "site.toml")
    start = time.perf_counter()
    page = read_page(root / "content" / "a.md", config, slugs={"a", "b"})
    seconds = time.perf_counter() - start
    assert page.body.count("(b.html)") == paragraphs and len(page.variables) == paragraphs
    return seconds


def test_reading_an_article_grows_linearly_with_its_links(tmp_path: Path) -> None:
    """Each link and variable used to count the newlines before it from the start, and each link
    rewrite to copy the whole body: 10x the paragraphs cost about 100x."""
    small = min(_read_seconds(tmp_path / f"s{k}", 2000) for k in range(2))
    large = _read_seconds(tmp_path / "large", 20000)
    assert large < 25 * small, (small, large)


def test_lines_and_splice_agree_with_the_slow_forms() -> None:
    text = "a\nbb\n\nccc\nd"
    lines = Lines(text, 5)
    assert [lines(i) for i in range(len(text) + 1)] == [5 + text.count("\n", 0, i) for i in range(len(text) + 1)]
    assert splice("0123456789", [(7, 8, "x"), (1, 3, "AB-"), (5, 5, "+")]) == "0AB-34+56x89"
    assert splice("abc", []) == "abc"


def test_a_checker_finds_an_articles_line_only_for_a_problem(tmp_path: Path) -> None:
    """The checker looked each link's article line up eagerly (a scan of the article per link)."""
    from generator.check import SiteChecker

    site = tmp_path / "out"
    site.mkdir()
    (site / "index.html").write_text("<a href='index.html'>x</a>" * 5 + "<a href='gone.html'>y</a>", encoding="utf-8")
    source = tmp_path / "a.md"
    source.write_text("\n[y](gone.html)\n", encoding="utf-8")
    checker = SiteChecker(site, {"index.html": ("content/a.md", source)})
    calls = []
    where = checker.where
    checker.where = lambda *a: calls.append(a) or where(*a)  # type: ignore[method-assign]
    problems = checker.run()
    assert problems == ["content/a.md:2 (page index.html:1): href='gone.html': gone.html is missing"]
    assert len(calls) == 1


# Nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (lambda n: "".join("    " * i + "- item\n" for i in range(n)), MAX_NESTING + 4),
        (lambda n: "".join(">" * i + " quote\n" for i in range(1, n + 1)), MAX_NESTING + 4),
        (lambda n: "".join("\t" * i + "1. item\n" for i in range(n)), MAX_NESTING + 4),
    ],
    ids=["list", "quote", "tabs"],
)
def test_deep_nesting_is_refused_at_its_line(tmp_path: Path, make, line: int) -> None:  # type: ignore[no-untyped-def]
    root = _site(tmp_path, "---\ntitle: Deep\n---\n" + make(2000))
    start = time.perf_counter()
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value).startswith(f"content/a.md:{line}: lists or block quotes nested {MAX_NESTING + 1} deep (at most {MAX_NESTING})")
    assert time.perf_counter() - start < 5


def test_nesting_within_the_limit_and_in_fenced_code_is_read(tmp_path: Path) -> None:
    deep = "".join("    " * i + "- item\n" for i in range(MAX_NESTING - 1))
    code = "```\n" + "    " * 200 + "- code\n```\n"
    root = _site(tmp_path, "---\ntitle: Deep\n---\n" + deep + "\n" + code)
    page = read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert page.body.count("- item") == MAX_NESTING - 1


# Figure references -----------------------------------------------------------------------------


def test_a_figure_reference_without_a_key_says_so(tmp_path: Path) -> None:
    from generator.pages.content import check_variable

    with pytest.raises(FeatvisError) as info:
        check_variable("numbers.neg", {"neg": ("share", "count")}, "content/a.md:9")
    assert str(info.value) == "content/a.md:9: 'numbers.neg' names a figure but no number (write numbers.neg.KEY; keys: share, count)"


# site.toml -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("std = [0, 0, 0]\n", "site.toml:2: 'std' needs 3 numbers above 0 (it divides the input), not [0, 0, 0]"),
        ("std = [0.2, -1, 0.2]\n", "site.toml:2: 'std' needs 3 numbers above 0"),
        ("mean = [0.5, 0.5]\n", "site.toml:2: 'mean' needs 3 numbers (R, G, B), not [0.5, 0.5]"),
        ('models = [{model = "efficientnet_lite0", std = [1, 0, 1]}]\n', "site.toml:2: models: 'std' needs 3 numbers above 0"),
    ],
)
def test_a_bad_normalization_names_its_site_toml_line(tmp_path: Path, toml: str, expected: str) -> None:
    _site(tmp_path, "---\ntitle: A\n---\n", toml)
    with pytest.raises(FeatvisError) as info:
        load_config(tmp_path / "site.toml")
    assert f"{tmp_path}/{expected}" in str(info.value), str(info.value)


def test_an_article_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.pages import content

    root = _site(tmp_path, "---\ntitle: A\n---\n" + "Text.\n\n" * 400)
    monkeypatch.setattr(content, "MAX_ARTICLE_BYTES", 2000)
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == "content/a.md: 2,817 bytes, over the limit of an article (2,000 bytes); split it into several pages"
