# ruff: noqa: E501
"""The built site in headless Chromium over file://: the index, an article and a layer page load
with no console error and no request that leaves file://, every image decodes in the browser, and
the interpolation slider, the comparison toggle and the hover zoom work. Then the flagship article
(content/ of this repository, at toy size, with a few photos when the ImageNet sample is beside
the repository): every figure is on the page and drawn, and its toggles and slider work.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` package; skipped, saying why,
only when one of them is absent.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from pagechecks import axe_violations, edge_shade, images_without_alt, overflow_at_phone_width
from samples import SAMPLE, sample_photos

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.figures.registry import read_pages

REPO = Path(__file__).resolve().parents[1]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
TINY = Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0)
CLOSED = dataclasses.replace(TINY, closure=2.0)  # every neighbour the circuits name visualized too
ARTICLE = """\
---
title: Moving between channels
description: A slider, a toggle and a footnote.
---

## Interpolation

Drag the slider[^1].

```figure
type: interpolation-grid
pairs: [["blocks.1.0:1", "blocks.1.0:2"]]
frames: 4
caption: From one channel to another.
```

```figure
type: regularization
title: Five regularizers
layer: blocks.1.0
channel: 3
strengths: {l1: [2], tv: [50], blur: [3000], jitter: [2], robust: [1]}
```

The figures follow the Distill article [@olah2017].

[^1]: It moves every row.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-site")
    (root / "content").mkdir()
    (root / "content" / "moving.md").write_text(ARTICLE, encoding="utf-8")
    (root / "content" / "references.bib").write_text(BIB, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"  # shared with test_site
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem", "blocks.1.0"]\ncache_dir = "{cache}"\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    build_site(load_config(root / "site.toml"), preset=CLOSED, quiet=True)
    return root / "site_output"


BIB = """\
@article{olah2017,
  author = {Olah, Chris and Mordvintsev, Alexander and Schubert, Ludwig},
  title = {Feature Visualization},
  journal = {Distill},
  year = {2017},
}
"""


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, path: Path):  # type: ignore[no-untyped-def]
    """A page at `path` with every console error, page error and non-file request recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith("file://") else problems.append(f"request: {r.url}"))
    # a load the page's own navigation cut short (an arrow key pressed while images load) is no fault
    page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED" else problems.append(f"failed: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    # Lazy images load as they scroll into view; ask for all of them and wait.
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15000)
    return page, problems


def broken_images(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


@pytest.mark.parametrize("path", ["index.html", "moving.html", "explorer/index.html", "explorer/efficientnet_lite0/blocks.1.0.html"])
def test_pages_load_offline(site: Path, browser, path: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, site / path)
    count = page.evaluate("document.images.length")
    assert count > 0, "every page shows images"
    assert broken_images(page) == []
    assert problems == []
    page.close()


def test_the_stem_page_shows_its_measured_filters(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, site / "explorer" / "efficientnet_lite0" / "conv_stem.html")
    filters = page.locator(".channel-filter img")
    assert filters.count() == page.locator("section.channel").count() > 0
    assert page.evaluate("document.querySelector('.channel-filter img').naturalWidth") > 0
    assert "affine function of the pixels" in page.locator(".affine-note").inner_text()
    assert problems == []
    page.close()
    page, _ = open_page(browser, site / "explorer" / "efficientnet_lite0" / "blocks.1.0.html")
    assert page.locator(".channel-filter").count() == 0 and page.locator(".affine-note").count() == 0
    page.close()
    # a channel page of the first layer: its filter, decoded
    channel = sorted((site / "explorer" / "efficientnet_lite0" / "conv_stem").glob("*.html"))[0]
    page, problems = open_page(browser, channel)
    assert page.evaluate("document.querySelector('.channel-filter-image img').naturalWidth") > 0
    assert "linear filter of conv_stem" in page.locator(".channel-filter-image img").get_attribute("alt")
    assert broken_images(page) == [] and problems == []
    page.close()


def test_slider_toggle_zoom_and_footnote(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, site / "moving.html")
    stage = page.locator(".interp-stage").first
    before = stage.get_attribute("src")
    frames = page.locator(".interp-row").first.get_attribute("data-frames").split(" ")
    assert len(frames) == 4 and before in frames
    page.eval_on_selector(".fv-slider", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
    after = stage.get_attribute("src")
    assert after == frames[-1] and after != before, "the slider changes the frame shown"
    assert page.evaluate("document.querySelector('.interp-stage').naturalWidth") > 0
    assert page.locator(".interp-frame.current").get_attribute("data-index") == "3"
    assert stage.get_attribute("alt") == page.locator(".interp-frame").nth(3).get_attribute("alt"), "the alt text follows"
    page.focus(".fv-slider")  # and from the keyboard
    page.keyboard.press("Home")
    assert stage.get_attribute("src") == frames[0]

    table = page.locator(".reg-grid")
    assert table.get_attribute("data-view") == "all"
    page.click(".fv-regularization .fv-toggle button[data-show=strongest]")
    assert table.get_attribute("data-view") == "strongest"
    pressed = page.locator(".fv-regularization .fv-toggle button").evaluate_all("bs => bs.map(b => b.getAttribute('aria-pressed'))")
    assert pressed == ["false", "true"], "a screen reader hears which view is on"
    assert page.locator(".reg-tv .reg-cell").first.is_visible(), "the strongest cell stays"

    page.locator(".reg-tv img").first.hover()
    assert page.locator(".fv-lens").is_visible(), "hover zoom shows an enlarged copy"
    page.locator("a.footnote-ref").first.hover()
    assert "moves every row" in page.locator(".fv-tip").inner_text()
    page.mouse.move(0, 0)
    assert page.locator(".fv-tip").count() == 0
    for leave in ("Tab", "Escape"):  # from the keyboard too: focus shows it, Tab or Escape hides it
        page.focus("a.footnote-ref")
        assert "moves every row" in page.locator(".fv-tip").inner_text()
        page.keyboard.press(leave)
        assert page.locator(".fv-tip").count() == 0, leave
    page.focus(".citation a")  # a reference's tip, reached by the keyboard too
    tip = page.locator(".fv-tip")
    assert tip.count() == 1 and "Feature visualization. Distill, 2017." in tip.inner_text()
    assert "\u21a9" not in tip.inner_text(), "the tip drops the back link"
    assert page.locator(".citation a").get_attribute("title") is None, "no second tooltip"
    page.locator(".citation a").blur()
    assert page.locator(".fv-tip").count() == 0
    assert problems == []
    page.close()


def tab_to(page, selector: str, presses: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press Tab from the top of the page until the focus is on an element matching `selector`."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reaches {selector}")


def test_a_zoomable_picture_opens_and_closes_from_the_keyboard(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """Tab reaches a picture that zooms, with a visible focus ring; Enter (or Space) opens its
    enlarged view, Escape closes it and the focus goes back to the picture."""
    page, problems = open_page(browser, site / "moving.html")
    tab_to(page, ".fv-regularization img[data-zoom]")
    picture = page.evaluate_handle("document.activeElement")
    ring = page.evaluate("e => { const s = getComputedStyle(e); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }", picture)
    assert ring[0] != "none" and ring[1] >= 2, f"the focused picture shows it: {ring}"
    view = page.locator(".fv-zoom")
    for key in ("Enter", " "):
        page.keyboard.press(key)
        assert view.is_visible(), f"{key!r} opens the enlarged view"
        assert view.locator("img").evaluate("i => i.src") == picture.evaluate("e => e.src")
        assert view.locator("img").evaluate("i => i.getBoundingClientRect().width") >= 256, "shown large"
        assert page.evaluate("document.querySelector('.fv-zoom').contains(document.activeElement)")
        page.keyboard.press("Escape")
        assert not view.is_visible(), "Escape closes it"
        assert page.evaluate("e => document.activeElement === e", picture), "the focus returns"
    page.keyboard.press("Enter")
    page.mouse.click(5, 5)  # a click beside the picture closes it too
    assert not view.is_visible()
    assert problems == []  # (axe reads the style sheets, which file:// refuses it: a console error)
    page.keyboard.press("Enter")
    assert axe_violations(page) == [], "the open view passes axe"
    page.close()


def test_pictures_inside_a_link_zoom_from_the_keyboard(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """A link around pictures that zoom (the model page's strips: each leads to its layer) keeps
    Enter for its link; its focus shows the pictures enlarged beside it, as the mouse does over
    each, and Escape or the focus moving on hides them."""
    page, problems = open_page(browser, site / "explorer" / "efficientnet_lite0" / "index.html")
    tab_to(page, "a.strip")
    link = page.evaluate_handle("document.activeElement")
    pictures = link.evaluate("a => Array.from(a.querySelectorAll('img[data-zoom]'), i => i.src)")
    assert pictures, "the strip holds pictures that zoom"
    lens = page.locator(".fv-lens")
    assert lens.is_visible(), "the focus shows them enlarged"
    assert lens.locator("img").evaluate_all("is => is.map(i => i.src)") == pictures
    sizes = lens.locator("img").evaluate_all("is => is.map(i => i.getBoundingClientRect().width)")
    assert min(sizes) >= 128, f"shown large: {sizes}"
    box = lens.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280, "on the screen"
    page.keyboard.press("Escape")
    assert not lens.is_visible(), "Escape hides them"
    assert page.evaluate("e => document.activeElement === e", link), "the focus stays"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert lens.is_visible()
    page.keyboard.press("Tab")  # on to the next row's name: a link without pictures
    assert not page.evaluate("document.activeElement.matches('a.strip')")
    assert not lens.is_visible(), "the focus leaving hides them"
    href = link.evaluate("a => a.href")
    link.evaluate("a => a.focus()")
    page.keyboard.press("Enter")
    page.wait_for_url(href)
    assert problems == []
    page.close()


def test_interpolation_frames_are_a_radio_group_the_arrow_keys_move(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """The thumbnails under an interpolation row: one tab stop, the shown frame checked, the
    arrow keys (Home, End) choosing the frame as the slider does, and no page turned."""
    page, problems = open_page(browser, site / "moving.html")
    row = page.locator(".interp-row").first
    frames = row.get_attribute("data-frames").split(" ")
    strip = row.locator(".interp-strip")
    assert strip.get_attribute("role") == "radiogroup" and strip.get_attribute("aria-label")
    radios = strip.locator("[role=radio]")
    assert radios.count() == len(frames) == 4

    def checked() -> list[str]:
        return radios.evaluate_all("rs => rs.map(r => r.getAttribute('aria-checked') + r.tabIndex)")

    shown = int(page.locator(".fv-slider").input_value())
    assert checked() == ["true0" if i == shown else "false-1" for i in range(4)], "one tab stop, on the frame shown"
    tab_to(page, ".interp-frame")
    assert page.evaluate("document.activeElement.getAttribute('data-index')") == str(shown)
    url = page.url
    for key, index in (("End", 3), ("ArrowRight", 3), ("Home", 0), ("ArrowDown", 1), ("ArrowLeft", 0), ("End", 3)):
        page.keyboard.press(key)
        assert row.locator(".interp-stage").get_attribute("src") == frames[index], key
        assert page.locator(".fv-slider").input_value() == str(index), "the slider follows"
        assert page.evaluate("document.activeElement.getAttribute('data-index')") == str(index)
        assert checked()[index] == "true0" and checked().count("true0") == 1
    page.locator(".interp-frame").nth(1).click()  # the mouse still picks one
    assert row.locator(".interp-stage").get_attribute("src") == frames[1] and checked()[1] == "true0"
    page.eval_on_selector(".fv-slider", "s => { s.value = 2; s.dispatchEvent(new Event('input')); }")
    assert checked()[2] == "true0", "the slider checks the frame it shows"
    assert page.url == url and problems == []
    page.close()


def test_a_phone_taps_a_picture_open_and_closed(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """On a 390 px touch screen (no hover, so no lens): a tap opens the enlarged view, which
    fits the screen, and a tap closes it."""
    context = browser.new_context(viewport={"width": 390, "height": 800}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto((site / "moving.html").as_uri())
    page.wait_for_load_state("load")
    assert page.evaluate("matchMedia('(hover: none)').matches")
    picture = page.locator(".fv-regularization img[data-zoom]").first
    picture.scroll_into_view_if_needed()
    picture.tap()
    view = page.locator(".fv-zoom")
    assert view.is_visible()
    box = view.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 300, box
    assert page.locator(".fv-lens").count() == 0 or not page.locator(".fv-lens").is_visible()
    view.locator("img").tap()
    assert not view.is_visible(), "a tap closes it"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_phone_width_has_no_horizontal_scroll(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 800})
    for path in ("moving.html", "explorer/efficientnet_lite0/blocks.1.0.html"):
        page.goto((site / path).as_uri())
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} is {wide}px wide on a phone"
    # the layer page's grid (its one channel copied to six): three channels a row on a phone, not
    # one or two (a layer of 1280 channels would be a page as tall as 300 screens)
    tops = page.evaluate("""() => {
        const grid = document.querySelector('.channel-grid');
        for (let i = 0; i < 5; i++) grid.append(grid.querySelector('.channel').cloneNode(true));
        return Array.from(grid.querySelectorAll('.channel'), c => c.getBoundingClientRect().top);
    }""")
    assert len(tops) == 6 and tops[:3] == [tops[0]] * 3 and tops[3] > tops[0], tops
    page.close()


def test_an_article_prints_dark_text_on_white_in_either_colour_scheme(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """Paper is light whatever the screen's scheme: every text of the printed article (title,
    description, byline, captions, appendix) is dark on a white or unpainted page, and the
    controls and the site's navigation are left off."""
    darkest = """() => {
        const channels = c => (c.match(/[\\d.]+/g) || []).map(Number);
        const onWhite = c => { const [r, g, b, a = 1] = channels(c); return (0.2126 * r + 0.7152 * g + 0.0722 * b) * a + 255 * (1 - a); };
        const texts = Array.from(document.querySelectorAll(
            'h1, .description, .byline h2, .byline p, .d-article p, figcaption, .fv-label, .d-appendix p'));
        return [Math.max(...texts.map(e => onWhite(getComputedStyle(e).color))),
                channels(getComputedStyle(document.body).backgroundColor)];
    }"""
    for scheme in ("light", "dark"):
        page = browser.new_page(color_scheme=scheme)
        page.emulate_media(media="print", color_scheme=scheme)
        page.goto((site / "moving.html").as_uri())
        lightest_text, paper = page.evaluate(darkest)
        assert lightest_text <= 160, f"{scheme}: a text prints as light as {lightest_text} of 255"
        assert paper in ([255, 255, 255], [0, 0, 0, 0]), f"{scheme}: the page prints on {paper}"
        assert not page.locator(".site-nav").is_visible() and not page.locator(".fv-toggle").first.is_visible()
        page.close()


def page_types(site: Path, article: str) -> list[Path]:
    """One page of each type: home, article, explorer, model, layer and channel page."""
    model = site / "explorer" / "efficientnet_lite0"
    layer = sorted(p for p in model.glob("*.html") if p.name != "index.html")[-1]
    channel = sorted((model / layer.stem).glob("*.html"))[0]
    return [site / "index.html", site / article, site / "explorer" / "index.html",
            model / "index.html", layer, channel]


def test_a_channel_page_draws_its_circuit_as_a_graph(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """The sampled channel's circuit: an SVG graph whose every node's picture loads from
    file://, and whose input nodes open their own pages (the closure's channels)."""
    channel = sorted((site / "explorer" / "efficientnet_lite0" / "blocks.1.0").glob("*.html"))[0]
    page, problems = open_page(browser, channel)
    graph = page.locator(".channel-circuit svg.circuit-graph")
    assert graph.is_visible() and graph.locator("line.edge").count() >= 2
    loaded = page.evaluate("""() => Promise.all(Array.from(
        document.querySelectorAll('svg.circuit-graph image')).map(i => new Promise(done => {
            const probe = new Image(); probe.onload = () => done(probe.naturalWidth);
            probe.onerror = () => done(0); probe.src = i.href.baseVal; })))""")
    assert len(loaded) >= 3 and all(width > 0 for width in loaded), loaded
    assert page.locator(".circuit-links img").count() >= 1 and page.get_by_text("not visualized by").count() == 0
    page.locator("svg.circuit-graph a").first.click()
    page.wait_for_url("**/conv_stem/*.html")
    assert problems == []
    page.close()


def test_layer_pages_follow_the_arrow_keys(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, site / "explorer" / "efficientnet_lite0" / "conv_stem.html")
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**/blocks.1.0.html")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**/conv_stem.html")
    page.focus(".fv-search-input")  # typing in the box moves nothing
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(200)
    assert page.url.endswith("/conv_stem.html") and problems == []
    page.close()


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's content/ built at toy size; with 20 photos when the sample is present."""
    root = tmp_path_factory.mktemp("flagship-site")
    shutil.copytree(REPO / "content", root / "content")
    toml = f'cache_dir = "{tmp_path_factory.getbasetemp() / "featvis-cache"}"\ndevice = "cpu"\n'
    if SAMPLE.is_dir():
        sample_photos(root / "photos", every=50)
        toml += 'dataset = "photos"\n'
    (root / "site.toml").write_text(toml, encoding="utf-8")
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root


def test_flagship_article_loads_offline_with_every_figure(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    site = flagship / "site_output"
    (page_spec,) = [p for p in read_pages(load_config(flagship / "site.toml")) if p.slug == "feature-visualization"]
    page, problems = open_page(browser, site / "feature-visualization.html")
    assert broken_images(page) == [] and problems == []
    ids = page.evaluate("Array.from(document.querySelectorAll('figure.fv-figure')).map(f => f.id)")
    assert len(ids) == len(page_spec.figures) >= 10, "every figure block is on the page"
    for fig_id in ids:
        shown = page.locator(f"#{fig_id} img, #{fig_id} image")  # SVG images in a circuit
        assert shown.count() > 0, f"figure {fig_id} shows images"
    text = page.locator("main").inner_text()
    assert "{{" not in text and "FEATVISFIGURE" not in text
    numbers_left_out = re.findall(r"\bn/a\b", text)
    if SAMPLE.is_dir():
        assert numbers_left_out == [], "with photos every number in the text is measured"
        assert "built without photos" not in text
    else:
        assert "built without photos" in text, "the photo-dependent sentence says why"

    # the interpolation slider moves every row's frame
    stage = page.locator(".fv-interpolation-grid .interp-stage").first
    before = stage.get_attribute("src")
    page.eval_on_selector(".fv-interpolation-grid .fv-slider", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
    assert stage.get_attribute("src") != before
    # the dataset figure's toggles: strongest, weakest, spectrum
    table = page.locator("#photos .examples-table")
    if SAMPLE.is_dir():
        page.click("#photos .fv-toggle button[data-show=spectrum]")
        assert table.get_attribute("data-view") == "spectrum"
        spectrum = page.locator("#photos .examples.spectrum").first
        assert spectrum.is_visible() and not page.locator("#photos .examples.top").first.is_visible()
        values = [float(v) for v in spectrum.locator(".spectrum-item span").all_inner_texts()]
        assert len(values) >= 2 and values == sorted(values), "most negative to most positive"
        assert page.locator("#photos .fv-agree").count() == len(page.locator("#photos .examples-row").all())
    else:
        assert page.locator("#photos .fv-missing").is_visible()
    # the channel figure: its top photos beside its image, the channels that drive it as thumbnails
    card = page.locator("#one-channel .channel-card-main img").first.bounding_box()
    if SAMPLE.is_dir():
        photo = page.locator("#one-channel .examples.top img").first.bounding_box()
        assert card and photo and photo["x"] > card["x"] + card["width"] and photo["y"] < card["y"] + card["height"]
    for thumb in page.locator("#one-channel .circuit-node img").all():
        assert (thumb.bounding_box() or {}).get("height", 0) <= 64, "input thumbnails are small"
    # a "Figure N" link lands on figure N
    page.click("a[href='#photos']")
    assert page.evaluate("location.hash") == "#photos"
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_type_passes_axe_has_alt_text_and_fits_a_phone(site: Path, flagship: Path, browser, scheme: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core finds no violation of any impact (contrast, landmarks, heading order included, in
    the light and the dark colour scheme; a figure with a title among them), every image has alt
    text and no page is wider than a phone."""
    pages = page_types(site, "moving.html") + page_types(flagship / "site_output", "feature-visualization.html")
    for path in pages:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert axe_violations(page) == [], path
        assert images_without_alt(page) == [], path
        page.close()
        if scheme == "light":  # the dark scheme changes colours, not the layout
            assert overflow_at_phone_width(browser, path) == 0, f"{path} is wider than a 390 px screen"
    phone = browser.new_page(viewport={"width": 390, "height": 800}, color_scheme=scheme)
    phone.goto(pages[7].as_uri())  # the flagship article: on a phone its job tables scroll
    assert axe_violations(phone) == [], "a region that scrolls on a phone takes the keyboard focus"
    phone.close()


MARK_SCROLLER = """sel => {
    let e = document.querySelector(sel);
    while (e && !(e.scrollWidth > e.clientWidth && /auto|scroll/.test(getComputedStyle(e).overflowX))) e = e.parentElement;
    if (e) e.setAttribute('data-scroller', '');
    return e ? [e.scrollWidth, e.clientWidth] : null;
}"""
# what scrolls inside it takes its room unseen: the edges show the region's own painting alone
UNSEEN = "[data-scroller] > * { visibility: hidden; }"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_model_table_shows_a_phone_it_scrolls_sideways(flagship: Path, browser, scheme: str) -> None:  # type: ignore[no-untyped-def]
    """On a phone the model page's layer table is wider than the screen: it scrolls on its own,
    takes the keyboard, and a shadow at the edge with more beyond it says so; at the end the
    shadow moves to the other edge."""
    page = browser.new_page(viewport={"width": 390, "height": 800}, color_scheme=scheme)
    page.goto((flagship / "site_output" / "explorer" / "efficientnet_lite0" / "index.html").as_uri())
    widths = page.evaluate(MARK_SCROLLER, ".layer-table")
    assert widths and widths[0] > widths[1] + 40, f"the table scrolls sideways on a phone: {widths}"
    page.add_style_tag(content=UNSEEN)
    assert edge_shade(page, "[data-scroller]", "right") >= 12, "a shadow where more lies beyond"
    assert edge_shade(page, "[data-scroller]", "left") <= 3, "none at the start"
    page.focus("[data-scroller]")  # the keyboard scrolls it
    page.keyboard.press("End")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('[data-scroller]').scrollLeft > 0")
    page.evaluate("document.querySelector('[data-scroller]').scrollLeft = 1e6")
    assert edge_shade(page, "[data-scroller]", "right") <= 3, "none at the end"
    assert edge_shade(page, "[data-scroller]", "left") >= 12, "a shadow where the start lies"
    # an article's job table, in the appendix's own colour: the edges match it, not the page's
    page.goto((flagship / "site_output" / "feature-visualization.html").as_uri())
    page.evaluate("document.querySelector('details.provenance').open = true")
    widths = page.evaluate(MARK_SCROLLER, "details.provenance table")
    assert widths and widths[0] > widths[1], f"the job table scrolls on a phone: {widths}"
    page.add_style_tag(content=UNSEEN)
    assert edge_shade(page, "[data-scroller]", "left") <= 3, "the start painted as the appendix"
    assert edge_shade(page, "[data-scroller]", "right") >= 12
    # a code block (the home page's commands), on its own tinted page: shaded as a table
    page.goto((flagship / "site_output" / "index.html").as_uri())
    widths = page.evaluate(MARK_SCROLLER, "#rebuild + pre code")
    assert widths and widths[0] > widths[1] + 40, f"the commands scroll on a phone: {widths}"
    page.add_style_tag(content=UNSEEN)
    assert edge_shade(page, "[data-scroller]", "right") >= 12, "a shadow where more lies beyond"
    assert edge_shade(page, "[data-scroller]", "left") <= 3, "none at the start"
    assert page.evaluate("document.querySelector('[data-scroller]').tabIndex") == 0
    page.close()


def test_a_strip_of_photos_is_one_tab_stop_the_arrow_keys_move(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """A layer page shows a strip of top and of bottom photos a channel: each strip is one tab
    stop (a toolbar), the arrow keys, Home and End move along it without turning the page, and
    Enter opens the photo focused."""
    if not SAMPLE.is_dir():
        pytest.skip("the flagship has photos only where the ImageNet sample is")
    (layer,) = sorted((flagship / "site_output" / "explorer").glob("*/blocks.3.0.html"))[:1]
    page, problems = open_page(browser, layer)
    strip = page.locator(".examples[role=toolbar]").first
    photos = strip.locator("img.fv-zoomable")
    assert photos.count() >= 3 and strip.get_attribute("aria-label") == "top photos"
    assert photos.evaluate_all("ps => ps.map(p => p.tabIndex)") == [0] + [-1] * (photos.count() - 1)
    stops = page.evaluate("document.querySelectorAll('img.fv-zoomable[tabindex=\"0\"]').length")
    assert stops == page.locator(".examples[role=toolbar]").count(), "one stop a strip"
    tab_to(page, ".examples[role=toolbar] img")
    url, last = page.url, photos.count() - 1
    for key, index in (("ArrowRight", 1), ("End", last), ("ArrowRight", last), ("Home", 0), ("ArrowLeft", 0)):
        page.keyboard.press(key)
        focused = page.evaluate("document.activeElement.src")
        assert focused == photos.nth(index).evaluate("p => p.src"), key
        assert photos.nth(index).evaluate("p => p.tabIndex") == 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.locator(".fv-zoom img").evaluate("i => i.src") == photos.nth(1).evaluate("p => p.src")
    page.keyboard.press("Escape")
    assert page.url == url and problems == []
    page.close()


def test_slash_and_a_dog_search_from_file(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """`/` focuses the box; with the photos (ImageNet wnids in their names), `dog` lists the
    channels dog breeds drive, and the arrow keys and Enter open one."""
    page, problems = open_page(browser, flagship / "site_output" / "explorer" / "index.html")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.className") == "fv-search-input"
    page.keyboard.type("dog")
    if SAMPLE.is_dir():
        page.wait_for_selector(".fv-search-hit a")
        assert page.locator(".fv-search-hit").count() >= 1
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_url("file://**/explorer/efficientnet_lite0/*/*.html")
    assert problems == []
    page.close()


def test_a_channel_page_copies_its_link(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    channel = page_types(flagship / "site_output", "feature-visualization.html")[-1]
    page, problems = open_page(browser, channel)
    width = page.evaluate("document.querySelector('.channel-main img').getBoundingClientRect().width")
    assert width >= 256, "the visualization is shown large"
    for link in page.locator(".channel-image a.save").all():
        assert link.get_attribute("download") is not None
    page.click(".fv-copy-link")
    page.wait_for_function("document.querySelector('.fv-copy-status').textContent !== ''")
    assert page.get_attribute(".fv-copy-link", "data-copied") == page.url
    assert problems == []
    page.close()


def test_an_objects_channel_page_shows_its_diversity_set(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    channel = sorted((flagship / "site_output" / "explorer" / "efficientnet_lite0" / "conv_head").glob("*.html"))[0]
    page, problems = open_page(browser, channel)
    images = page.locator(".channel-set:has(h3:text-is('Diversity')) img")
    assert images.count() == 4, "the objects band shows its diversity set with every preset"
    for i in range(4):
        assert images.nth(i).evaluate("i => i.naturalWidth") > 0
        assert "diversity conv_head" in images.nth(i).get_attribute("alt")
    assert "different inputs that each excite it" in page.locator(".channel-side").inner_text()
    assert broken_images(page) == [] and problems == []
    page.close()
    phone = browser.new_page(viewport={"width": 390, "height": 800})
    phone.goto(channel.as_uri())
    boxes = [b.bounding_box() for b in phone.locator(".channel-set:has(h3:text-is('Diversity')) .channel-image").all()]
    assert [b["y"] for b in boxes[:2]] == [boxes[0]["y"]] * 2, "two a row on a phone, not one"  # type: ignore[index]
    phone.close()


def test_flagship_home_links_the_article(flagship: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, flagship / "site_output" / "index.html")
    assert page.locator("a[href='feature-visualization.html']").count() > 0
    assert broken_images(page) == [] and problems == []
    page.close()


def test_search_box_finds_and_follows_a_channel(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """From file://, typing a channel into the box lists it; its result opens its page."""
    page, problems = open_page(browser, site / "explorer" / "efficientnet_lite0" / "conv_stem.html")
    page.fill(".fv-search-input", "blocks.1.0:")
    hits = page.locator(".fv-search-results a")
    assert hits.count() >= 1 and "blocks.1.0:" in hits.first.inner_text()
    hits.first.click()
    page.wait_for_load_state("load")
    assert page.url.startswith("file://") and "/explorer/efficientnet_lite0/blocks.1.0/" in page.url
    assert page.locator("h1").inner_text().startswith("blocks.1.0:")
    assert problems == []
    page.close()
    listed = browser.new_page()  # axe reads the style sheets, which file:// refuses it: no log here
    listed.goto((site / "explorer" / "efficientnet_lite0" / "conv_stem.html").as_uri())
    listed.fill(".fv-search-input", "blocks.1.0:")
    assert listed.locator(".fv-search-results img").count() >= 1
    assert axe_violations(listed) == [], "a result's thumbnail repeats no text beside it"
    listed.close()


def test_the_preview_waiting_page_passes_axe(browser) -> None:  # type: ignore[no-untyped-def]
    """The page `featvis serve` answers before its first rendering: a language, a main landmark."""
    from generator.commands.serve import WAITING

    page = browser.new_page()
    page.set_content(WAITING.decode("utf-8"))
    assert axe_violations(page) == []
    page.close()


def test_code_keeps_its_case_in_uppercase_headings(browser) -> None:  # type: ignore[no-untyped-def]
    """A model id or layer name in a table head or figure title reads as typed: ids are
    case-sensitive (`python:Nets/my_cnn.py:build`), so no heading style may upper-case them."""
    page = browser.new_page()
    page.set_content(
        '<div class="d-article"><table><tr><th>ResNet <code id="a">python:Nets/a.py:build</code>'
        '</th></tr></table><h4>Layer <code id="b">blocks.1</code></h4></div>'
        '<p class="fv-figure-title">Figure <code id="c">Conv2d_1a</code></p>'
    )
    page.add_style_tag(path=str(REPO / "templates" / "static" / "featvis.css"))
    for code in ("a", "b", "c"):
        assert page.evaluate(f"getComputedStyle(document.getElementById('{code}')).textTransform") == "none"
    page.close()


def test_a_long_negative_label_leaves_both_pictures_whole_on_a_phone(  # type: ignore[no-untyped-def]
    tmp_path: Path, browser
) -> None:
    """The negative figure's label names where the negative was minimized (a branch's channel,
    a floor in a block's forward): on a 390 px screen it wraps, and neither picture shrinks."""
    shutil.copy(REPO / "templates" / "static" / "featvis.css", tmp_path / "featvis.css")
    label = "negative (before the ReLU that stage1.1's forward calls last)"
    image = '<div class="fv-image{}"><img src="" alt=""><div class="fv-label">{}</div></div>'
    (tmp_path / "pair.html").write_text(
        '<!doctype html><html><head><meta name="viewport" content="width=device-width">'
        '<link rel="stylesheet" href="featvis.css"></head><body><main><div class="d-article">'
        '<figure class="fv-figure fv-negative l-page"><div class="pairs"><div class="pair">'
        + image.format(" neg", label) + image.format("", "positive")
        + "</div></div></figure></div></main></body></html>", encoding="utf-8")
    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.goto((tmp_path / "pair.html").as_uri())
    widths = page.eval_on_selector_all(".fv-image img", "els => els.map(e => e.clientWidth)")
    right = page.eval_on_selector_all(".fv-image", "els => els.map(e => e.getBoundingClientRect().right)")
    page.close()
    assert widths[0] == widths[1] == 78 and max(right) <= 390, (widths, right)
