# ruff: noqa: E501  (expected messages read best one per line)
"""Hostile inputs: raw HTML escaped unless asked for, the checker sees every URL a page can load
and names the article's line, bounded resources (a 16000x1 PNG, a YAML alias bomb, a format width),
the inputs that used to end in a traceback now end in one line naming their source, and damaged
weights: refused at load, and a job whose objective or pixels are not finite is not cached."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hostile import ALIAS_BOMB, png, png_claiming

from generator.cache.store import ArtifactStore
from generator.check import check_site
from generator.cli import main
from generator.compute import compute_jobs
from generator.config.site import load_config
from generator.core.errors import FeatvisError, one_line
from generator.jobs import VisJob
from generator.models import LoadedModel, load_model
from generator.models.site import probe_model
from generator.optvis import objectives as obj
from generator.optvis.render import RenderResult, not_finite
from generator.pages.content import read_page
from generator.pages.markdown import markdown_converter

# Raw HTML ---------------------------------------------------------------------------------------

HOSTILE = """Text <script>fetch("ht" + "tp://example.com")</script> and <b>bold</b>.

<object data="http://example.com/x.swf"></object>

<meta http-equiv="refresh" content="0; url=http://example.com">

A margin note.
{: .margin onclick="alert(1)" style="background: url(http://example.com/a.png)" }

`<code>` stays code.
"""


def test_raw_html_is_escaped_unless_the_site_allows_it() -> None:
    safe = markdown_converter().convert(HOSTILE)
    for tag in ("<script", "<object", "<meta", "<b>", "onclick", "style="):
        assert tag not in safe, tag
    assert "&lt;script&gt;" in safe and "&lt;object data=" in safe
    assert '<p class="margin">A margin note.</p>' in safe, "classes and ids from {: } stay"
    assert "<code>&lt;code&gt;</code>" in safe
    unsafe = markdown_converter(unsafe_html=True).convert(HOSTILE)
    assert "<script>" in unsafe and '<object data="http://example.com/x.swf">' in unsafe


def _page_site(root: Path, body: str) -> Path:
    (root / "static").mkdir(parents=True)
    (root / "static" / "a.css").write_text("p{}", encoding="utf-8")
    (root / "index.html").write_text(
        f'<!doctype html><html><head><link rel="stylesheet" href="static/a.css"></head><body>\n{body}\n</body></html>\n',
        encoding="utf-8",
    )
    return root


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<p style="background: url(//evil.example/a.png)">x</p>', "style='//evil.example/a.png' is not a relative URL"),
        ("<style>\n.x { background: url('../../etc/passwd') }\n</style>", "<style>='../../etc/passwd' points outside the site"),
        ('<meta http-equiv="refresh" content="0; url=ftp://evil.example/">', "meta refresh='ftp://evil.example/' is not a relative URL"),
        ('<object data="missing.swf"></object>', "data='missing.swf': missing.swf is missing"),
        ('<embed src="javascript:alert(1)">', "src='javascript:alert(1)' is not a relative URL"),
        ('<iframe srcdoc="&lt;p&gt;x"></iframe>', "an <iframe srcdoc> holds a page of its own"),
        ('<script src="data:text/javascript,alert(1)"></script>', "src='data:text/javascript,alert(1)' is not a relative URL"),
        ('<script>fetch("ht" + "tp://x")</script>', "an inline <script> (the checker cannot see what it loads)"),
        ('<a href="a.html" onmouseover="go()">x</a>', "an event handler (onmouseover) runs script"),
        ('<img srcset="static/a.css 1x, gone.png 2x" src="static/a.css">', "srcset='gone.png': gone.png is missing"),
        ('<link rel="preload" imagesrcset="x.png 1x" href="static/a.css">', "imagesrcset='x.png': x.png is missing"),
        ('<a ping="https://track.example/p" href="static/a.css">x</a>', "ping='https://track.example/p'"),
        ('<base href="https://example.com/">', "a <base> changes where every link points"),
        ('<form action="/post"></form>', "action='/post' is an absolute path"),
        ('<svg><image xlink:href="../x.png"/></svg>', "xlink:href='../x.png' points outside the site"),
    ],
)
def test_the_checker_sees_every_url_a_page_can_load(tmp_path: Path, markup: str, expected: str) -> None:
    problems = check_site(_page_site(tmp_path, markup))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("index.html:") for p in problems), problems


def test_the_checker_names_the_articles_line(tmp_path: Path) -> None:
    article = tmp_path / "content" / "a.md"
    article.parent.mkdir()
    article.write_text("---\ntitle: A\n---\n\nIntro.\n\n<img src=\"http://example.com/x.png\">\n", encoding="utf-8")
    site = _page_site(tmp_path / "site", '<p>Intro.</p>\n<img src="http://example.com/x.png">')
    problems = check_site(site, {"index.html": ("content/a.md", article)})
    assert problems and all(p.startswith("content/a.md:7 (page index.html:") for p in problems), problems


# Resource bounds --------------------------------------------------------------------------------

PEAK = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from generator.dataset.folder import load_view
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    view = load_view(Path(sys.argv[1]), 224)
    assert tuple(view.shape) == (3, 224, 224)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """
)


@pytest.mark.parametrize(("width", "height"), [(16000, 1), (1, 16000), (30000, 2)])
def test_a_tiny_png_of_extreme_aspect_is_read_at_a_bounded_size(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "strip.png"
    path.write_bytes(png(width, height))
    assert path.stat().st_size < 600
    out = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    grown_kb = int(out.stdout.strip())
    assert grown_kb < 200_000, f"reading a {width}x{height} photo took {grown_kb / 1024:.0f} MB more"


def test_a_photo_claiming_too_many_pixels_is_skipped_unread(tmp_path: Path) -> None:
    from generator.dataset.folder import load_view

    (tmp_path / "bomb.png").write_bytes(png_claiming(10_000, 10_000))
    with pytest.raises(ValueError, match="10000x10000 pixels, more than the 64 million read"):
        load_view(tmp_path / "bomb.png", 224)
    (tmp_path / "bomb.png").write_bytes(png_claiming(100_000, 100_000))  # past Pillow's own limit
    with pytest.raises(ValueError, match="more than the 64 million read"):
        load_view(tmp_path / "bomb.png", 224)


def test_the_circuits_photos_skip_a_photo_claiming_too_many_pixels(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from generator.atlas.site import _photos

    (tmp_path / "bomb.png").write_bytes(png_claiming(10_000, 10_000))
    (tmp_path / "ok.png").write_bytes(png(40, 30))
    photos = _photos(SimpleNamespace(files=["bomb.png", "ok.png"], root=tmp_path), 32, 0)
    assert photos is not None and photos.shape == (1, 3, 32, 32)


def _site(root: Path, article: str, toml: str = "") -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "a.md").write_text(article, encoding="utf-8")
    (root / "site.toml").write_text(f'device = "cpu"\n{toml}', encoding="utf-8")
    return root


def test_a_yaml_alias_bomb_is_one_short_line(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB.encode()) < 450
    root = _site(tmp_path, ALIAS_BOMB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == "content/a.md:4: malformed front matter: YAML aliases (*a) are not allowed; write the value out"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("{{ model.layers | fixed:999999999 }}", "content/a.md:5: 'fixed:999999999' asks for too many digits (0..12)"),
        ("{{ model.layers | pct:13 }}", "content/a.md:5: 'pct:13' asks for too many digits (0..12)"),
    ],
)
def test_a_format_width_is_bounded(tmp_path: Path, variable: str, expected: str) -> None:
    root = _site(tmp_path, f"---\ntitle: A\n---\n\n{variable}\n")
    with pytest.raises(FeatvisError) as info:
        read_page(root / "content" / "a.md", load_config(root / "site.toml"))
    assert str(info.value) == expected
    root = _site(tmp_path, "---\ntitle: A\n---\n\n{{ model.layers | fixed:12 }}\n")
    assert read_page(root / "content" / "a.md", load_config(root / "site.toml")).variables[0].arg == 12


def test_error_lines_are_bounded() -> None:
    line = one_line("model 'x': weights do not fit (" + ", ".join(f'"layer{i}.weight"' for i in range(500)) + ")")
    assert len(line) <= 300 and line.startswith("model 'x': weights do not fit") and line.endswith("chars)")
    assert one_line("a\nb  c") == "a b c"


# The inputs that ended in tracebacks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "article", "flags", "expected"),
    [
        ("", "---\ntitle: caf\xe9\n---\n", [], "content/a.md:1: not UTF-8 text"),
        ("", "---\ntitle: A\ndate: 2024-02-30\n---\n", [], "content/a.md:3: malformed front matter: value '2024-02-30' cannot be read (day is out of range for month)"),
        ("", "---\ntitle: A\n---\n\n```figure\ntype: layer-gallery\ncaption: 2024-13-01\n```\n", [], "content/a.md:7: malformed figure block: value '2024-13-01' cannot be read (month must be in 1..12)"),
        (f"seed = {2**70}\n", "---\ntitle: A\n---\n", [], f"site.toml:2: 'seed' must be a whole number 0..{2**63 - 1}, not 1180591620717411303424"),
        ("dataset_top_k = 1000000000000\n", "---\ntitle: A\n---\n", [], "site.toml:2: 'dataset_top_k' must be a whole number 1..1000, not 1000000000000"),
        ("", "---\ntitle: A\n---\n", ["--seed", str(2**70)], "--seed must be a whole number 0..9223372036854775807, not 1180591620717411303424"),
        ("", "---\ntitle: A\n---\n", ["--seed", "-1"], "--seed must be a whole number 0..9223372036854775807, not -1"),
        ("", "---\ntitle: A\n---\n", ["--batch-size", "-1"], "--batch-size must be a whole number 1..4096, not -1"),
        ("", "---\ntitle: A\n---\n", ["--batch-size", "0"], "--batch-size must be a whole number 1..4096, not 0"),
        ("", "---\ntitle: A\n---\n", ["--preset", "banana"], "--preset 'banana' is not known (valid: quick, standard, full)"),
        ('templates_dir = "nowhere"\n', "---\ntitle: A\n---\n", [], "site.toml:2: "),
        ("unsafe_html = 1\n", "---\ntitle: A\n---\n", [], "site.toml:2: 'unsafe_html' must be true or false, not 1"),
    ],
)
def test_named_tracebacks_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, article: str, flags: list[str], expected: str) -> None:
    root = _site(tmp_path, article.encode("latin-1").decode("latin-1"), toml)
    if "caf\xe9" in article:
        (root / "content" / "a.md").write_bytes(article.encode("latin-1"))
    command = "build" if "--batch-size" in flags else "render"  # render computes no batch
    code = main([command, "--config", str(root / "site.toml"), *flags])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("featvis: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert expected in lines[0] and len(lines[0]) <= 300, lines[0]


def test_site_toml_not_utf8_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.toml").write_bytes(b'title = "ok"\ndescription = "caf\xe9"\n')
    assert main(["clean", "--config", str(tmp_path / "site.toml")]) == 2
    assert "site.toml:2: not UTF-8 text (invalid continuation byte)" in capsys.readouterr().err


def test_odd_photos_and_a_damaged_sidecar_do_not_stop_a_scan(tmp_path: Path) -> None:
    from generator.dataset.folder import folder_fingerprint, list_images

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(png(8, 8))
    (photos / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (photos / "loop-a.jpg").symlink_to("loop-b.jpg")
    (photos / "loop-b.jpg").symlink_to("loop-a.jpg")
    files = list_images(photos)
    assert files == ["a.png", "dangling.jpg", "loop-a.jpg", "loop-b.jpg"]
    assert len(folder_fingerprint(photos, files)) == 64


def test_a_damaged_sidecar_is_read_as_missing(tmp_path: Path) -> None:
    from generator.dataset.store import _read_cached

    (tmp_path / "meta.json").write_text("[]", encoding="utf-8")
    assert _read_cached(tmp_path, ["conv_stem"]) == ({}, None)
    (tmp_path / "meta.json").write_text('{"images_read": "many", "images_skipped": 0, "skipped": []}', encoding="utf-8")
    assert _read_cached(tmp_path, ["conv_stem"])[1] is None


# Damaged weights and non-finite results ---------------------------------------------------------


def _random_weights(lite0: LoadedModel, path: Path, poison: str) -> Path:
    gen = torch.Generator().manual_seed(0)
    state = {}
    architecture = load_model(lite0.id, fold_norms=False).net  # a checkpoint's keys: norms unfolded
    for name, value in architecture.state_dict().items():
        state[name] = torch.randn(value.shape, generator=gen) * 0.1 if value.dtype.is_floating_point else value.clone()
        if name.endswith("running_var"):
            state[name] = state[name].abs() + 0.5
    if poison == "nan":
        state["blocks.1.0.conv_pw.weight"].view(-1)[0] = float("nan")
    elif poison == "zero":
        state = {k: torch.zeros_like(v) for k, v in state.items()}
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("poison", "expected"),
    [
        ("nan", "nan.pt: model 'efficientnet_lite0' gives NaN or infinite outputs on a probe image; its weights are damaged (NaN, infinite or huge values)"),
        ("zero", "zero.pt: model 'efficientnet_lite0' gives the same output for every image (all-zero weights?); nothing could be visualized"),
    ],
)
def test_damaged_weights_are_refused_at_load(tmp_path: Path, lite0: LoadedModel, capsys: pytest.CaptureFixture[str], poison: str, expected: str) -> None:
    weights = _random_weights(lite0, tmp_path / f"{poison}.pt", poison)
    root = _site(tmp_path / "site", "---\ntitle: A\n---\n", f'cache_dir = "{tmp_path / "cache"}"\n')
    (root / "site_output").mkdir()
    (root / "site_output" / ".featvis-site").write_text("built by featvis\n", encoding="utf-8")
    (root / "site_output" / "index.html").write_text("the last good site", encoding="utf-8")
    assert main(["build", "--config", str(root / "site.toml"), "--weights", str(weights), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith(expected) and "Traceback" not in err
    assert (root / "site_output" / "index.html").read_text(encoding="utf-8") == "the last good site"
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.png"))


def test_a_job_whose_objective_is_not_finite_fails_and_is_not_cached(tmp_path: Path, lite0: LoadedModel) -> None:
    weights = _random_weights(lite0, tmp_path / "nan.pt", "nan")
    model = load_model("efficientnet_lite0", weights=weights, device="cpu")
    with pytest.raises(FeatvisError):
        probe_model(model)
    store = ArtifactStore(tmp_path / "cache")

    def job(layer: str) -> VisJob:
        return VisJob(model=model.id, weights_digest=model.weights_digest,
                      objectives=(obj.channel(layer, 0),), steps=3, size=32)

    good, bad = job("conv_stem"), job("blocks.1.0")  # the NaN sits in blocks.1.0's weights
    # One job a batch: in a shared batch the NaN's gradient (0 * NaN) reaches every image.
    summary = compute_jobs([good, bad], model, store, quiet=True, batch_size=1)
    assert (summary.computed, summary.failed) == (1, 1)
    assert store.get(good) is not None and store.get(bad) is None
    nan = RenderResult(images=torch.full((1, 3, 4, 4), float("nan")), snapshots={},
                       history=torch.zeros(3, 1), final=torch.zeros(1))
    assert not_finite(nan) == "pixels"
    with pytest.raises(ValueError, match="the pixels is not finite; a failed job is not cached"):
        store.put(bad, nan, device="cpu")
    assert store.get(bad) is None
