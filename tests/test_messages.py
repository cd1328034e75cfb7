# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""Inputs that ended in a traceback, a hang or a misleading message: each is now one line naming
the file (and line) it is about, exit code 2, or a cost that grows with the input, not faster."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from generator.cli import build_parser, main
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
    head = lines[0].partition(" (did you mean")[0].partition(" (valid:")[0]  # a list is kept whole
    assert len(head) <= 300, lines[0]
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
    from generator.pages.variables import check_variable

    with pytest.raises(FeatvisError) as info:
        check_variable("numbers.neg", {"neg": ("share", "count")}, "content/a.md:9")
    assert str(info.value) == "content/a.md:9: 'numbers.neg' names a figure but no number (write numbers.neg.KEY; keys: share, count)"


# site.toml -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("std = [0, 0, 0]\n", "site.toml:2: 'std' needs numbers above 0 (it divides the input), not [0, 0, 0]"),
        ("std = [0.2, -1, 0.2]\n", "site.toml:2: 'std' needs numbers above 0"),
        ("mean = [0.5, 0.5]\n", "site.toml:2: 'mean' needs 3 numbers (R, G, B) or 1 (grey), not [0.5, 0.5]"),
        ('models = [{model = "efficientnet_lite0", std = [1, 0, 1]}]\n', "site.toml:2: models: 'std' needs numbers above 0"),
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


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"base.html": "<html>\n{% if %}\n"}, "templates/base.html:2: template syntax error: "),
        ({"figures/x.html": "a\n\n{% include 'gone.html' %}\n"}, "templates/figures/x.html:3: template 'gone.html' not found"),
        ({"article.html": "{% extends '../../etc/passwd' %}\n"}, "templates/article.html:1: template '../../etc/passwd' not found"),
    ],
)
def test_the_sites_templates_are_checked_while_reading(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    """Before anything is computed: a syntax error or a missing include in any of them."""
    from generator.site.env import check_templates

    root = _site(tmp_path, "---\ntitle: A\n---\n", 'templates_dir = "templates"\n')
    for name, text in {**files, "static/x.js": "{% not a template"}.items():
        (root / "templates" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "templates" / name).write_text(text, encoding="utf-8")
    with pytest.raises(FeatvisError) as info:
        check_templates(load_config(root / "site.toml"))
    assert str(info.value).startswith(expected), str(info.value)
    for name in files:
        (root / "templates" / name).unlink()
    check_templates(load_config(root / "site.toml"))  # static/ is not rendered


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
        ("flat", "model 'python:net.py:flat': no layer gives a (B, C, H, W) feature map or (B, tokens, D) patch tokens"),
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


# Front matter, flags, weights ------------------------------------------------------------------


def test_an_author_with_a_number_key_is_one_line(tmp_path: Path) -> None:
    root = _site(tmp_path, "---\ntitle: A\nauthors: [{name: X, 1: a, b: c}]\n---\n")
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == "content/a.md:3: unknown author key '1' (valid: name, affiliation, affiliations)"


def test_demo_out_naming_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.toml").write_text("title = 'x'\n", encoding="utf-8")
    line = _one_error(capsys, main(["demo", "--out", str(tmp_path / "site.toml"), "--steps", "1", "--size", "16"]))
    assert line == f"featvis: error: --out {tmp_path}/site.toml: a file, not a folder (name a folder for the PNGs)"


@pytest.mark.parametrize("command", [["layers"], ["demo", "--steps", "1"], ["render"]])
def test_an_empty_model_flag_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    root = _site(tmp_path, "---\ntitle: A\n---\n")
    line = _one_error(capsys, main([*command, "--config", str(root / "site.toml"), "--model", " "]))
    assert line.startswith("featvis: error: --model is empty (valid: a model id such as efficientnet_lite0"), line


@pytest.mark.parametrize("command", ["clean", "check"])
@pytest.mark.parametrize("flag", [["--only", "conv_stem"], ["--force"], ["--preset", "quick"], ["--model", "x"], ["--quiet"]])
def test_clean_and_check_refuse_the_flags_they_do_not_use(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, flag: list[str]) -> None:
    (tmp_path / "site_output").mkdir()
    if command == "clean" and flag[0] == "--preset":  # a flag of `clean --unused` alone
        line = _one_error(capsys, main([command, "--config", str(tmp_path), *flag]))
        assert line.startswith("featvis: error: --preset is for `clean --unused`"), line
    else:
        with pytest.raises(SystemExit) as info:
            main([command, "--config", str(tmp_path), *flag])
        assert info.value.code == 2
        assert f"unrecognized arguments: {flag[0]}" in capsys.readouterr().err
    assert (tmp_path / "site_output").is_dir()  # nothing removed


@pytest.mark.parametrize("command, flag", [
    ("build", "--only"), ("render", "--only"), ("serve", "--only"),
    ("render", "--force"), ("status", "--force"), ("serve", "--force"),
])
def test_each_command_offers_only_the_flags_it_honours(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, flag: str) -> None:
    """`--only` restricts compute, status and scan; `--force` recomputes in compute, build and
    scan. Elsewhere neither is in --help, and either is argparse's error before anything runs."""
    args = [flag, "conv_stem"] if flag == "--only" else [flag]
    with pytest.raises(SystemExit) as info:
        main([command, "--config", str(tmp_path), *args])
    assert info.value.code == 2
    assert f"unrecognized arguments: {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    assert flag not in capsys.readouterr().out


def test_a_pickled_model_as_weights_is_one_clean_line(tmp_path: Path) -> None:
    import torch
    from torch import nn

    from generator.models.weights import read_state_dict

    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)), tmp_path / "whole.pt")
    with pytest.raises(FeatvisError) as info:
        read_state_dict(tmp_path / "whole.pt")
    message = str(info.value)
    assert message == f"{tmp_path}/whole.pt: a pickled torch.nn.modules.container.Sequential, not a state dict of tensors (save the model's state_dict() instead; featvis does not unpickle code)"
    assert "\x1b" not in message


def test_quiet_compute_says_nothing_of_circuits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`compute --quiet` (and each compute process but the first) hands the measure stage, which
    names each circuit it computes on its progress, a quiet one."""
    from types import SimpleNamespace

    from generator.stages import workers

    said: list[object] = []
    monkeypatch.setattr(workers, "settle", lambda *a, **k: SimpleNamespace(failed=0))
    monkeypatch.setattr(workers, "plan", lambda *a, **k: None)
    monkeypatch.setattr(workers, "measure", lambda *a, progress, **k: said.append(progress.quiet))
    monkeypatch.setattr(workers, "ModelSummary", lambda *a: a)
    one = SimpleNamespace(model=SimpleNamespace(id="m"), dataset=None, explorer={})
    site = SimpleNamespace(models=(one,))
    for rank, quiet in ((0, True), (0, False), (1, False)):
        world = SimpleNamespace(rank=rank)
        workers.compute_models(site, world=world, quiet=quiet)  # type: ignore[arg-type]
    assert said == [True, False, True]


# Content ---------------------------------------------------------------------------------------


def test_a_link_to_a_hidden_file_is_refused(tmp_path: Path) -> None:
    root = _site(tmp_path, "---\ntitle: A\n---\n\nSee [it](.secret) and ![x](.git/x.png).\n")
    (root / "content" / ".secret").write_text("key", encoding="utf-8")
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"), slugs={"a", "b"})
    assert str(info.value).startswith("content/a.md:5: '.secret' is hidden ('.secret' starts with '.'); the site publishes no hidden files")


def test_articles_in_subfolders_are_named_in_one_warning(tmp_path: Path) -> None:
    from generator.core.notices import Notices
    from generator.figures.registry import read_articles
    from generator.pages.content import warn_unread

    root = _site(tmp_path, "---\ntitle: A\n---\n")
    for name in ("sub/x.md", "sub/deeper/y.md", ".drafts/z.md", "sub/notes.txt"):
        (root / "content" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "content" / name).write_text("---\ntitle: X\n---\n", encoding="utf-8")
    notices = Notices()
    warn_unread(load_config(root / "site.toml"), notices)
    assert [n.line() for n in notices.items] == [
        "warning: content/sub/deeper/y.md and 1 more: not read, articles are the .md files directly in content/ (move them there to publish them)"
    ]
    notices = Notices()  # the articles' reader says so while it reads content/
    read_articles(load_config(root / "site.toml"), notices=notices)
    assert [n.kind for n in notices.items] == ["content"]
    (root / "content" / "sub").rename(root / "content" / ".sub")
    notices = Notices()
    warn_unread(load_config(root / "site.toml"), notices)
    assert notices.items == []


def test_a_label_holding_a_url_is_refused_where_it_is_read(tmp_path: Path) -> None:
    from generator.atlas.labels import read_labels

    path = tmp_path / "labels.toml"
    path.write_text('"conv_stem:0" = "edges"\n"conv_stem:1" = "see https://example.com/x for more"\n', encoding="utf-8")
    with pytest.raises(FeatvisError) as info:
        read_labels(path, {"conv_stem": 32})
    assert str(info.value) == f"{path}:2: the label of 'conv_stem:1' holds a URL ('https://example.com/x'); the site reads offline, so labels hold no links (write the reference without http:// or //)"


def test_a_templates_external_url_is_named_once_at_the_template(tmp_path: Path) -> None:
    from generator.check import check_site

    site = tmp_path / "out"
    site.mkdir()
    template = tmp_path / "templates" / "base.html"
    template.parent.mkdir()
    template.write_text("<html>\n<body>\n<img src='http://example.com/logo.png'>\n", encoding="utf-8")
    article = tmp_path / "content" / "a.md"
    article.parent.mkdir()
    article.write_text("Text.\n", encoding="utf-8")
    for name in ("index.html", "a.html", "b.html"):
        (site / name).write_text("<p>x</p>\n<img src='http://example.com/logo.png'>\n", encoding="utf-8")
    problems = check_site(site, {"a.html": ("content/a.md", article)}, {"templates/base.html": template})
    assert problems == [
        "templates/base.html:3: external URL 'http://example.com/logo.png' (the site must read offline) (on 3 pages)",
        "templates/base.html:3: src='http://example.com/logo.png' is not a relative URL inside the site (on 3 pages)",
    ]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ('<div markdown="1">' * 1000 + "x" + "</div>" * 1000 + "\n", 5),
        ("".join("    " * (i % 3) + "<div>\n" for i in range(400)) + "x\n" + "</div>\n" * 400, 5 + MAX_NESTING),
        ("".join('<ul markdown="1">\n<li markdown="1">\n' for _ in range(200)) + "*x*\n" + "</li></ul>\n" * 200, 5 + MAX_NESTING),
        ("<!-- <div> -->\n`<div>`\n" + "<p><b><i>\n" * 40, 6 + (MAX_NESTING + 1) // 3),
    ],
    ids=["divs-on-one-line", "indented-divs", "markdown-in-html-list", "unclosed-inline"],
)
def test_raw_html_nested_too_deeply_is_refused_at_its_line(tmp_path: Path, body: str, line: int) -> None:
    root = _site(tmp_path, "---\ntitle: A\n---\n\n" + body, "unsafe_html = true\n")
    start = time.perf_counter()
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == f"content/a.md:{line}: HTML elements nested {MAX_NESTING + 1} deep (at most {MAX_NESTING})"
    assert time.perf_counter() - start < 5


def test_raw_html_within_the_limit_is_read_and_rendered(tmp_path: Path) -> None:
    from generator.pages.body import render_body

    within = "<div>\n" * MAX_NESTING + "x\n" + "</div>\n" * MAX_NESTING
    flat = "<ul>\n" + "<li>item<br><img alt='a'/>\n" * 500 + "</ul>\n<p>a\n" * 100  # nothing left open
    code = "```\n" + "<div>" * 500 + "\n```\n\n" + "`" + "<div>" * 500 + "`\n\n<!--" + "<div>" * 500 + "-->\n"
    root = _site(tmp_path, "---\ntitle: A\n---\n\n" + within + flat + code, "unsafe_html = true\n")
    page = read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert render_body(page, lambda name: None, [], unsafe_html=True).html.count("<div>") >= MAX_NESTING


def test_nesting_markdown_cannot_parse_is_one_line_when_rendered(tmp_path: Path) -> None:
    from generator.pages.body import render_body

    root = _site(tmp_path, "---\ntitle: A\n---\n\nText.\n", "unsafe_html = true\n")
    page = read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    deep = dataclasses.replace(page, body='<div markdown="1">' * 1000 + "x" + "</div>" * 1000 + "\n")
    with pytest.raises(FeatvisError) as info:  # what the line check cannot see: a last resort
        render_body(deep, lambda name: None, [], unsafe_html=True)
    assert str(info.value) == "content/a.md:4: nested too deeply for Markdown (lists, quotes and HTML blocks: at most 50 levels)"


def test_a_full_disk_anywhere_is_one_line_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A cache or site file that cannot be written for want of room is one line naming it, exit 2;
    the half-written temporary file is gone."""
    import errno

    from generator.commands import scan
    from generator.core.atomic import atomic_write

    def full(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")  # a write through a descriptor

    target = tmp_path / "cache" / "entry.png"

    def command(args: object) -> int:
        atomic_write(target, full)
        return 0

    monkeypatch.setattr(scan, "cmd_scan", command)
    assert main(["scan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"featvis: error: {target}: cannot write it (No space left on device)"], err
    assert list((tmp_path / "cache").iterdir()) == []


def test_featvis_help_speaks_to_a_user(capsys: pytest.CaptureFixture[str]) -> None:
    """`featvis --help` says what featvis does and how to start, not how its code is built."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "builds a static website" in out and "featvis init" in out
    assert "generator" not in out and "argument parsing" not in out


def test_demo_help_names_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from generator.optvis.recipe import DEFAULT_STEPS

    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"optimizer steps (default {DEFAULT_STEPS})" in out
    assert "image size in pixels (default 128)" in out


@pytest.mark.parametrize("command, flag", [
    ("init", "--config"), ("init", "--quiet"), ("layers", "--quiet"), ("demo", "--quiet"), ("status", "--quiet"),
    ("scan", "--preset"), ("scan", "--output"), ("render", "--batch-size"), ("status", "--batch-size"),
])
def test_a_command_offers_no_flag_it_ignores(capsys: pytest.CaptureFixture[str], command: str, flag: str) -> None:
    """`init` writes a site.toml and prints two lines: it read neither --config nor --quiet;
    `layers`, `demo` and `status` show no progress for --quiet to silence; a scan writes the
    cache alone at the model's input size (no preset, no site folder); render and status compute
    nothing in batches. Each was in --help."""
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, flag])
    assert info.value.code == 2 and f"unrecognized arguments: {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    assert flag not in capsys.readouterr().out


@pytest.mark.parametrize("front, expected", [
    ("title: 1", "content/a.md:2: front matter 'title' must be text, not 1"),
    ("authors: {name: X}", "content/a.md:2: front matter 'authors' must be a list or text, not {'name': 'X'}"),
    ("date: [2020]", "content/a.md:2: front matter 'date' must be text or a date (YYYY-MM-DD), not [2020]"),
])
def test_a_front_matter_value_of_the_wrong_kind_names_it_in_words(tmp_path: Path, front: str, expected: str) -> None:
    """The kinds were Python's names: `'title' must be a str`, `must be a list or str`."""
    root = _site(tmp_path, f"---\n{front}\n---\n")
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == expected


@pytest.mark.parametrize("argv, expected", [
    (["build", "--config", ""], "--config is empty (valid: a site.toml file, or the folder holding it)"),
    (["check", "--config", " "], "--config is empty (valid: a site.toml file, or the folder holding it)"),
    (["demo", "--out", ""], "--out is empty (valid: a folder for the PNGs, made when missing)"),
])
def test_an_empty_path_flag_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str) -> None:
    """`--config ""` read ./site.toml and built it; `demo --out ""` wrote its PNGs into the
    current folder."""
    monkeypatch.chdir(tmp_path)
    assert _one_error(capsys, main(argv)) == f"featvis: error: {expected}"
    assert list(tmp_path.iterdir()) == []
