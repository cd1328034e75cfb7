"""`featvis serve` before its visualizations exist: an explorer page is there at once.

Starts the real command over a tiny site (the own-model example's network at 32 px, its stem in
the explorer, an empty cache: what is tested is the preview's, not a network's, and this network
loads in a fraction of the embedded one's time, in `serve` and in its background compute) and
reads its pages over HTTP as a reader would: before the first rendering any page answers the
waiting page (503, it reloads itself); after it, a channel being computed answers 200 with a page
that says so, its layer page lists it as being computed, and a channel the site will never show
is 404; once the background compute lands, the channel's own page. The switches and overrides
of `serve` reach the background compute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from generator.serve.computer import child_flags

SECONDS = 300  # a cold start and a tiny compute on a busy 2-core machine (never a timing)
REPO = Path(__file__).resolve().parents[1]
NET = REPO / "examples" / "own-model" / "tiny_cnn.py"
LAYER, WIDTH = "stem.2", 16  # the network's stem and its channels
CHANNEL = re.compile(r'href="stem\.2/(\d+)\.html"')


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found
        if process.poll() is not None:
            raise AssertionError(f"serve exited ({process.returncode}): {log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no '{pattern}' from serve within {SECONDS} s: {log.read_text()}")


def test_explorer_pages_wait_for_the_background_compute(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "note.md").write_text("---\ntitle: A note\n---\n\nText.\n")
    (tmp_path / "site.toml").write_text(
        f'model = "python:{NET}:build"\nseed = 3\ninput_size = 32\n'
        f'explorer_layers = ["{LAYER}"]\ncache_dir = "{tmp_path / "cache"}"\ndevice = "cpu"\n'
    )
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "generator", "serve", "--port", "0", "--preset", "quick",
            "--size", "32", "--steps", "4", "--workers", "1"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ})
    try:
        url = wait_for(log, r"at (http://127\.0\.0\.1:\d+/) \(watching", process).group(1)
        explorer = url + "explorer/tiny_cnn/"
        layer = f"{explorer}{LAYER}.html"
        status, text = fetch(layer)
        if "rendered the site" not in log.read_text():  # bound, not rendered yet
            assert status == 503 and "reloads when it is ready" in text, (status, text[:300])
            assert "featvis-live" in text, "the waiting page reloads itself"
            assert fetch(url + "static/nothing.png")[0] == 404, "only pages wait"
        wait_for(log, r"rendered the site .*2 visualizations to compute", process)

        status, text = fetch(layer)
        assert status == 200 and "visualized here, 2 more being computed (the" in text, text[:2000]
        channels = CHANNEL.findall(text)
        assert len(channels) == 2 and "<img class=\"channel-vis\"" not in text
        page = f"{explorer}{LAYER}/{channels[0]}.html"
        status, text = fetch(page)
        assert status == 200 and "Computing this channel's visualization" in text, text[:2000]
        assert "0 of the 2 channels" in text and "featvis-live" in text
        never = next(str(c) for c in range(WIDTH) if str(c) not in channels)
        assert fetch(f"{explorer}{LAYER}/{never}.html")[0] == 404
        assert fetch(f"{explorer}{LAYER}/999.html")[0] == 404

        wait_for(log, r"computing done", process)
        status, text = fetch(page)
        assert status == 200 and "Computing" not in text and 'class="channel-image' in text
        status, text = fetch(layer)
        assert text.count('<img class="channel-vis"') == 2 and "being computed" not in text
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert "background compute failed" not in log.read_text()
    assert not (tmp_path / "site_output").exists()


def test_serve_hands_its_switches_and_overrides_to_the_compute() -> None:
    args = argparse.Namespace(random_weights=True, size="32", steps=None, quiet=False,
                              config="site.toml", workers=None, strict=False)
    assert child_flags(args) == ["--config", "site.toml", "--size", "32", "--random-weights"]
    assert "--random-weights" not in child_flags(argparse.Namespace(random_weights=False))


def test_landed_channels_redraw_the_explorer_at_most_every_few_seconds(tmp_path: Path) -> None:
    from generator.cache.store import ArtifactStore
    from generator.serve import preview as preview_module
    from generator.serve.preview import Preview

    preview = Preview(argparse.Namespace(), read_config=lambda: None,  # type: ignore[arg-type, return-value]
                      read_preset=lambda _c, _d: None, say=lambda _m: None,  # type: ignore[arg-type, return-value]
                      compute=False)
    try:
        store = ArtifactStore(tmp_path / "cache")
        preview._loaded = argparse.Namespace(store=store)  # type: ignore[assignment]
        preview.missing = {"explorer/m/conv.html": ["k1", "k2"], "explorer/m/conv/1.html": ["k1"]}
        assert not preview.landed(), "nothing landed"
        store.path("k1").mkdir(parents=True)
        preview._drawn_at = time.monotonic()
        assert not preview.landed(), "the explorer was drawn just now"
        preview._drawn_at -= preview_module.EXPLORER_REDRAW_SECONDS
        assert preview.landed()
        preview._drawing_seconds = preview_module.EXPLORER_REDRAW_SECONDS
        assert not preview.landed(), "a slow drawing waits three times its length"
        preview._drawing_seconds, preview._explorer_seen = 0.0, {"k1"}
        assert not preview.landed(), "drawn with k1 already"
    finally:
        preview.close()


SLEEPER = (  # then it says it is ready by making the file named by its argument
    "import pathlib, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(30)"
)


def test_ctrl_c_reaching_the_background_compute_ends_it_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Ctrl-C in the terminal interrupts the compute child as well as serve: no "failed" line, and
    no new child started while serve shuts down."""
    import argparse
    import signal
    import threading
    from types import SimpleNamespace

    from generator.serve import computer as computer_module

    real_popen = subprocess.Popen
    started: list[subprocess.Popen[bytes]] = []
    ready = tmp_path / "ready"

    def popen(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        # a child that Ctrl-C ends whatever this test process inherited (a SIGINT ignored or
        # blocked by an earlier test in the same worker would keep `sleep` alive)
        child = real_popen(  # type: ignore[call-overload]
            [sys.executable, "-c", SLEEPER, str(ready)], **kwargs
        )
        started.append(child)
        return child

    monkeypatch.setattr(computer_module.subprocess, "Popen", popen)
    said: list[str] = []
    preview = SimpleNamespace(
        missing={"page.html": ["k"]}, hub=SimpleNamespace(state=SimpleNamespace(error=None)),
        say=said.append, landed=lambda: False, refresh=lambda *a, **k: True,
    )
    computer = computer_module.Computer(preview, argparse.Namespace())  # type: ignore[arg-type]
    try:
        computer.want(["page"], {"k"})
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started, "the page's compute started"
        while not ready.exists() and time.monotonic() < deadline + 20:
            time.sleep(0.05)
        started[0].send_signal(signal.SIGINT)
        assert started[0].wait(timeout=10) in computer_module.INTERRUPTED
        time.sleep(1.5)
        assert len(started) == 1, "no whole-site run started after the interrupt"
        assert not [m for m in said if "failed" in m], said
        alive = [t for t in threading.enumerate() if t.name == "featvis-compute" and t.is_alive()]
        assert not alive, "the compute thread ended"
    finally:
        computer.stop()
        for child in started:
            child.kill()
            child.wait()


def test_photos_added_while_serving_are_scanned_and_shown(tmp_path: Path) -> None:
    """The photo folder is watched (its photos only), and a change there makes the preview read
    the folder again: an added photo is counted on the next rendering."""
    from generator.config.presets import Preset
    from generator.config.site import load_config
    from generator.serve.preview import Preview
    from generator.serve.watch import Watched

    sample = sorted((Path(__file__).resolve().parents[2] / "shared" / "datasets"
                     / "imagenet-sample").glob("*.jpg"))[:5]
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in sample[:4]:
        (photos / src.name).symlink_to(src)
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "note.md").write_text(
        "---\ntitle: A note\n---\n\nScanned {{ dataset.images }} photos.\n", encoding="utf-8"
    )
    (tmp_path / "site.toml").write_text(
        f'explorer_layers = ["conv_stem"]\ncache_dir = "{tmp_path / "cache"}"\ndevice = "cpu"\n'
        'dataset = "photos"\n', encoding="utf-8",
    )
    config = load_config(tmp_path / "site.toml")
    watched = Watched.of(config)
    assert watched.photos == photos.resolve() and photos.resolve() in watched.shown()
    tiny = Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0)
    preview = Preview(argparse.Namespace(), read_config=lambda: config,
                      read_preset=lambda _c, _d: tiny, say=lambda _m: None, compute=False)
    try:
        assert preview.refresh(reason="test")
        assert "Scanned 4 photos." in (preview.current / "note.html").read_text(encoding="utf-8")
        added = photos / sample[4].name
        added.symlink_to(sample[4])
        assert preview.refresh({photos.resolve() / added.name}, reason="test")  # as watched
        assert "Scanned 5 photos." in (preview.current / "note.html").read_text(encoding="utf-8")
    finally:
        preview.close()


def test_the_photo_folder_is_watched_for_photos_only(tmp_path: Path) -> None:
    import threading

    from generator.serve.watch import Watched, Watcher

    photos = (tmp_path / "photos").resolve()
    (photos / "sub").mkdir(parents=True)
    seen: list[set[Path]] = []
    arrived = threading.Event()

    def on_change(paths: set[Path]) -> None:
        seen.append(paths)
        arrived.set()

    watcher = Watcher(Watched(folders=(), files=(), photos=photos), on_change)
    watcher.start()
    try:
        time.sleep(0.5)  # the watch is set up
        (photos / "notes.txt").write_text("not a photo", encoding="utf-8")
        (photos / "sub" / "cat.JPG").write_bytes(b"a photo")
        assert arrived.wait(20), "no change reported"
        time.sleep(1)
        assert set().union(*seen) == {photos / "sub" / "cat.JPG"}, seen
    finally:
        watcher.stop()


def test_lines_said_from_two_threads_stay_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """The preview says what it rendered from the main thread while the background compute's
    thread says what it computes: each line stays whole (two ran together, as in `... 2
    visualizations to computefeatvis: computing the visualizations ...`). One thread says through
    `core.progress.say`, the other through a command's `Progress`, as the two do."""
    from generator.core.progress import Progress
    from generator.core.progress import say as say_line

    sayers = (say_line, Progress(quiet=False, terminal=False).say)

    def say(n: int) -> None:
        for i in range(3000):
            sayers[n](f"thread {n} line {i}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as they can
    try:
        threads = [threading.Thread(target=say, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    said = capsys.readouterr().err.splitlines()
    assert sorted(said) == sorted(f"featvis: thread {n} line {i}"
                                  for n in range(2) for i in range(3000))
