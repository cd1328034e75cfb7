# ruff: noqa: E501  (articles and expected messages read best one per line)
"""Citations: `[@key]` against content/references.bib, numbered in reading order, linked to the
References in the appendix with the entry on hover; every mistake one line at file:line; `[@model]`,
the paper of the page's network. No model is needed here but for one site built end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.cli import main
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.figures.registry import read_pages
from generator.pages.body import render_body
from generator.pages.content import Page
from generator.site.env import make_env

BIB = """\
@article{olah2017,
  author = {Olah, C. and Mordvintsev, A. and Schubert, L.},
  title = {Feature Visualization},
  journal = {Distill},
  year = {2017},
  doi = {10.23915/distill.00007}
}

@misc{erhan2009,
  author = {Erhan, D.},
  title = {Visualizing higher-layer features},
  year = {2009}
}

@misc{never,
  author = {Nobody, N.},
  title = {Cited nowhere},
  year = {2000}
}

@misc{evil,
  author = {Mallory, M.},
  title = {<script>alert(1)</script> & <b>bold</b> "quoted"},
  url = {https://evil.example.com/x},
  year = {2020}
}
"""


def site(tmp_path: Path, article: str, bib: str | None = BIB, name: str = "references.bib") -> Path:
    content = tmp_path / "content"
    content.mkdir(parents=True, exist_ok=True)
    (content / "a.md").write_text(article, encoding="utf-8")
    if bib is not None:
        (content / name).parent.mkdir(parents=True, exist_ok=True)
        (content / name).write_text(bib, encoding="utf-8")
    return tmp_path


def page(root: Path) -> Page:
    (found,) = read_pages(load_config(root=root))
    return found


def error(root: Path) -> str:
    with pytest.raises(FeatvisError) as info:
        read_pages(load_config(root=root))
    assert "\n" not in str(info.value), "errors are one line"
    return str(info.value)


def html(found: Page) -> str:
    return str(render_body(found, lambda name: None, []).html)


def references(root: Path, found: Page) -> str:
    env = make_env(load_config(root=root))
    template = env.from_string('{% import "macros.html" as m %}{{ m.references(refs) }}')
    return template.render(refs=found.references)


def test_numbered_in_order_of_first_citation_one_bracket_for_several(tmp_path: Path) -> None:
    root = site(tmp_path, "---\ntitle: T\n---\n\nFirst [@erhan2009], then [@olah2017; @erhan2009].\n\nAgain [@olah2017].\n")
    found = page(root)
    assert [(r.number, r.key) for r in found.references] == [(1, "erhan2009"), (2, "olah2017")]
    out = html(found)
    spans = re.findall(r'<span class="citation">\[(.*?)\]</span>', out)
    assert [re.findall(r">(\d+)</a>", s) for s in spans] == [["1"], ["2", "1"], ["2"]]
    assert out.count('id="cite-1"') == 1 and out.count('id="cite-2"') == 1, "the first citation of each is the back-link's target"
    assert '<a href="#ref-2" id="cite-2" title="C. Olah, A. Mordvintsev, and L. Schubert. Feature visualization. Distill, 2017. doi:10.23915/distill.00007.">2</a>' in out, "the entry on hover"


def test_code_email_links_and_escapes_are_not_citations(tmp_path: Path) -> None:
    article = (
        "---\ntitle: T\n---\n\nCode `[@nokey]` and\n\n```\n[@nokey]\n```\n\n"
        "Mail a@b.c or [write to a@b.c], a link [@olah2017](b.md), an escape \\[@nokey], "
        "a footnote[^n], $x$ and {{ model.layers }}.\n\n[^n]: A note.\n"
    )
    root = site(tmp_path, article, bib=None)  # nothing is cited: no bibliography needed
    (root / "content" / "b.md").write_text("---\ntitle: B\n---\n", encoding="utf-8")
    found = next(p for p in read_pages(load_config(root=root)) if p.slug == "a")
    assert found.references == ()
    out = str(render_body(found, lambda name: 18, []).html)
    assert "<code>[@nokey]</code>" in out and "[@nokey]\n</code></pre>" in out
    assert "Mail a@b.c or [write to a@b.c]" in out and '<a href="b.html">@olah2017</a>' in out
    assert "an escape [@nokey]" in out and 'class="footnote-ref"' in out and "<math" in out
    assert 'class="citation"' not in out


def test_citations_in_captions_count_in_reading_order(tmp_path: Path) -> None:
    article = (
        "---\ntitle: T\n---\n\n```figure\ntype: layer-gallery\nid: g\nlayers: [conv_stem]\n"
        "caption: After [@olah2017], not `[@nokey]`.\n```\n\nThen [@erhan2009] and [@olah2017].\n"
    )
    root = site(tmp_path, article)
    found = page(root)
    assert [(r.key, r.first_figure) for r in found.references] == [("olah2017", 0), ("erhan2009", None)]
    env = make_env(load_config(root=root))
    caption = env.from_string("{{ spec.options.caption | inline(spec.references, spec.index) }}").render(spec=found.figures[0])
    assert '<a href="#ref-1" id="cite-1" title="C. Olah' in caption and "<code>[@nokey]</code>" in caption
    out = html(found)
    assert 'id="cite-1"' not in out and 'id="cite-2"' in out, "the back-link goes to the caption"


def test_the_references_list_only_what_is_cited_with_anchors_and_back_links(tmp_path: Path) -> None:
    root = site(tmp_path, "---\ntitle: T\n---\n\nSee [@olah2017].\n")
    found = page(root)
    listed = references(root, found)
    assert re.findall(r'<li id="(ref-\d+)"', listed) == ["ref-1"]
    assert "Feature visualization" in listed and "Cited nowhere" not in listed and "Erhan" not in listed
    assert '<a class="ref-back" href="#cite-1"' in listed
    assert "https://" not in listed and "<a href" not in listed, "the site reads offline: no links out"


def test_nocite_lists_without_a_back_link(tmp_path: Path) -> None:
    root = site(tmp_path, "---\ntitle: T\nnocite: [never]\n---\n\nSee [@olah2017].\n")
    found = page(root)
    assert [(r.key, r.cited) for r in found.references] == [("olah2017", True), ("never", False)]
    listed = references(root, found)
    assert "Cited nowhere" in listed and listed.count('class="ref-back"') == 1


def test_html_in_an_entry_is_escaped_and_urls_lose_their_scheme(tmp_path: Path) -> None:
    root = site(tmp_path, "---\ntitle: T\n---\n\nSee [@evil].\n")
    found = page(root)
    out, listed = html(found), references(root, found)
    assert "<script" not in out + listed and "<b>" not in out + listed
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in listed
    assert 'title="M. Mallory. &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;.' in out
    assert "https://" not in out + listed and "evil.example.com/x" in listed


@pytest.mark.parametrize(
    ("article", "bib", "expected"),
    [
        ("---\ntitle: T\n---\n\nText.\n\nSee [@olah2016].\n", BIB,
         r"^content/a\.md:7: unknown citation key 'olah2016' in content/references\.bib \(did you mean: olah2017\?"),
        ("---\ntitle: T\n---\n\n```figure\ntype: layer-gallery\ncaption: See [@olah2016].\n```\n", BIB,
         r"^content/a\.md:7: unknown citation key 'olah2016'"),
        ("---\ntitle: T\nnocite: [nevr]\n---\n\nSee [@olah2017].\n", BIB,
         r"^content/a\.md:3: unknown citation key 'nevr' in nocite \(did you mean: never"),
        ("---\ntitle: T\n---\n\nSee [@olah2017].\n", None,
         r"^content/a\.md:5: cites a source but there is no bibliography \(add content/references\.bib or name a \.bib"),
        ("---\ntitle: T\n---\n\nSee [@a].\n", "@misc{a,\n  title = {X},\n  year = 2017\n}\n\n@misc{b,\n  title = {Y\n  year = 2017,\n}\n",
         r"^content/references\.bib:6: malformed BibTeX: this entry is not closed"),
        ("---\ntitle: T\n---\n\nSee [@a].\n", "@misc{a,\n  title = {X},\n}\n\n@misc{A,\n  title = {Y}\n}\n",
         r"^content/references\.bib:5: malformed BibTeX: entry 'A' is defined twice"),
        ("---\ntitle: T\n---\n\nSee [@a].\n", "@misc{a,\n  title = {X},\n  year 2017\n}\n",
         r"^content/references\.bib:3: malformed BibTeX: "),
        ("---\ntitle: T\n---\n\nSee [@a].\n", "@article{a,\n  title = {X},\n  year = 2017\n}\n",
         r"^content/references\.bib:1: entry 'a': cannot be formatted \(missing author in a\)"),
        ("---\ntitle: T\n---\n\nSee [@a].\n", "@webpage{a,\n  title = {X}\n}\n",
         r"^content/references\.bib:1: entry 'a': unknown entry type '@webpage' \(.*valid: article, book"),
        ("---\ntitle: T\nbibliography: other.bib\n---\n\nNothing cited.\n", BIB,
         r"^content/a\.md:3: bibliography 'other\.bib' not found in content/ \(\.bib files there: references\.bib\)"),
        ("---\ntitle: T\nbibliography: ../outside.bib\n---\n\nSee [@a].\n", BIB,
         r"^content/a\.md:3: bibliography '\.\./outside\.bib' leaves content/"),
        ("---\ntitle: T\nbibliography: 3\n---\n\n", BIB, r"^content/a\.md:3: front matter 'bibliography'"),
        ("---\ntitle: T\n---\n\n```figure\ntype: layer-gallery\ncaption: [@olah2017] first.\n```\n", BIB,
         r"^content/a\.md:7: malformed figure block: .* \(quote a value that starts with a citation: caption: \"\[@key\] \.\.\.\"\)$"),
    ],
)
def test_mistakes_name_the_file_and_line(tmp_path: Path, article: str, bib: str | None, expected: str) -> None:
    root = site(tmp_path, article, bib)
    (tmp_path / "outside.bib").write_text(BIB, encoding="utf-8")
    assert re.search(expected, error(root)), error(root)


def test_another_bibliography_by_front_matter(tmp_path: Path) -> None:
    mine = "@misc{mine,\n  title = {Mine},\n  year = 2001\n}\n"
    root = site(tmp_path, "---\ntitle: T\nbibliography: refs/mine.bib\n---\n\nSee [@mine].\n", mine, "refs/mine.bib")
    assert [r.text for r in page(root).references] == ["Mine. 2001."]


def test_an_unknown_key_stops_the_build_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = site(tmp_path, "---\ntitle: T\n---\n\nSee [@olah2016].\n")
    (root / "site.toml").write_text('device = "cpu"\n', encoding="utf-8")
    code = main(["build", "--config", str(root / "site.toml"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "content/a.md:5: unknown citation key 'olah2016'" in err and "Traceback" not in err, err
    assert not (root / "site_output").exists()


def test_model_cites_the_paper_of_the_pages_and_the_figures_network(tmp_path: Path) -> None:
    """`[@model]` is the paper of the page's model (in a caption, of the figure's `model:`), any
    key of featvis's papers.bib resolves without the site's .bib having it, and a network of
    one's own has no paper: its `[@model]` goes, and `nocite: "@model"` lists nothing."""
    article = ("---\ntitle: T\nmodel: torchvision:resnet50\nnocite: \"@model\"\n---\n\n"
               "A network [@model], `[@model]` in code, [@olah2017; @model] and [@vgg16] [@simonyan2015very].\n\n"
               "```figure\ntype: layer-gallery\nmodel: python:own.py:build\ncaption: \"Its net [@model].\"\n```\n\n"
               "```figure\ntype: layer-gallery\nmodel: timm:vit_tiny_patch16_224\ncaption: \"A ViT [@model].\"\n```\n")
    root = site(tmp_path, article)
    (root / "site.toml").write_text(
        'models = ["python:own.py:build", "torchvision:resnet50", "timm:vit_tiny_patch16_224"]\n',
        encoding="utf-8",
    )
    with pytest.raises(FeatvisError, match=r"^content/a\.md:7: unknown citation key 'vgg16'"):
        read_pages(load_config(root / "site.toml"))
    (root / "content" / "a.md").write_text(article.replace("[@vgg16] ", ""), encoding="utf-8")
    (page,) = read_pages(load_config(root / "site.toml"))
    assert "A network [@he2016deep], `[@model]` in code, [@olah2017; @he2016deep] and [@simonyan2015very]." in page.body
    assert [(ref.key, ref.cited) for ref in page.references] == [
        ("he2016deep", True), ("olah2017", True), ("simonyan2015very", True), ("dosovitskiy2021image", True)
    ]
    assert [spec.options["caption"] for spec in page.figures] == ["Its net.", "A ViT [@dosovitskiy2021image]."]
    assert "Deep residual learning" in page.references[0].text
    # a page of one's own network, without a .bib of its own: nothing to cite, nothing listed
    own = tmp_path / "own"
    site(own, "---\ntitle: T\nnocite: \"@model\"\n---\n\nMy net [@model], trained here.\n", bib=None)
    (own / "site.toml").write_text('model = "python:own.py:build"\n', encoding="utf-8")
    (page,) = read_pages(load_config(own / "site.toml"))
    assert "My net, trained here." in page.body and page.references == ()


def test_every_network_paper_is_an_entry_that_formats() -> None:
    from generator.pages.citations import PAPERS_SHOWN, format_entry, read_bibliography
    from generator.pages.papers import PAPERS, PAPERS_BIB

    bib, text = read_bibliography(PAPERS_BIB, PAPERS_SHOWN)
    for key in {*PAPERS.values()}:
        plain, _ = format_entry(bib, text, key, PAPERS_SHOWN)
        assert re.search(r"\b(19|20)\d\d\b", plain), key


def test_a_site_of_another_network_lists_its_paper(tmp_path: Path) -> None:
    """Built end to end (an untrained SqueezeNet at 32 px, one channel of one layer): the page's
    References list SqueezeNet's paper, not EfficientNet's."""
    from generator.build import build_site
    from generator.config.presets import Preset

    root = site(tmp_path, '---\ntitle: T\nnocite: "@model"\n---\n\nThe network [@model].\n', bib=None)
    (root / "site.toml").write_text(
        'model = "torchvision:squeezenet1_1"\nrandom_weights = true\ninput_size = 32\n'
        f'explorer_layers = ["features.1"]\ncache_dir = "{root / "cache"}"\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    build_site(load_config(root / "site.toml"), quiet=True,
               preset=Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0))
    html = (root / "site_output" / "a.html").read_text(encoding="utf-8")
    references = html[html.index('id="ref-1"'):]
    assert "SqueezeNet" in references and "Iandola" in references
    assert "EfficientNet" not in html and "[@model]" not in html
