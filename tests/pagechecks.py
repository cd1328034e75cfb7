"""What every built page must pass in a real browser (Playwright pages, headless Chromium):
axe-core's accessibility rules (WCAG A and AA and axe's best practices: landmarks, heading order,
contrast, labels) with no violation of any impact, alt text on every image, and
no horizontal overflow on a 390 px phone screen. axe-core is vendored for the tests only
(`tests/vendor/axe.min.js`, see its README); the built site never loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PHONE = 390

_VIOLATIONS = """async () => {
    const r = await axe.run(document, {resultTypes: ['violations']});
    return r.violations.map(v =>
        `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
}"""


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now, of every impact (minor ones included)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return list(page.evaluate(_VIOLATIONS))


def images_without_alt(page: Any) -> list[str]:
    """The images with no alt text (an empty alt counts as none)."""
    return list(page.evaluate(
        "Array.from(document.images)"
        ".filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src)"
    ))


def overflow_at_phone_width(browser: Any, path: Path) -> int:
    """How many pixels the page at `path` is wider than a 390 px screen (0: it fits)."""
    page = browser.new_page(viewport={"width": PHONE, "height": 800})
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    wide = int(page.evaluate("document.documentElement.scrollWidth"))
    page.close()
    return max(0, wide - PHONE)


def edge_shade(page: Any, selector: str, side: str) -> float:
    """How far the painted pixels along the `side` ("left" or "right") edge of the first element
    matching `selector` lie from its background colour (its own, or where it has none its
    nearest painted ancestor's): the median over the edge's 4 px wide strip of the largest
    difference in one of R, G, B (0: nothing drawn there)."""
    import io

    import numpy as np
    from PIL import Image

    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    x = box["x"] + 1 if side == "left" else box["x"] + box["width"] - 5
    top = max(0, box["y"])  # the part of it on the screen
    height = min(box["y"] + box["height"], page.viewport_size["height"]) - top
    shot = page.screenshot(clip={"x": x, "y": top, "width": 4, "height": height})
    background = page.evaluate(_BACKGROUND, selector)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)
    return float(np.median(np.abs(pixels - np.array(background)).max(axis=2)))


_BACKGROUND = """sel => {
    let e = document.querySelector(sel);
    while (e && getComputedStyle(e).backgroundColor === 'rgba(0, 0, 0, 0)') e = e.parentElement;
    const colour = getComputedStyle(e || document.body).backgroundColor;
    return (colour.match(/\\d+/g) || []).slice(0, 3).map(Number);
}"""
