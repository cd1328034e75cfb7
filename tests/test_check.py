# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""The offline checker on small hand-made sites: a good one passes, and each kind of breakage
(missing file, missing #fragment, external or protocol-relative URL in HTML, CSS or JS, absolute
or escaping paths, links to folders, undecodable images) is reported with file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from generator.check import check_site
from generator.cli import main

INDEX = """<!doctype html>
<html><head><link rel="stylesheet" href="static/site.css"><script src="static/site.js"></script></head>
<body>
<h1 id="top">Site</h1>
<a href="article.html#intro">intro</a> <a href="#top">top</a> <a href="explorer/layer.html">layer</a>
<img src="images/a.png" alt="a">
<div class="interp-row" data-frames="images/a.png images/b.png"></div>
</body></html>
"""
ARTICLE = """<!doctype html><html><body><h2 id="intro">Intro</h2><a href="index.html">home</a></body></html>"""
LAYER = """<!doctype html><html><body><a href="../index.html#top">home</a><img src="../images/b.png" alt="b"></body></html>"""
CSS = "body { background: url(../images/a.png); }\n"
JS = "// hover zoom: no network here\nvar x = 1;\n"


def make_site(root: Path) -> Path:
    (root / "static").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "explorer").mkdir()
    (root / "index.html").write_text(INDEX, encoding="utf-8")
    (root / "article.html").write_text(ARTICLE, encoding="utf-8")
    (root / "explorer" / "layer.html").write_text(LAYER, encoding="utf-8")
    (root / "static" / "site.css").write_text(CSS, encoding="utf-8")
    (root / "static" / "site.js").write_text(JS, encoding="utf-8")
    for name in ("a", "b"):
        Image.new("RGB", (4, 4), (200, 10, 10)).save(root / "images" / f"{name}.png")
    return root


def test_good_site_passes(tmp_path: Path) -> None:
    assert check_site(make_site(tmp_path / "site")) == []


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("index.html", 'href="article.html#intro"', 'href="articel.html"', r"index\.html:5: href='articel\.html': articel\.html is missing"),
        ("index.html", 'href="article.html#intro"', 'href="article.html#outro"', r"index\.html:5: .*no element with id 'outro' in article\.html"),
        ("index.html", 'href="#top"', 'href="#nowhere"', r"index\.html:5: href='#nowhere': no element with id 'nowhere' in index\.html"),
        ("index.html", 'src="images/a.png"', 'src="https://cdn.example.com/a.png"', r"index\.html:6: external URL 'https://cdn"),
        ("index.html", 'src="images/a.png"', 'src="//cdn.example.com/a.png"', r"index\.html:6: src='//cdn\.example\.com/a\.png' is not a relative URL"),
        ("index.html", 'src="images/a.png"', 'src="/images/a.png"', r"index\.html:6: src='/images/a\.png' is an absolute path"),
        ("index.html", 'src="images/a.png"', 'src="../outside.png"', r"index\.html:6: src='\.\./outside\.png' points outside the site"),
        ("index.html", 'src="images/a.png"', 'src="data:image/png;base64,AAAA"', r"index\.html:6: src='data:image.* is not a relative URL"),
        ("index.html", 'href="explorer/layer.html"', 'href="explorer/"', r"index\.html:5: href='explorer/': explorer is a folder"),
        ("index.html", "images/a.png images/b.png", "images/a.png images/c.png", r"index\.html:7: data-frames='images/c\.png': images/c\.png is missing"),
        ("explorer/layer.html", 'href="../index.html#top"', 'href="../index.html#gone"', r"explorer/layer\.html:1: .*no element with id 'gone' in index\.html"),
        ("static/site.css", "url(../images/a.png)", "url(../images/zz.png)", r"static/site\.css:1: url\(\)='\.\./images/zz\.png': images/zz\.png is missing"),
        ("static/site.css", "url(../images/a.png)", "url(https://fonts.example.com/f.woff)", r"static/site\.css:1: external URL"),
        ("static/site.js", "var x = 1;", "fetch('http://example.com/x');", r"static/site\.js:2: external URL 'http://example\.com"),
        ("static/site.js", "var x = 1;", "load('//example.com/x.js');", r"static/site\.js:2: external URL '//example\.com"),
    ],
)
def test_breakage_is_reported(tmp_path: Path, file: str, old: str, new: str, expected: str) -> None:
    root = make_site(tmp_path / "site")
    _edit(root / file, old, new)
    problems = check_site(root)
    assert any(re.search(expected, p) for p in problems), problems


def test_undecodable_image_and_symlink(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    (root / "images" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (root / "images" / "link.png").symlink_to(root / "images" / "a.png")
    problems = check_site(root)
    assert any(re.match(r"images/b\.png: image does not decode", p) for p in problems), problems
    assert any(re.match(r"images/link\.png: is a symbolic link", p) for p in problems), problems


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_site(tmp_path / "site")
    assert main(["check", str(root)]) == 0
    assert "ok" in capsys.readouterr().out
    _edit(root / "article.html", 'id="intro"', 'id="introduction"')
    assert main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert "no element with id 'intro'" in err and "featvis: error:" in err and "1 problem" in err
    assert main(["check", str(tmp_path / "nothing")]) == 2
    # a project's folder (its site.toml beside the built site) checks the site its output_dir names
    project = tmp_path / "project"
    make_site(project / "public")
    (project / "site.toml").write_text('output_dir = "public"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(project)]) == 0
    assert f"{project / 'public'}: ok" in capsys.readouterr().out
