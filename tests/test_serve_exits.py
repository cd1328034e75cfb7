"""Every way `featvis serve` ends removes its preview folder (`featvis-serve-*` in the temporary
folder): Ctrl-C, a `kill`, the terminal closing, and serving ending while the background
compute's thread is rendering the site into that folder."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from generator.config.presets import Preset
from generator.config.site import SiteConfig, load_config
from generator.serve.preview import Preview

TINY = Preset("tiny", size=32, steps=4, explorer_channels=2, figure_scale=1.0)
SECONDS = 300  # a cold start on a busy 2-core machine (never a timing)


def tiny_site(root: Path) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "content" / "note.md").write_text("---\ntitle: A note\n---\n\nText.\n")
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem"]\ncache_dir = "{root / "cache"}"\ndevice = "cpu"\n'
    )
    return root


def test_closing_while_another_thread_renders_waits_for_it_and_removes_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background compute's thread renders the site when its compute ends; Ctrl-C then
    closes the preview from the main thread. The folder must not outlive them both (it was
    removed under the rendering, which then wrote its `site-N` into it again)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the preview's folder goes here
    config = load_config(tiny_site(tmp_path / "site") / "site.toml")
    entered, go = threading.Event(), threading.Event()

    def read_config() -> SiteConfig:
        entered.set()  # the rendering has begun
        go.wait(SECONDS)
        return config

    preview = Preview(argparse.Namespace(), read_config=read_config,
                      read_preset=lambda _c, _d: TINY, say=lambda _m: None, compute=False)
    rendering = threading.Thread(target=preview.refresh)
    rendering.start()
    assert entered.wait(SECONDS)
    closing = threading.Thread(target=preview.close)
    closing.start()
    closing.join(1.0)  # a close that does not wait for the rendering has removed it by now
    go.set()
    rendering.join(SECONDS)
    closing.join(SECONDS)
    assert not preview.folder.exists(), sorted(p.name for p in preview.folder.iterdir())
    assert preview.refresh() is False  # closed: nothing renders into it again


@pytest.mark.parametrize("ending", ["SIGHUP", "SIGTERM"])
def test_a_signal_while_serving_removes_the_preview_folder(tmp_path: Path, ending: str) -> None:
    """A `kill` (SIGTERM) or the terminal closing (SIGHUP) while the first rendering runs ends
    serving as Ctrl-C does: exit code 0, no preview folder left."""
    root = tiny_site(tmp_path / "site")
    temp = tmp_path / "tmp"
    temp.mkdir()
    log = root / "serve.log"
    argv = [sys.executable, "-m", "generator", "serve", "--port", "0", "--preset", "quick"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TMPDIR": str(temp)})
    try:
        deadline = time.monotonic() + SECONDS
        while "serving a preview" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert [p.name for p in temp.iterdir()][:1] != [], "the preview folder is made"
        process.send_signal(getattr(signal, ending))
        assert process.wait(timeout=SECONDS) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [p.name for p in temp.iterdir() if p.name.startswith("featvis-serve-")] == []
