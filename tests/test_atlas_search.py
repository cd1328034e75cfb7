# ruff: noqa: E501
"""The offline search index and static/search.js: the index is a script that defines
window.FEATVIS_SEARCH; in headless Chromium over file:// the search box answers `layer:channel`,
bands, class names and labels, and words through the ImageNet hierarchy (`dog` finds every
breed, ranked by how strongly the class drives the channel), finds a labelled channel the build
did not compute, follows `/`, the arrow keys and Enter, and its result links lead to the channel
pages. The shipped hierarchy holds the 1000 classes, and a damaged one is one error line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest

from generator.atlas.hierarchy import load_hierarchy, photo_class
from generator.atlas.search import (
    SearchEntry,
    channel_classes,
    model_entries,
    search_index_js,
    unknown_classes,
)
from generator.core.errors import FeatvisError
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
    classes = {
        ("blocks.4.2", 70): ["golden retriever", "Labrador retriever"],
        ("blocks.4.2", 72): [("Chihuahua", 0.3), ("Granny Smith", 0.9)],
        ("blocks.4.2", 74): [("Chihuahua", 0.8)],
        ("blocks.4.2", 76): [("sports car", 1.0), ("goldfinch", 0.5)],
        ("conv_stem", 4): ["hotdog"],
    }
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
    (root / "search-index.js").write_text(search_index_js(found, load_hierarchy()), encoding="utf-8")
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
        assert results("70") == ["blocks.4.2:70"]  # a bare channel number: every layer's
        assert results("4")[:3] == ["conv_stem:4", "blocks.4.2:4", "blocks.4.2:40"]  # exact ones first
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
        # through the hierarchy: the breeds, the strongest first; "hot dog" starts a word only
        assert results("dog") == ["blocks.4.2:70", "blocks.4.2:74", "blocks.4.2:72", "conv_stem:4"]
        assert results("dogs") == results("dog")[:3] + ["conv_stem:4"]
        assert results("fruit") == ["blocks.4.2:72"]
        assert results("vehicle") == ["blocks.4.2:76"] == results("vehic")
        about = page.inner_text(".fv-search-about")  # names the class the query matched
        assert "sports car" in about and "goldfinch" not in about
        assert results("bird") == ["blocks.4.2:76"]
        assert results("chihua") == ["blocks.4.2:74", "blocks.4.2:72"]
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

        page.go_back()
        page.wait_for_load_state()
        page.keyboard.press("/")  # focuses the box, typed nowhere
        assert page.evaluate("document.activeElement.className") == "fv-search-input"
        page.keyboard.type("dog")
        page.wait_for_function("document.querySelectorAll('.fv-search-hit').length === 4")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.textContent") == "blocks.4.2:74"
        page.keyboard.press("ArrowUp")
        page.keyboard.press("ArrowUp")
        assert page.evaluate("document.activeElement.className") == "fv-search-input"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_url("**/blocks.4.2/70.html")
        assert page.inner_text("h1") == "blocks.4.2:70"
        page.go_back()
        page.wait_for_load_state()
        box.fill("chihuahua")
        box.press("Enter")  # the first result
        page.wait_for_url("**/blocks.4.2/74.html")
        assert page.inner_text("h1") == "blocks.4.2:74"
        assert errors == []
        browser.close()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_number_finds_the_layer_of_that_name(tmp_path: Path) -> None:
    """nn.Sequential names its layers "1", "3", "7": typing a layer's name lists its channels
    (after channel 7 of every layer), as typing `blocks.4.2` does."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    layers = tuple(LayerInfo(n, n, 16, 8, 8, i, "edges") for i, n in enumerate(("1", "3", "7")))
    pages = {(n, c): ("", f"explorer/m/{n}/{c}.html") for n in ("1", "3", "7") for c in (0, 7, 12)}
    page_path = write_site(tmp_path, model_entries("m", layers, pages))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.fill(".fv-search-input", "7")
        shown = page.eval_on_selector_all(".fv-search-hit code", "els => els.map(e => e.textContent)")
        assert shown == ["1:7", "3:7", "7:7", "7:0", "7:12"], shown
        page.fill(".fv-search-input", "3")
        shown = page.eval_on_selector_all(".fv-search-hit code", "els => els.map(e => e.textContent)")
        assert shown == ["3:0", "3:7", "3:12"], shown
        browser.close()


def two_models() -> list[SearchEntry]:
    """Two models' channels: an embedded model and a user's network, each with a display name
    that is not its id."""
    found = []
    for model, name, folder in (("efficientnet_lite0", "EfficientNet-Lite0", "lite0"),
                                ("python:shapes.py:build", "ShapeNet", "shapes")):
        pages = {(layer.name, c): ("", f"explorer/{folder}/{layer.name}/{c}.html")
                 for layer in LAYERS for c in (3, 70) if c < layer.channels}
        found += model_entries(model, LAYERS, pages, name=name)
    return found


def test_index_carries_each_models_display_name() -> None:
    data = read_index(search_index_js(two_models()))
    assert data["models"] == ["efficientnet_lite0", "python:shapes.py:build"]
    assert data["names"] == ["EfficientNet-Lite0", "ShapeNet"]
    one = model_entries("timm:mixnet_s", LAYERS, {("conv_stem", 0): ("", "p.html")})
    assert read_index(search_index_js(one))["names"] == ["timm:mixnet_s"]  # no name: the id


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_results_name_each_model_by_its_display_name(tmp_path: Path) -> None:
    """The compare page names a model by its display name; so does each search result, and a
    query finds a model by that name or by its id."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    page_path = write_site(tmp_path, two_models())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(page_path.as_uri())
        box = page.locator(".fv-search-input")

        def abouts(query: str) -> list[str]:
            box.fill(query)
            return page.eval_on_selector_all(".fv-search-about", "els => els.map(e => e.textContent)")

        assert [a.split(" \u00b7 ")[0] for a in abouts("blocks.4.2:70")] == ["EfficientNet-Lite0", "ShapeNet"]
        assert abouts("python:shapes.py:build/blocks.4.2:70") == ["ShapeNet \u00b7 parts"]
        assert abouts("ShapeNet/blocks.4.2:70") == ["ShapeNet \u00b7 parts"], "by the name results show"
        # a model's layer, without a channel: its channels, of that model alone
        assert abouts("ShapeNet/blocks.4.2") == ["ShapeNet \u00b7 parts"] * 2
        assert abouts("python:shapes.py:build/blocks.4.2") == ["ShapeNet \u00b7 parts"] * 2
        assert abouts("efficientnet_lite0/conv_stem") == ["EfficientNet-Lite0 \u00b7 edges"]
        assert len(abouts("shapenet parts")) == 2 == len(abouts("shapes.py parts"))
        assert not any("python:" in a or "efficientnet_lite0" in a for a in abouts("3"))
        browser.close()


def test_hierarchy_holds_the_imagenet_classes() -> None:
    h = load_hierarchy()
    assert len(h.names) == 1000 and h.names[207] == "golden retriever"
    assert "dog" in (h.kinds("golden retriever") or ()) and "dog" in (h.kinds("Chihuahua") or ())
    assert "fruit" in (h.kinds("Granny Smith") or ()) and "vehicle" in (h.kinds("sports car") or ())
    assert "bird" in (h.kinds("goldfinch") or ()) and "dog" not in (h.kinds("tabby") or ())
    assert h.kinds("n02099601") == h.kinds("golden_retriever") == h.kinds("Golden Retriever")
    assert h.name("n02085620") == "Chihuahua" and h.kinds("no such class") is None
    dogs = [n for n in h.names if "dog" in (h.kinds(n) or ())]
    assert 110 <= len(dogs) <= 130  # ImageNet-1k's dog breeds (and wild dogs' cousins excluded)


def test_a_damaged_hierarchy_is_one_error_line(tmp_path: Path) -> None:
    for text in ('{"version": 1, "names": ["x"], "nodes": [["n1", "x", [5]]]}', "{not json", '{"version": 9}'):
        bad = tmp_path / "h.json"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(FeatvisError) as info:
            load_hierarchy(bad)
        message = str(info.value)
        assert message.startswith(f"{bad}: damaged ImageNet class hierarchy") and "\n" not in message
        assert info.value.exit_code == 2


def test_photo_classes_and_their_strengths() -> None:
    assert photo_class("golden_retriever/1.jpg") == "golden_retriever"
    assert photo_class("a/b/tabby/x.png") == "tabby"
    assert photo_class("n02085620_Chihuahua.jpg") == "n02085620" and photo_class("photo.jpg") is None
    h = load_hierarchy()
    top = [("n02085620_1.jpg", 10.0), ("tabby/2.jpg", 6.0), ("n02085620_3.jpg", 4.0), ("x.jpg", 9.0)]
    ranked = channel_classes(top, [("tabby", 0.9), ("goldfinch", 0.2)], h)
    assert ranked == [("Chihuahua", 1.0), ("tabby", 0.9), ("goldfinch", 0.2)]
    found = model_entries("m", LAYERS, {("conv_stem", 0): ("t.png", "p.html")},
                          classes={("conv_stem", 0): [*ranked, ("my own class", 0.1)]})
    assert found[0].classes[-1] == "my own class" and found[0].strengths == (1.0, 0.9, 0.2, 0.1)
    assert unknown_classes(found, h) == ["my own class"]
    data = read_index(search_index_js(found, h))
    row = data["channels"][0]
    assert row[7] == [100, 90, 20, 10]
    kinds = {data["classes"][c]: [data["terms"][t] for t in data["kinds"][c]] for c in row[4]}
    assert "dog" in kinds["Chihuahua"] and kinds["my own class"] == []


def full_preset_entries() -> list[SearchEntry]:
    """3120 channels (the full preset's count) with 8 classes each, as a large index holds."""
    h = load_hierarchy()
    layers = tuple(LayerInfo(f"blocks.{i}", f"blocks.{i}", 195, 7, 7, i, "objects") for i in range(16))
    pages = {(layer.name, c): (f"thumbs/{layer.name}-{c}.png", f"explorer/m/{layer.name}/{c}.html")
             for layer in layers for c in range(layer.channels)}
    classes = {key: [(h.names[(k * 37 + j * 101) % 1000], 1 - j / 8) for j in range(8)]
               for k, key in enumerate(pages)}
    return model_entries("m", layers, pages, classes=classes)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_each_keystroke_answers_quickly_for_3120_channels(tmp_path: Path) -> None:
    """Each keystroke (the search and the first cards drawn) takes under 50 ms in Chromium: the
    median over the keystrokes of a few queries, the slowest printed."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    found = full_preset_entries()
    assert len(found) == 3120
    page_path = write_site(tmp_path, found)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(page_path.as_uri())
        times = page.evaluate("""queries => {
            const box = document.querySelector('.fv-search-input');
            const out = [];
            for (const q of queries) {
                for (let n = 1; n <= q.length; n++) {
                    box.value = q.slice(0, n);
                    const t = performance.now();
                    box.dispatchEvent(new Event('input'));
                    document.body.offsetHeight;  // the layout of the cards drawn
                    out.push(performance.now() - t);
                }
            }
            return out;
        }""", ["dog", "golden retriever", "vehicle", "blocks.7:12", "fruit bird"])
        assert page.locator(".fv-search-hit").count() > 0
        browser.close()
    times.sort()
    median, slowest = times[len(times) // 2], times[-1]
    print(f"keystrokes: {len(times)}, median {median:.1f} ms, slowest {slowest:.1f} ms")
    assert median < 50, times
