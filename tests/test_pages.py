# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""Reading articles: front matter, figure blocks, math, template variables, links, and every kind
of bad input, each an error naming file:line and the valid choices. No model is needed here."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from markupsafe import Markup

from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.figures.registry import read_articles, read_pages
from generator.pages.body import render_body
from generator.pages.markdown import PAGE_IDS, latex_to_mathml, render_inline

GOOD = """\
---
title: How a network sees
description: Layers, one by one.
authors:
  - name: Ada Lovelace
    affiliations: [Analytical Engines, Royal Society]
  - Charles Babbage
date: 2024-05-01
model: efficientnet_lite0
---

## Edges

Text with $a_i^2$ math, a price of \\$5 and `$not math$` in code.
The model has {{ model.layers }} layers; shares {{ numbers.reg.hf.unregularized | pct }}.
See [the other page](other.md#top) and ![a picture](pics/cat.png).

```figure
type: layer-gallery
layers: [conv_stem]
channels: 2
caption: From edges to *objects*.
```

$$\\sum_i x_i$$

```figure
type: regularization
id: reg
layer: blocks.2.1
```

```python
print("{{ not a variable }}", "$x$")
```

Last line[^1].

[^1]: A note.
"""


def site(tmp_path: Path, files: dict[str, str]) -> Path:
    content = tmp_path / "content"
    content.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def pages(root: Path):  # type: ignore[no-untyped-def]
    return read_pages(load_config(root=root))


def error(root: Path) -> str:
    with pytest.raises(FeatvisError) as info:
        pages(root)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


OTHER = "---\ntitle: Other\n---\n\n# Top\n"


def test_reads_front_matter_figures_and_links(tmp_path: Path) -> None:
    root = site(tmp_path, {"intro.md": GOOD, "other.md": OTHER, "pics/cat.png": "x"})
    intro = next(p for p in pages(root) if p.slug == "intro")
    assert intro.title == "How a network sees" and intro.date == "2024-05-01"
    assert [a.name for a in intro.authors] == ["Ada Lovelace", "Charles Babbage"]
    assert intro.authors[0].affiliations == ("Analytical Engines", "Royal Society")
    assert [f.type for f in intro.figures] == ["layer-gallery", "regularization"]
    gallery = intro.figures[0]
    assert gallery.line == 18 and gallery.key_lines["channels"] == 21
    assert gallery.options == {"layers": ["conv_stem"], "channels": 2, "caption": "From edges to *objects*."}
    # figure blocks become placeholders without moving any later line
    assert len(intro.body.splitlines()) == len(GOOD.splitlines()) - 10
    assert "(other.html#top)" in intro.body and "(assets/pics/cat.png)" in intro.body
    assert intro.assets == (((root / "content/pics/cat.png").resolve(), "assets/pics/cat.png"),)
    assert [v.name for v in intro.variables] == ["model.layers", "numbers.reg.hf.unregularized"]
    assert intro.variables[0].line == 15


def test_renders_math_variables_figures_and_footnotes(tmp_path: Path) -> None:
    root = site(tmp_path, {"intro.md": GOOD, "other.md": OTHER, "pics/cat.png": "x"})
    intro = next(p for p in pages(root) if p.slug == "intro")
    values = {"model.layers": 18, "numbers.reg.hf.unregularized": 0.4567}
    out = render_body(intro, values.__getitem__, [render_inline("**FIG0**"), render_inline("FIG1")])
    html = str(out.html)
    assert "The model has 18 layers; shares 45.7%." in html
    assert "<math" in html and "<msubsup>" in html or "<msup>" in html
    assert 'display="block"' in html, "$$...$$ is display math"
    assert "http://" not in html, "no namespace URL: nothing external in the page"
    assert "<code>$not math$</code>" in html and "price of $5" in html
    assert '{{ not a variable }}' in html, "code blocks keep their braces"
    assert "<strong>FIG0</strong>" in html and "FIG1" in html and "FEATVISFIGURE" not in html
    assert re.search(r'<sup id="fnref-1"><a class="footnote-ref" href="#fn-1"', html)
    assert [t["id"] for t in out.toc] == ["edges"]


def test_a_missing_number_reads_as_its_default(tmp_path: Path) -> None:
    text = (
        '---\ntitle: T\n---\n\nPhotos: {{ dataset.images | int | default:"none configured" }}; '
        'skipped {{ dataset.skipped | default:"-" }}; bare {{ dataset.images }}.\n'
    )
    root = site(tmp_path, {"intro.md": text})
    page = next(p for p in pages(root) if p.slug == "intro")
    assert [(v.name, v.fmt, v.fallback) for v in page.variables] == [
        ("dataset.images", "int", "none configured"),
        ("dataset.skipped", None, "-"),
        ("dataset.images", None, None),
    ]
    missing = render_body(page, {}.get, [])
    assert "Photos: none configured; skipped -; bare n/a." in str(missing.html)
    assert [(v.name, v.line) for v in missing.unmeasured] == [("dataset.images", 5)], "only the bare one"
    measured = render_body(page, {"dataset.images": 1000.0, "dataset.skipped": 2}.get, [])
    assert "Photos: 1000; skipped 2; bare 1000." in str(measured.html)
    assert measured.unmeasured == ()


def test_a_table_scrolls_in_its_own_region(tmp_path: Path) -> None:
    """A table wider than a phone's screen scrolls inside a focusable region (featvis.css's
    `.table-scroll`) instead of widening the page."""
    text = "---\ntitle: T\n---\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter.\n"
    page = next(p for p in pages(site(tmp_path, {"intro.md": text})) if p.slug == "intro")
    html = str(render_body(page, {}.get, []).html)
    region = '<div aria-label="Table 1" class="table-scroll" role="region" tabindex="0"><table>'
    assert region in html and "</table></div>\n<p>After.</p>" in html
    css = (Path(__file__).resolve().parents[1] / "templates/static/featvis.css").read_text()
    assert re.search(r"\.table-scroll(, [\w-]+)* \{[^}]*overflow-x: auto;", css), "it scrolls"


def test_a_margin_note_is_an_aside_of_markdown(tmp_path: Path) -> None:
    """`<aside markdown="1">` renders its Markdown into an `<aside>` (on one line or several)
    without `unsafe_html`; an aside with attributes, like other raw HTML, stays text."""
    text = (
        '---\ntitle: T\n---\n\nOne.\n\n<aside markdown="1">A *note* and $x$.</aside>\n\n'
        "Two.\n\n<aside>\nFirst line\n\nsecond <b>b</b>\n</aside>\n\n"
        '<aside onclick="x">no</aside>\n'
    )
    page = next(p for p in pages(site(tmp_path, {"intro.md": text})) if p.slug == "intro")
    html = str(render_body(page, {}.get, []).html)
    assert re.search(r"<p>One\.</p>\s*<aside>\s*<p>A <em>note</em> and <math", html), html
    assert re.search(r"<aside>\s*<p>First line</p>\s*<p>second &lt;b&gt;b&lt;/b&gt;</p>\s*</aside>", html)
    assert '&lt;aside onclick="x"&gt;no&lt;/aside&gt;' in html and html.count("<aside>") == 2


def test_a_link_without_text_to_a_figure_reads_its_number(tmp_path: Path) -> None:
    """`[](#id)` reads "Figure N" for the page's N-th figure (by `id`, or `figure-N` without
    one), in the text and in captions; `[text](#id)` keeps its text."""
    text = (
        "---\ntitle: T\n---\n\nSee [](#reg), [](#figure-1) and [the gallery](#figure-1).\n\n"
        "```figure\ntype: layer-gallery\ncaption: Before [](#reg).\n```\n\n"
        "```figure\ntype: regularization\nid: reg\nlayer: conv_stem\n```\n"
    )
    page = next(p for p in pages(site(tmp_path, {"intro.md": text})) if p.slug == "intro")
    assert page.figure_ids == ("figure-1", "reg") and page.figures[0].figure_ids == page.figure_ids
    html = str(render_body(page, {}.get, []).html)
    assert ('See <a href="#reg">Figure 2</a>, <a href="#figure-1">Figure 1</a> and '
            '<a href="#figure-1">the gallery</a>.') in html
    caption = render_inline("Before [](#reg).", figure_ids=page.figure_ids)
    assert str(caption) == 'Before <a href="#reg">Figure 2</a>.'


def test_a_heading_named_as_a_figure_gets_an_id_of_its_own(tmp_path: Path) -> None:
    """`## Gallery` beside a figure `id: gallery`: the anchor stays the figure's, the heading's
    is `gallery_1`, and the page has each id once."""
    text = (
        "---\ntitle: T\n---\n\n## Gallery\n\nSee [](#gallery).\n\n"
        "```figure\ntype: layer-gallery\nid: gallery\n```\n"
    )
    page = next(p for p in pages(site(tmp_path, {"intro.md": text})) if p.slug == "intro")
    out = render_body(page, {}.get, [Markup('<figure id="gallery">FIG</figure>')])
    html = str(out.html)
    assert '<h2 id="gallery_1">Gallery</h2>' in html and [t["id"] for t in out.toc] == ["gallery_1"]
    assert '<a href="#gallery">Figure 1</a>' in html and '<figure id="gallery">FIG</figure>' in html
    assert html.count('id="gallery"') == 1


def test_headings_and_figures_leave_the_pages_own_ids_alone(tmp_path: Path) -> None:
    """`## Notes` and `## Appendix` get ids of their own (the appendix has `notes` and
    `appendix`); a figure `id: appendix` is an error; `PAGE_IDS` are the templates' ids."""
    text = "---\ntitle: T\n---\n\n## Notes\n\n## Appendix\n"
    page = next(p for p in pages(site(tmp_path, {"intro.md": text})) if p.slug == "intro")
    out = render_body(page, {}.get, [])
    assert [t["id"] for t in out.toc] == ["notes_1", "appendix_1"] and "featvis-reserved" not in str(out.html)
    templates = Path(__file__).resolve().parents[1] / "templates"
    ids = {i for name in ("base.html", "article.html", "index.html", "macros.html")
           for i in re.findall(r'\bid="([\w-]+)"', (templates / name).read_text())}
    assert ids == set(PAGE_IDS)
    figure = "---\ntitle: T\n---\n\n```figure\ntype: negative\nid: appendix\nlayer: conv_stem\n```\n"
    root = site(tmp_path / "fig", {"intro.md": figure})
    with pytest.raises(FeatvisError, match=r"intro\.md:7: figure id 'appendix' names a part of the page"):
        read_articles(load_config(root=root))


def test_latex_errors_are_reported() -> None:
    assert "<mfrac>" in latex_to_mathml(r"\frac{a}{b}", False)
    with pytest.raises(ValueError, match="unbalanced"):
        latex_to_mathml(r"\frac{a", False)
    with pytest.raises(ValueError, match=r"unknown command \\argh; .*operatorname\{argh\}"):
        latex_to_mathml(r"\argh_x", False)
    assert latex_to_mathml(r"\arg\max_x f", False) == latex_to_mathml(r"\operatorname{arg}\max_x f", False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: [unclosed\n---\n", r"intro\.md:2: malformed front matter"),
        ("---\ntitle: [unclosed\ndate: 2024-01-01\n---\n",
         r"intro\.md:2: malformed front matter: the '\[' opened here is not closed \(expected ',' or '\]', but got ':' on line 3\)"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\ncaption: \"open\nlayer: x\n```\n",
         r"intro\.md:7: malformed figure block: the quote opened here is not closed"),
        ("no front matter\n", r"intro\.md:1: missing front matter"),
        ("---\ntitle: T\n", r"intro\.md:1: malformed front matter: no closing"),
        ("---\ntitle: T\ncolour: red\n---\n", r"intro\.md:3: unknown front matter key 'colour' \(valid: title"),
        ("---\ndescription: no title\n---\n", r"intro\.md:1: front matter needs a 'title'"),
        ("---\ntitle: T\ndate: May 1st\n---\n", r"intro\.md:3: date 'May 1st' is not YYYY-MM-DD"),
        ("---\ntitle: T\ndate: 2024-05-01\nupdated: 2024-04-01\n---\n", r"intro\.md:4: updated 2024-04-01 is before the date 2024-05-01"),
        ("---\ntitle: T\nupdated: 2024-04-01\n---\n", r"intro\.md:3: 'updated' needs a 'date'"),
        ("---\ntitle: T\ndate: 2024-05-01\nupdated: soon\n---\n", r"intro\.md:4: date 'soon' is not YYYY-MM-DD"),
        ("---\ntitle: T\nmodel: resnet50\n---\n", r"intro\.md:3: .*'resnet50'.*valid: efficientnet_lite0"),
        ("---\ntitle: T\nauthors: [{name: A, email: x}]\n---\n", r"intro\.md:3: unknown author key 'email'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: layer-galery\n```\n",
         r"intro\.md:6: unknown figure type 'layer-galery' \(did you mean: layer-gallery"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nlayer: conv_stem\nchanels: 3\n```\n",
         r"intro\.md:8: figure 'negative': unknown key 'chanels' \(did you mean: channels"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nchannels: 3\n```\n",
         r"intro\.md:5: figure 'negative' needs 'layer'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: diversity\nlayer: x\nimages: many\n```\n",
         r"intro\.md:8: figure 'diversity': 'images' must be a whole number 2\.\.12"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nlayer: [a\n```\n", r"intro\.md:7: malformed figure block"),
        ("---\ntitle: T\n---\n\n```figure\ntype: layer-gallery\nlayers: [edges, parts[-1]]\n```\n",
         r"intro\.md:7: malformed figure block: .* \(quote a list item that holds brackets: \[edges, \"parts\[-1\]\"\]\)"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\n", r"intro\.md:5: figure block is not closed"),
        ("---\ntitle: T\n---\n\nSee [x](../secret.png).\n", r"intro\.md:5: path '\.\./secret\.png' escapes content/"),
        ("---\ntitle: T\n---\n\n![x](/etc/passwd)\n", r"intro\.md:5: absolute path '/etc/passwd'"),
        ("---\ntitle: T\n---\n\n[x](https://distill.pub)\n", r"intro\.md:5: link 'https://distill\.pub' leaves the site"),
        ("---\ntitle: T\n---\n\n<img src=\"//cdn.example.com/a.png\">\n", r"intro\.md:5: link '//cdn"),
        ("---\ntitle: T\n---\n\n[x](missing.md)\n", r"intro\.md:5: link to 'missing\.md', which is not a page"),
        ("---\ntitle: T\n---\n\nEnergy $\\frac{a$.\n", r"intro\.md:5: cannot render math"),
        ("---\ntitle: T\n---\n\n{{ model.layerz }}\n", r"intro\.md:5: unknown variable 'model\.layerz' \(did you mean: model\.layers"),
        ("---\ntitle: T\n---\n\n{{ numbers.gal.images }}\n", r"intro\.md:5: unknown figure 'gal'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: layer-gallery\nid: gal\n```\n\n{{ numbers.gal.imagez }}\n",
         r"intro\.md:10: figure 'gal' has no number 'imagez' \(did you mean: images"),
        ("---\ntitle: T\n---\n\n{{ model.layers | percent }}\n", r"intro\.md:5: unknown format 'percent'"),
        ("---\ntitle: T\n---\n\n{{ 3 + 4 }}\n", r"intro\.md:5: malformed template variable"),
        ("---\ntitle: T\n---\n\n{{ model.layers | default:no quotes }}\n", r"intro\.md:5: malformed template variable .* \| default:\"text\""),
        ("---\ntitle: T\n---\n\n{{ model.layers }} and\n{{ model.name\n}}.\n", r"intro\.md:6: unclosed template variable '\{\{ model\.name' \(a variable is"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nid: neg\n```\n\nAs [](#ngative) shows.\n",
         r"intro\.md:10: '\[\]\(#ngative\)' names no figure of this page \(valid: neg;"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\ncaption: Unlike [](#nothing).\n```\n",
         r"intro\.md:7: '\[\]\(#nothing\)' names no figure"),
        ("---\ntitle: T\n---\n\nA note[^prest].\n\n[^preset]: The preset.\n",
         r"intro\.md:5: footnote '\[\^prest\]' is not defined \(did you mean: preset\? valid: preset\)"),
        ("---\ntitle: T\n---\n\nA note[^n].\n",
         r"intro\.md:5: footnote '\[\^n\]' is not defined \(the page defines none: write '\[\^n\]: text'"),
        ("---\ntitle: T\n---\n\nText.\n\n[^old]: Left over.\n",
         r"intro\.md:7: footnote '\[\^old\]' is defined but the text never refers to it \(write '\[\^old\]' where it belongs, or remove it\)"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nid: neg\n```\n\nAs @fig:neg shows.\n",
         r"intro\.md:10: '@fig:neg' is not a figure reference here: write '\[\]\(#neg\)', which reads 'Figure N'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nid: neg\n```\n\nAs [@fig:neg] shows.\n",
         r"intro\.md:10: '\[@fig:neg\]' is not a citation: a figure is referred to as '\[\]\(#neg\)', which reads 'Figure N'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: negative\nlayer: conv_stem\nid: neg\n```\n\n```figure\ntype: diversity\nlayer: conv_stem\nid: neg\n```\n",
         r"intro\.md:14: figure id 'neg' is used twice on this page \(first at line 8; each figure needs its own\)"),
        ("---\ntitle: Residual networks [@he2016deep]\n---\n\nText.\n",
         r"intro\.md:2: the title cannot cite \('\[@he2016deep\]' would be printed as written\); cite in the text"),
        ("---\ntitle: T\ndescription: After [@he2016deep].\n---\n\nText.\n",
         r"intro\.md:3: the description cannot cite \('\[@he2016deep\]' would be printed as written\); cite in the text"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    root = site(tmp_path, {"intro.md": text})
    assert re.search(expected, error(root)), error(root)


def test_duplicate_slugs(tmp_path: Path) -> None:
    root = site(tmp_path, {"My Intro.md": OTHER, "my-intro.md": OTHER})
    assert re.search(r"content/my-intro\.md:1: duplicate page slug 'my-intro' \(also from content/My Intro\.md\)", error(root))


def test_accented_file_names_keep_their_letters_and_links_by_file_name_resolve(tmp_path: Path) -> None:
    """`Über uns.md` is `uber-uns.html`, `café.md` `cafe.html`; a link written as the file's
    name, its space percent-encoded as Markdown needs, reaches it."""
    root = site(tmp_path, {
        "café.md": "---\ntitle: Café\n---\n\nSee [us](Über%20uns.md#top) and [me](café.md).\n",
        "Über uns.md": OTHER,
    })
    by_slug = {p.slug: p for p in pages(root)}
    assert set(by_slug) == {"cafe", "uber-uns"}
    body = by_slug["cafe"].body
    assert "(uber-uns.html#top)" in body and "(cafe.html)" in body


def test_symlinks_out_of_content_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(OTHER, encoding="utf-8")
    (outside / "secret.png").write_bytes(b"x")
    root = site(tmp_path / "site", {"ok.md": "---\ntitle: T\n---\n\n![x](pic.png)\n"})
    os.symlink(outside / "secret.png", root / "content" / "pic.png")
    assert re.search(r"ok\.md:5: path 'pic\.png' escapes content/", error(root))
    (root / "content" / "pic.png").unlink()
    os.symlink(outside / "secret.md", root / "content" / "evil.md")
    (root / "content" / "ok.md").write_text(OTHER, encoding="utf-8")
    assert re.search(r"content/evil\.md:1: content path escapes content/", error(root))


def test_missing_content_folder(tmp_path: Path) -> None:
    with pytest.raises(FeatvisError, match="content folder not found"):
        pages(tmp_path)


def test_a_link_to_an_anchor_an_article_lacks_stops_at_its_line(tmp_path: Path) -> None:
    """`other.md#section` and `[text](#section)` name a heading, a figure, a footnote or a part of
    the page the templates write; else the build stops while reading, at the link's line (the
    built site's check found it only after the whole compute, at an HTML line)."""
    good = ("---\ntitle: T\n---\n\n## Method\n\n```figure\ntype: negative\nlayer: conv_stem\nid: neg\n"
            "caption: As in [Other](other.md#top).\n```\n\n"
            "See [top](other.md#top), [the method](#method), [the figure](intro.md#neg),\n"
            "[the notes](#notes), [a note](#fn-a)[^a] and [the appendix](other.md#appendix).\n\n"
            "[^a]: A note.\n")
    root = site(tmp_path, {"intro.md": good, "other.md": OTHER})
    assert {p.slug for p in pages(root)} == {"intro", "other"}
    for old, new, expected in (
        ("other.md#top), [the", "other.md#tpo), [the",
         r"intro\.md:14: link to '#tpo' of content/other\.md: it has no such anchor \(did you mean: top\? valid: top\)"),
        ("(#method)", "(#methods)",
         r"intro\.md:14: link to '#methods' of this page: it has no such anchor \(did you mean: method\? valid: method, neg\)"),
        ("As in [Other](other.md#top)", "As in [Other](other.md#bottom)",
         r"intro\.md:11: link to '#bottom' of content/other\.md: it has no such anchor"),
    ):
        site(tmp_path, {"intro.md": good.replace(old, new)})
        assert re.search(expected, error(root)), error(root)


def test_a_file_whose_name_has_a_space_links_percent_encoded(tmp_path: Path) -> None:
    """`![x](img/my%20photo.png)`, as Markdown needs a space written (and as an article with a
    space in its name is linked), copies `img/my photo.png` and links it encoded; it was "not
    found in content/"."""
    root = site(tmp_path, {"a.md": "---\ntitle: A\n---\n\n![x](img/my%20photo.png) and [it](img/my%20photo.png#top)\n"})
    (root / "content" / "img").mkdir()
    (root / "content" / "img" / "my photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (page,) = pages(root)
    assert page.assets == ((root / "content" / "img" / "my photo.png", "assets/img/my photo.png"),)
    assert "![x](assets/img/my%20photo.png) and [it](assets/img/my%20photo.png#top)" in page.body


def test_the_shipped_articles_speak_of_any_network_truly() -> None:
    """`featvis init` copies these articles into a site of any network (a user's ten-class CNN
    too): an example that fits ImageNet only is said to be ImageNet's, and the home page names
    the model by its display name, not by its id (`python:../net.py:build`)."""
    content = Path(__file__).resolve().parents[1] / "content"
    imagenet_only = ("dog's ear", "woven basket", "coral", "starfish")
    for page in ("index.md", "feature-visualization.md"):
        text = (content / page).read_text(encoding="utf-8")
        for paragraph in text.split("\n\n"):
            named = [word for word in imagenet_only if word in paragraph]
            assert not named or "ImageNet" in paragraph, (page, named, paragraph[:200])
    home = (content / "index.md").read_text(encoding="utf-8")
    assert "It shows {{ site.models }}" in home


def test_the_home_page_takes_the_sites_title_when_it_has_none(tmp_path: Path) -> None:
    """`featvis init` writes the site's title into site.toml alone: a user who renames the site
    there sees the new name on the home page; a home page with a title of its own keeps it, and
    any other page without one is still an error."""
    root = site(tmp_path, {"index.md": "---\ndescription: Home\n---\n\nHello.\n", "other.md": OTHER})
    (root / "site.toml").write_text('title = "My notes"\n', encoding="utf-8")
    home = next(p for p in pages(root) if p.is_home)
    assert home.title == "My notes"
    (root / "content" / "index.md").write_text("---\ntitle: Welcome\n---\n", encoding="utf-8")
    assert next(p for p in pages(root) if p.is_home).title == "Welcome"
    (root / "content" / "other.md").write_text("---\ndescription: x\n---\n", encoding="utf-8")
    assert error(root) == "content/other.md:1: front matter needs a 'title'"
