# ruff: noqa: E501
"""The offline search index and static/search.js: the index is a script that defines
window.FEATVIS_SEARCH; in headless Chromium over file:// the search box answers `layer:channel`,
bands, class names and labels, finds a labelled channel the build did not compute, and its result
links lead to the channel pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest

from generator.atlas.search import SearchEntry, model_entries, search_index_js
from generator.models.base import LayerInfo

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
LAYERS = (
    LayerInfo("conv_stem", "bn1.drop", 32, 112, 112, 0, "edges"),
    LayerInfo("blocks.4.2", "blocks.4.2", 112, 14, 14, 1, "parts"),
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def entries() -> list[SearchEntry]:
    pages = {
        (layer.name, c): (f"thumbs/{layer.name}-{c}.png", f"explorer/m/{layer.name}/{c}.html")
        for layer in LAYERS for c in range(0, layer.channels, 2)
    }
    classes = {("blocks.4.2", 70): ["golden retriever", "Labrador retriever"], ("conv_stem", 4): ["hotdog"]}
    labels = {("blocks.4.2", 70): "eyes, front view", ("blocks.4.2", 71): "snouts <b>"}
    return model_entries("m", LAYERS, pages, classes=classes, labels=labels)


def read_index(js: str) -> dict:
    prefix = "window.FEATVIS_SEARCH = "
    assert js.startswith(prefix) and js.endswith(";\n")
    return json.loads(js[len(prefix):-2])


def test_index_lists_computed_and_labelled_channels() -> None:
    found = entries()
    assert len(found) == 16 + 56 + 1
    uncomputed = [e for e in found if not e.computed]
    assert [(e.layer, e.channel, e.labels, e.page) for e in uncomputed] == [("blocks.4.2", 71, ("snouts <b>",), None)]
    js = search_index_js(found)
    assert "<" not in js  # cannot close a script element
    data = read_index(js)
    row = next(r for r in data["channels"] if data["layers"][r[0]][1] == "blocks.4.2" and r[1] == 70)
    assert [data["classes"][c] for c in row[4]] == ["golden retriever", "Labrador retriever"]
    assert row[5] == ["eyes, front view"] and row[6] == 1 and row[3] == "explorer/m/blocks.4.2/70.html"
    assert data["bands"][data["layers"][row[0]][2]] == "parts"


def write_site(root: Path, found: list[SearchEntry]) -> Path:
    (root / "static").mkdir(parents=True)
    shutil.copy(REPO / "templates" / "static" / "search.js", root / "static" / "search.js")
    (root / "search-index.js").write_text(search_index_js(found), encoding="utf-8")
    (root / "thumbs").mkdir()
    for e in found:
        if e.thumbnail:
            (root / e.thumbnail).write_bytes(PNG)
        if e.page:
            page = root / e.page
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"<!doctype html><title>{e.layer}:{e.channel}</title><h1>{e.layer}:{e.channel}</h1>", encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPO / "templates"), autoescape=True)
    box = env.get_template("search_box.html").render(root="../", search_index="search-index.js")
    page = root / "explorer" / "index.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f"<!doctype html><meta charset=utf-8><title>search</title><body>{box}</body>", encoding="utf-8")
    return page


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_search_box_in_chromium_from_file(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    page_path = write_site(tmp_path, entries())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_path.as_uri())
        box = page.locator(".fv-search-input")

        def results(query: str) -> list[str]:
            box.fill(query)
            return page.eval_on_selector_all(".fv-search-hit code", "els => els.map(e => e.textContent)")

        assert results("blocks.4.2:70") == ["blocks.4.2:70"]
        assert results("4.2:70") == ["blocks.4.2:70"]
        first = results("blocks.4.2:")
        assert 12 <= len(first) < 48  # a keystroke draws the first cards only
        for _ in range(8):  # scrolling to the end of the list draws the next ones
            page.eval_on_selector_all(".fv-search-hit", "els => els[els.length - 1].scrollIntoView()")
            page.wait_for_timeout(150)
        shown = page.eval_on_selector_all(".fv-search-hit code", "els => els.map(e => e.textContent)")
        assert len(shown) == 48 and shown[: len(first)] == first  # 57 channels, 48 listed
        assert "57 channels" in page.inner_text(".fv-search-status")
        assert len(results("edges")) == 12 and "16 channels" in page.inner_text(".fv-search-status")
        assert results("retriever") == ["blocks.4.2:70"]
        assert results("dog") == ["conv_stem:4"]  # "hotdog": the class names are searched
        assert results("eyes front") == ["blocks.4.2:70"]
        assert results("snouts") == ["blocks.4.2:71"]
        assert "not computed" in page.inner_text(".fv-search-hit")
        assert page.locator(".fv-search-hit a").count() == 0  # nothing to link to
        assert results("no such thing") == []
        results("blocks.4.2:70")
        assert page.evaluate("document.querySelector('.fv-search-hit img').naturalWidth") == 1
        page.click(".fv-search-hit a")
        page.wait_for_load_state()
        assert page.inner_text("h1") == "blocks.4.2:70"
        assert page.url.startswith("file://")
        assert errors == []
        browser.close()
