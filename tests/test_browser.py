# ruff: noqa: E501
"""The built site in headless Chromium over file://: the index, an article and a layer page load
with no console error and no request that leaves file://, every image decodes in the browser, and
the interpolation slider, the comparison toggle and the hover zoom work.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` package; skipped, saying why,
only when one of them is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.build import build_site
from generator.config import Preset, load_config

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
layer: blocks.1.0
channel: 3
strengths: {l1: [2], tv: [50], blur: [3000], jitter: [2], robust: [1]}
```

[^1]: It moves every row.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-site")
    (root / "content").mkdir()
    (root / "content" / "moving.md").write_text(ARTICLE, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"  # shared with test_site
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem", "blocks.1.0"]\ncache_dir = "{cache}"\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root / "site_output"


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
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    # Lazy images load as they scroll into view; ask for all of them and wait.
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15000)
    return page, problems


def broken_images(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


@pytest.mark.parametrize("path", ["index.html", "moving.html", "explorer/index.html", "explorer/blocks.1.0.html"])
def test_pages_load_offline(site: Path, browser, path: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, site / path)
    count = page.evaluate("document.images.length")
    assert count > 0, "every page shows images"
    assert broken_images(page) == []
    assert problems == []
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

    table = page.locator(".reg-grid")
    assert table.get_attribute("data-view") == "all"
    page.click(".fv-regularization .fv-toggle button[data-show=strongest]")
    assert table.get_attribute("data-view") == "strongest"
    assert page.locator(".reg-tv .reg-cell").first.is_visible(), "the strongest cell stays"

    page.locator(".reg-tv img").first.hover()
    assert page.locator(".fv-lens").is_visible(), "hover zoom shows an enlarged copy"
    page.locator("a.footnote-ref").first.hover()
    assert "moves every row" in page.locator(".fv-tip").inner_text()
    assert problems == []
    page.close()


def test_phone_width_has_no_horizontal_scroll(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 800})
    for path in ("moving.html", "explorer/blocks.1.0.html"):
        page.goto((site / path).as_uri())
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} is {wide}px wide on a phone"
    page.close()
