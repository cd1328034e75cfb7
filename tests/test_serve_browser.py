# ruff: noqa: E501
"""`featvis serve` in headless Chromium: an edit shows without a manual reload, a broken edit
shows the banner over the last good page, a new figure shows its placeholder at once; the
preview never writes site_output/, and a published site never holds the reload script.

Starts the real command (`python -m generator serve --preset quick`) on a free loopback port over
a tiny site (one article, the stem layer in the explorer). Needs Debian's `chromium` and the
`playwright` package; skipped, saying why, only when one of them is absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTICLE = """\
---
title: A note
description: One paragraph.
---

The first sentence of the note.
"""
FIGURE = """
```figure
type: layer-gallery
id: fresh
layers: [conv_stem]
channels: [7]
caption: A figure added while serving.
```
"""
STARTUP_SECONDS = 600  # a cold start on a busy 2-core machine: imports, the model, a first render
SEEN_MS = 60_000  # what the page must show within (never asserted as a timing, only as an outcome)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"serve exited ({process.returncode}): {log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"no '{text}' from serve within {seconds} s: {log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("served-site")
    (root / "content").mkdir()
    (root / "content" / "note.md").write_text(ARTICLE, encoding="utf-8")
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem"]\ncache_dir = "{root / "cache"}"\ndevice = "cpu"\n',
        encoding="utf-8",
    )
    port = free_port()
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "generator", "serve", "--preset", "quick", "--port", str(port)],
            cwd=root, stdout=out, stderr=subprocess.STDOUT, env={**os.environ},
        )
    try:
        wait_for_line(log, "rendered the site", process, STARTUP_SECONDS)
        yield root, f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=120)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def test_edits_show_without_a_manual_reload(served: tuple[Path, str], browser) -> None:  # type: ignore[no-untyped-def]
    root, url = served
    note = root / "content" / "note.md"
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url + "note.html")
    assert "The first sentence" in page.locator("main").inner_text()
    page.evaluate("window.featvisMarker = 'before'")

    # A sentence edit: the tab reloads itself (the marker is gone) and shows the new text.
    note.write_text(ARTICLE.replace("The first sentence", "An edited sentence"), encoding="utf-8")
    page.wait_for_function("document.querySelector('main').innerText.includes('An edited sentence')", timeout=SEEN_MS)
    assert page.evaluate("window.featvisMarker") is None, "the page reloaded by itself"

    # A broken edit: the banner names the file, the last good text stays.
    note.write_text("---\ntitle: [unclosed\n---\nBroken body.\n", encoding="utf-8")
    page.wait_for_selector("#featvis-error", timeout=SEEN_MS)
    banner = page.locator("#featvis-error").inner_text()
    assert "note.md" in banner and "last good build" in banner
    assert "An edited sentence" in page.locator("main").inner_text()
    assert "Broken body" not in page.content()
    page.reload()  # a reload during the error keeps the last good page, with the banner
    page.wait_for_selector("#featvis-error", timeout=SEEN_MS)
    assert "An edited sentence" in page.locator("main").inner_text()

    # The fix: the banner goes, the page shows the fixed text.
    note.write_text(ARTICLE.replace("The first sentence", "A fixed sentence"), encoding="utf-8")
    page.wait_for_function("document.querySelector('main').innerText.includes('A fixed sentence')", timeout=SEEN_MS)
    assert page.locator("#featvis-error").count() == 0

    # A new figure: its placeholder at once, computed in the background.
    note.write_text(ARTICLE + FIGURE, encoding="utf-8")
    page.wait_for_selector("#fresh .fv-placeholder", timeout=SEEN_MS)
    assert "Computing 1 visualization" in page.locator("#fresh").inner_text()
    page.wait_for_selector("#fresh img", timeout=STARTUP_SECONDS * 1000)  # it lands by itself

    # An edit of a page whose images are already in the served folder redraws it in place.
    note.write_text((ARTICLE + FIGURE).replace("The first sentence", "A later sentence"), encoding="utf-8")
    page.wait_for_function("document.querySelector('main').innerText.includes('A later sentence')", timeout=SEEN_MS)
    assert page.locator("#fresh img").count() == 1
    assert (root / "serve.log").read_text(encoding="utf-8").count("error:") == 1, "the broken edit's only"
    assert all(r.startswith(url) for r in requests), "nothing leaves the preview server"
    page.close()
    assert not (root / "site_output").exists(), "serve publishes nothing"


def test_published_site_never_holds_the_reload_script(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "note.md").write_text(ARTICLE, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"
    (tmp_path / "site.toml").write_text(f'explorer_layers = ["conv_stem"]\ncache_dir = "{cache}"\ndevice = "cpu"\n', encoding="utf-8")
    build_site(load_config(tmp_path / "site.toml"), preset=Preset("tiny", 32, 4, 1, 1.0), quiet=True)
    for path in (tmp_path / "site_output").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"featvis-live" not in data and b"__featvis__" not in data and b"EventSource" not in data, path
