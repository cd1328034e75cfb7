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


# Templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<html>\n{% if %}\n", "templates/article.html:2: template syntax error: "),
        ("<html>\n\n{{ 1/0 }}\n", "templates/article.html:3: template error: ZeroDivisionError: division by zero"),
        ("{% include '../../../../etc/passwd' %}\n", "templates/article.html:1: template '../../../../etc/passwd' not found (valid: a template inside templates_dir"),
        ("<html>\n{{ no_such_name.title }}\n", "templates/article.html:2: template error: 'no_such_name' is undefined"),
        ("{% include 'part.html' %}\n", "templates/part.html:2: template syntax error: "),
    ],
    ids=["syntax", "division", "include-outside", "undefined", "included-syntax"],
)
def test_a_template_mistake_names_the_template_and_line(tmp_path: Path, template: str, expected: str) -> None:
    from generator.site.env import make_env

    root = _site(tmp_path, "---\ntitle: A\n---\n\nText.\n", 'templates_dir = "templates"\n')
    (root / "templates").mkdir()
    (root / "templates" / "article.html").write_text(template, encoding="utf-8")
    (root / "templates" / "part.html").write_text("ok\n{{ x + }}\n", encoding="utf-8")
    env = make_env(load_config(root / "site.toml"))
    with pytest.raises(FeatvisError) as info:
        env.get_template("article.html").render()
    assert str(info.value).startswith(expected), str(info.value)


def test_an_error_in_python_a_template_calls_keeps_its_traceback(tmp_path: Path) -> None:
    """Only the template's own mistakes are the template's: featvis's bugs stay visible."""
    from generator.site.env import make_env

    env = make_env(load_config(root=tmp_path))

    def broken() -> None:
        raise KeyError("featvis bug")

    with pytest.raises(KeyError):
        env.from_string("{{ broken() }}").render(broken=broken)
    with pytest.raises(FeatvisError, match="^content/a.md:3: no"):
        env.from_string("{{ f() }}").render(f=lambda: (_ for _ in ()).throw(FeatvisError("content/a.md:3: no")))


def test_a_template_mistake_ends_the_build_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _site(tmp_path, "---\ntitle: A\n---\n\nText.\n", 'templates_dir = "templates"\nexplorer_layers = ["conv_stem"]\ncache_dir = "cache"\n')
    (root / "templates").mkdir()
    (root / "templates" / "article.html").write_text("<html>\n{{ 1/0 }}\n", encoding="utf-8")
    code = main(["build", "--config", str(root / "site.toml"), "--quiet", "--size", "16", "--steps", "1", "--channels", "1"])
    line = _one_error(capsys, code)
    assert "templates/article.html:2: template error: ZeroDivisionError: division by zero" in line, line
    assert not (root / "site_output").exists(), "nothing is published"


# Models ----------------------------------------------------------------------------------------

NETWORK = """\
import sys
from torch import nn

def exits():
    sys.exit(0)

def flat():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
"""


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("exits", "net.py:5: exits() raised sys.exit(0) (a model's code must return, not end the program)"),
        ("flat", "model 'python:net.py:flat' has no layer to visualize: none of its modules gives a (B, C, H, W) map"),
    ],
)
def test_a_python_model_that_exits_or_has_no_layer_is_an_error(tmp_path: Path, function: str, expected: str) -> None:
    from generator.models import load_model

    (tmp_path / "net.py").write_text(NETWORK, encoding="utf-8")
    with pytest.raises(FeatvisError) as info:
        load_model(f"python:net.py:{function}", root=tmp_path, input_size=16)
    assert expected in str(info.value), str(info.value)


def test_a_python_model_that_exits_ends_the_build_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _site(tmp_path, "---\ntitle: A\n---\n", 'model = "python:net.py:exits"\n')
    (root / "net.py").write_text(NETWORK, encoding="utf-8")
    line = _one_error(capsys, main(["build", "--config", str(root / "site.toml"), "--quiet"]))
    assert "net.py:5: exits() raised sys.exit(0)" in line


# The preview server ----------------------------------------------------------------------------


def test_the_server_drops_a_client_that_sends_its_request_too_slowly(tmp_path: Path) -> None:
    """A slowloris client (a header byte now and then, or nothing) held a thread for ever."""
    import socket
    import threading
    import urllib.request

    from generator.serve.jail import jailed_handler, open_server, url_of

    (tmp_path / "index.html").write_text("<p>hi</p>", encoding="utf-8")
    handler = type("Quick", (jailed_handler(tmp_path),), {"head_seconds": 0.6, "timeout": 5.0})
    server = open_server("127.0.0.1", 0, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        before = threading.active_count()
        port = server.server_address[1]
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for s in slow[:4]:
            s.sendall(b"GET / HTTP/1.1\r\n")  # half a request; the others send nothing
        start = time.monotonic()
        while time.monotonic() - start < 3:
            for s in slow[:4]:
                try:
                    s.sendall(b"X")  # a byte at a time, each well within the per-read timeout
                except OSError:
                    pass
            time.sleep(0.1)
        for s in slow:
            s.settimeout(2)
            try:
                assert s.recv(100) == b"", "the server sent an answer instead of dropping it"
            except ConnectionResetError:
                pass  # dropped with unread bytes: reset
            s.close()
        deadline = time.monotonic() + 3
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= before
        with urllib.request.urlopen(url_of(server), timeout=5) as answer:
            assert answer.read() == b"<p>hi</p>"
    finally:
        server.shutdown()
        server.server_close()
