"""The author's loop, timed in Chromium: from the write of an edited article to the reloaded page.

Starts `python -m generator serve` over a copy of the flagship articles (content/ of this
repository) on a free loopback port, opens the flagship article in headless Chromium and, in
interleaved rounds, (a) edits a sentence and (b) adds a new figure block (a channel not shown
before, so it needs a new visualization), timing each from the file write to the reloaded page
that shows the change (the sentence; the new figure's placeholder, then the figure itself once
its visualization is computed in the background), checked on every animation frame. Between
rounds the article is restored. Writes results/serve-cpu.json and .md.

    PYTHONPATH=. python3 benchmarks/bench_serve.py --cache .featvis-cache --rounds 5

Use a cache that already holds the flagship's visualizations at the chosen preset for the
figures that exist (`featvis build --preset quick` fills it); what it lacks is drawn as a
placeholder and computed in the background while the rounds run, as an author would see it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ARTICLE = "feature-visualization"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FIGURE = """
```figure
type: layer-gallery
id: bench-{n}
layers: [blocks.2.1]
channels: [{channel}]
caption: A figure added while serving.
```
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path, args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    log = (root / "serve.log").open("wb")
    argv = [sys.executable, "-m", "generator", "serve", "--preset", args.preset, "--port",
            str(port)]
    process = subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + args.startup
    while "rendered the site" not in (root / "serve.log").read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            raise SystemExit(f"serve did not start: {(root / 'serve.log').read_text()}")
        time.sleep(0.2)
    return process


def timed(page, path: Path, text: str, check: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from writing `text` to `path` to the reloaded page where `check` is true (the
    wait survives the reload; checked on every animation frame)."""
    start = time.perf_counter()
    path.write_text(text, encoding="utf-8")
    page.wait_for_function(check, timeout=120_000)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(REPO / ".featvis-cache"))
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startup", type=float, default=900.0, help="seconds to wait for serve")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    shutil.copytree(REPO / "content", root / "content")
    (root / "site.toml").write_text(
        f'cache_dir = "{Path(args.cache).resolve()}"\ndevice = "cpu"\n', encoding="utf-8"
    )
    source = root / "content" / f"{ARTICLE}.md"
    original = source.read_text(encoding="utf-8")
    first = next(line for line in original.splitlines()[8:] if len(line) > 60 and
                 line[0].isalpha())
    port = free_port()
    process = start(root, args, port)
    sentence: list[float] = []
    figure: list[float] = []
    landed: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless",
                                        "--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/{ARTICLE}.html")
            for n in range(args.rounds):
                marker = f"Edited sentence number {n}."
                sentence.append(timed(
                    page, source, original.replace(first, f"{marker} {first}", 1),
                    f"document.querySelector('main').innerText.includes({marker!r})",
                ))
                began = time.perf_counter()
                figure.append(timed(
                    page, source, original + FIGURE.format(n=n, channel=33 + n),  # of 40 channels
                    f"!!document.querySelector('#bench-{n} .fv-placeholder, #bench-{n} img')",
                ))
                # then the figure itself, computed in the background, with no manual step
                page.wait_for_function(f"!!document.querySelector('#bench-{n} img')",
                                       timeout=600_000)
                landed.append(time.perf_counter() - began)
                timed(page, source, original,
                      f"!document.querySelector('#bench-{n}')")  # restore, not counted
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=120)
        source.write_text(original, encoding="utf-8")
    result = {
        "article": ARTICLE, "preset": args.preset, "rounds": args.rounds,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "sentence_seconds": sentence, "figure_placeholder_seconds": figure,
        "figure_landed_seconds": landed, "figure_landed_median": statistics.median(landed),
        "sentence_median": statistics.median(sentence),
        "figure_placeholder_median": statistics.median(figure),
        "serve_log": (root / "serve.log").read_text(errors="replace").splitlines()[-12:],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serve-cpu.json").write_text(json.dumps(result, indent=1) + "\n")
    table = ["| change | median (s) | each round (s) |", "| --- | --- | --- |"]
    rows = (("sentence edit", sentence), ("figure added: its placeholder", figure),
            ("figure added: the figure, computed in the background", landed))
    for name, values in rows:
        table.append(f"| {name} | {statistics.median(values):.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} |")
    (RESULTS / "serve-cpu.md").write_text(
        f"From the file write to the reloaded page in Chromium, {ARTICLE}.md, preset "
        f"{args.preset}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end."
        "\n\n" + "\n".join(table) + "\n"
    )
    print("\n".join(table))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
