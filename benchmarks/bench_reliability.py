# ruff: noqa: E501  (tables of inputs read best one per line)
"""Drive featvis with bad inputs and kill points, as a hostile but realistic user would.

Builds a small site (one article, one explorer layer, six sample photos, 32 px, 4 steps) with the
real command line, then:

- bad inputs: each mutation of the site (files, flags) is built once; it must end with exactly one
  `featvis: error:` line (exit 2, at most 300 characters and a list of valid choices, naming its source: file:line or flag),
  no traceback, and the published site byte for byte unchanged with nothing left beside it;
- recoverable inputs (a damaged cache sidecar, odd photos): the build must succeed, no traceback;
- kill points (on a site of two explorer layers at an input size of 64 px, so it also has a
  circuit): SIGKILL at 25 points: at fractions of the compute stage (of `build --force`), of the
  measure stage (checks, circuits, accentuations, started with those removed from the cache), of
  render and check, each timed from the stage's own log line, and at every fault-injection step of
  publish (FEATVIS_FAULT). After each, the published site must be the one before the kill (or,
  killed after publish's switch, the complete new one), and a plain rebuild must give the
  reference site (an uninterrupted build's: `diff -r`, ignoring only manifest.json's `seconds`,
  how long each computation took) with no leftovers (staging or old folders, the lock, temp files
  in the cache).

    PYTHONPATH=$PWD python3 benchmarks/bench_reliability.py [--skip bad --skip recover] [--only NAME]

Prints one line per case and the counts; exits 1 when any case fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from hostile import ALIAS_BOMB, png, png_claiming  # noqa: E402  (shared with the tests)
from sitecompare import VOLATILE, timeless_manifest  # noqa: E402

SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"
FAST = ["--size", "32", "--steps", "4", "--channels", "1", "--quiet"]
MAX_LINE = 300  # beyond it, only the list of valid choices a line ends with (kept whole)


def _head(line: str) -> str:
    """An error line less the list of valid choices it ends with."""
    return line.partition(" (did you mean")[0].partition(" (valid:")[0]

ARTICLE = """\
---
title: A small article
description: One gallery, dataset examples and a number.
date: 2024-01-02
---

The model has {{ model.layers }} layers.

```figure
type: layer-gallery
id: gallery
layers: [conv_stem]
channels: 1
caption: Chosen by the build.
```

```figure
type: dataset-examples
layer: conv_stem
channels: [0]
examples: 2
```
"""


def site_toml(root: Path, extra: str = "") -> str:
    return (
        'title = "Reliability"\nexplorer_layers = ["conv_stem"]\ndevice = "cpu"\n'
        f'dataset = "photos"\ncache_dir = "cache"\n{extra}'
    )


def snapshot(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@dataclass
class Site:
    root: Path
    published: dict[str, str] = field(default_factory=dict)
    manifest: Any = None  # the published manifest.json without its timings

    @property
    def out(self) -> Path:
        return self.root / "site_output"

    def run(self, *args: str, env: dict[str, str] | None = None, command: str = "build",
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "generator", command, "--config", str(self.root / "site.toml"),
                *(FAST if command in ("build", "render") else []), *args]
        return subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.name.startswith(".site_output") or p.name.endswith(".lock"))


def make_site(root: Path) -> Site:
    (root / "content").mkdir(parents=True)
    (root / "content" / "a.md").write_text(ARTICLE, encoding="utf-8")
    (root / "photos").mkdir()
    for photo in sorted(SAMPLE.glob("*.jpg"))[:6]:
        shutil.copy(photo, root / "photos" / photo.name)
    (root / "site.toml").write_text(site_toml(root), encoding="utf-8")
    return Site(root)


# Bad inputs: (name, mutate(site) -> extra argv, the source the error must name) --------------


def _file(rel: str, data: bytes | str) -> Callable[[Site], list[str]]:
    def mutate(site: Site) -> list[str]:
        path = site.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        return []
    return mutate


def _article(old: str, new: str) -> Callable[[Site], list[str]]:
    assert old in ARTICLE, old
    return _file("content/a.md", ARTICLE.replace(old, new, 1))


def _toml(extra: str) -> Callable[[Site], list[str]]:
    return lambda site: _file("site.toml", site_toml(site.root, extra))(site)


def _flags(*flags: str) -> Callable[[Site], list[str]]:
    return lambda site: list(flags)


def _weights(kind: str) -> Callable[[Site], list[str]]:
    def mutate(site: Site) -> list[str]:
        import torch

        from generator.models import load_model

        state = {k: v.detach().clone(memory_format=torch.contiguous_format)
                 for k, v in load_model("efficientnet_lite0").net.state_dict().items()}
        gen = torch.Generator().manual_seed(0)
        for value in state.values():  # random weights, as an untrained checkpoint would have
            if value.dtype.is_floating_point:
                value.copy_(torch.randn(value.shape, generator=gen) * 0.1)
        first = next(k for k, v in state.items() if v.dtype.is_floating_point)
        if kind == "nan":
            state[first].view(-1)[0] = float("nan")
        elif kind == "zero":
            state = {k: torch.zeros_like(v) for k, v in state.items()}
        elif kind == "huge":
            state[first].view(-1)[:10] = 3e38
        elif kind == "wrong":
            state = {f"other.{k}": v for k, v in state.items()}
        path = site.root / f"{kind}.pt"
        torch.save(state, path)
        return ["--weights", str(path)]
    return mutate


BAD: list[tuple[str, Callable[[Site], list[str]], str]] = [
    ("site.toml not UTF-8", _file("site.toml", b'title = "caf\xe9"\n'), "site.toml:1"),
    ("site.toml invalid TOML", _file("site.toml", "title = [\n"), "site.toml:1"),
    ("site.toml unknown key", _toml("colour = 3\n"), "site.toml:6"),
    ("site.toml seed beyond 64 bits", _toml(f"seed = {2**70}\n"), "site.toml:6"),
    ("site.toml negative seed", _toml("seed = -1\n"), "site.toml:6"),
    ("site.toml dataset_top_k in the trillions", _toml("dataset_top_k = 1000000000000\n"), "site.toml:6"),
    ("site.toml batch_size 0", _toml("batch_size = 0\n"), "site.toml:6"),
    ("site.toml unsafe_html not a bool", _toml('unsafe_html = "yes"\n'), "site.toml:6"),
    ("site.toml missing templates_dir", _toml('templates_dir = "nowhere"\n'), "site.toml:6"),
    ("site.toml huge key", _toml("k" * 20000 + " = 1\n"), "site.toml:6"),
    ("article not UTF-8", _file("content/a.md", b"---\ntitle: caf\xe9\n---\n"), "content/a.md:1"),
    ("front matter impossible date", _article("date: 2024-01-02", "date: 2024-02-30"), "content/a.md:4"),
    ("caption impossible date", _article("caption: Chosen by the build.", "caption: 2024-13-01"), "content/a.md:14"),
    ("YAML alias bomb", _file("content/a.md", ALIAS_BOMB), "content/a.md:4"),
    ("YAML nested 5000 deep", _file("content/a.md", "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n"), "content/a.md"),
    ("fixed:N width", _article("{{ model.layers }}", "{{ model.layers | fixed:999999999 }}"), "content/a.md:7"),
    ("pct:N width", _article("{{ model.layers }}", "{{ model.layers | pct:99 }}"), "content/a.md:7"),
    ("bottom: banana", _article("examples: 2", "examples: 2\nbottom: banana"), "content/a.md:22"),
    ("figure channels 10**20", _article("channels: [0]", "channels: [100000000000000000000]"), "content/a.md"),
    ("huge float weight", _article("caption: Chosen by the build.\n```", "caption: x\n```\n\n```figure\ntype: diversity\nlayer: conv_stem\nweight: 1e400\n```"), "content/a.md"),
    ("huge int weight", _article("caption: Chosen by the build.\n```", "caption: x\n```\n\n```figure\ntype: diversity\nlayer: conv_stem\nweight: " + "9" * 400 + "\n```"), "content/a.md"),
    ("unknown front matter key, 50k chars", _article("date: 2024-01-02", "date: 2024-01-02\n" + "x" * 50000 + ": 1"), "content/a.md:5"),
    ("--batch-size -1", _flags("--batch-size", "-1"), "--batch-size"),
    ("--batch-size 0", _flags("--batch-size", "0"), "--batch-size"),
    ("--seed beyond 64 bits", _flags("--seed", str(2**70)), "--seed"),
    ("--seed -1", _flags("--seed", "-1"), "--seed"),
    ("--preset banana", _flags("--preset", "banana"), "--preset"),
    ("--size 100000", _flags("--size", "100000"), "--size"),
    ("--steps 0", _flags("--steps", "0"), "--steps"),
    ("unwritable --output (under a file)", lambda s: _file("afile", "x")(s) + ["--output", str(s.root / "afile" / "out")], "afile"),
    ("NaN weights", _weights("nan"), "nan.pt"),
    ("all-zero weights", _weights("zero"), "zero.pt"),
    ("huge float weights", _weights("huge"), "huge.pt"),
    ("weights of another model", _weights("wrong"), "wrong.pt"),
    ("weights not a checkpoint", lambda s: _file("junk.pt", b"not a checkpoint")(s) + ["--weights", str(s.root / "junk.pt")], "junk.pt"),
    ("unsafe_html: external <img>", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<img src="http://example.com/x.png">\n\nThe model')(s), "content/a.md:7"),
    ("unsafe_html: meta refresh", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<meta http-equiv="refresh" content="0; url=http://example.com">\n\nThe model')(s), "content/a.md:7"),
    ("unsafe_html: CSS url() in style", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<p style="background: url(//example.com/a.png)">x</p>\n\nThe model')(s), "content/a.md:7"),
    ("unsafe_html: <object data>", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<object data="ftp://example.com/x.swf"></object>\n\nThe model')(s), "content/a.md:7"),
    ("unsafe_html: script building a URL", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<script>fetch("ht" + "tp://example.com")</script>\n\nThe model')(s), "content/a.md"),
    ("a 10000x10000 image asset", lambda s: _file("content/big.png", png_claiming(10_000, 10_000))(s) + _article("The model", "![big](big.png)\n\nThe model")(s), "big.png"),
]

# Inputs featvis recovers from: the build succeeds, no traceback.
RECOVER: list[tuple[str, Callable[[Site], list[str]]]] = [
    ("raw HTML escaped by default", _article("The model", '<script>alert(1)</script> <object data="movie.swf"></object>\n\nThe model')),
    ("damaged dataset cache sidecar", lambda s: [p.write_text("[]", encoding="utf-8") for p in (s.root / "cache").rglob("meta.json")] and []),
    ("dangling symlink among the photos", lambda s: os.symlink(s.root / "gone.jpg", s.root / "photos" / "zz-dangling.jpg") or []),
    ("symlink loop among the photos", lambda s: (os.symlink("zz-loop-b.jpg", s.root / "photos" / "zz-loop-a.jpg"), os.symlink("zz-loop-a.jpg", s.root / "photos" / "zz-loop-b.jpg")) and []),
    ("a 132-byte 16000x1 PNG among the photos", _file("photos/zz-strip.png", png(16000, 1))),
    ("a 1x16000 PNG among the photos", _file("photos/zz-tall.png", png(1, 16000))),
    ("a PNG claiming 10000x10000 pixels", _file("photos/zz-bomb.png", png_claiming(10_000, 10_000))),
    ("a truncated JPEG among the photos", lambda s: _file("photos/zz-cut.jpg", next(SAMPLE.glob("*.jpg")).read_bytes()[:500])(s)),
    ("a CNAME put into the site folder", _file("site_output/CNAME", "example.org\n")),
]


# Messages: inputs that ended in a traceback, a hang or a misleading line. Each must answer within
# HANG_SECONDS with one `featvis: error:` line naming its source (file:line where there is one). --

HANG_SECONDS = 60
NETWORK = """\
import sys
from torch import nn

def exits():
    sys.exit(0)

def flat():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 224 * 224, 10))
"""
MESSAGE_FILES = ("templates", "net.py", "labels.toml", "whole.pt")  # removed after each case


def _template(name: str, text: str) -> Callable[[Site], list[str]]:
    def mutate(site: Site) -> list[str]:
        _toml('templates_dir = "templates"\n')(site)
        return _file(f"templates/{name}", text)(site)
    return mutate


def _nested(depth: int) -> Callable[[Site], list[str]]:
    return _article("The model", "".join("    " * i + "- item\n" for i in range(depth)) + "\nThe model")


def _python_model(function: str) -> Callable[[Site], list[str]]:
    def mutate(site: Site) -> list[str]:
        _file("net.py", NETWORK)(site)
        return _toml(f'model = "python:net.py:{function}"\n')(site)
    return mutate


def _pickled_model(site: Site) -> list[str]:
    import torch
    from torch import nn

    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)), site.root / "whole.pt")
    return ["--weights", str(site.root / "whole.pt")]


def _base_with_external_img() -> Callable[[Site], list[str]]:
    base = (REPO / "templates" / "base.html").read_text(encoding="utf-8")
    return _template("base.html", base.replace("<body", '<img src="http://example.com/logo.png"><body', 1))


# (name, mutate, the source the error must name, the command)
MESSAGES: list[tuple[str, Callable[[Site], list[str]], str, str]] = [
    ("list nested 400 deep", _nested(400), "content/a.md:57", "build"),
    ("list nested 2000 deep", _nested(2000), "content/a.md:57", "build"),
    ("raw HTML: 400 nested <div>s", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", "<div>\n" * 400 + "x\n" + "</div>\n" * 400 + "\nThe model")(s), "content/a.md:57", "build"),
    ("raw HTML: a Markdown-in-HTML list 400 deep", lambda s: _toml("unsafe_html = true\n")(s) + _article("The model", '<ul markdown="1"><li markdown="1">\n' * 400 + "*x*\n" + "</li></ul>\n" * 400 + "\nThe model")(s), "content/a.md:32", "build"),
    ("block quotes nested 3000 deep", _article("The model", "".join(">" * i + " q\n" for i in range(1, 3001)) + "\nThe model"), "content/a.md:57", "build"),
    ("template syntax error", _template("article.html", "<html>\n{% if %}\n"), "templates/article.html:2", "build"),
    ("template {{ 1/0 }}", _template("article.html", "<html>\n\n{{ 1/0 }}\n"), "templates/article.html:3", "build"),
    ("template include of ../../../../etc/passwd", _template("article.html", "{% include '../../../../etc/passwd' %}\n"), "templates/article.html:1", "build"),
    ("template undefined variable", _template("article.html", "<html>\n{{ no_such_name.title }}\n"), "templates/article.html:2", "build"),
    ("template's external <img> on every page", _base_with_external_img(), "templates/base.html:", "build"),
    ("front matter author with a number key", _article("date: 2024-01-02", "date: 2024-01-02\nauthors: [{name: X, 1: a, b: c}]"), "content/a.md:5", "build"),
    ("demo --out an existing file", lambda s: ["--out", str(s.root / "site.toml"), "--steps", "1", "--size", "16"], "--out", "demo"),
    ("python: factory calling sys.exit(0)", _python_model("exits"), "net.py:5", "build"),
    ("std = [0, 0, 0]", _toml("std = [0, 0, 0]\n"), "site.toml:6", "build"),
    ("a link to content/.secret", lambda s: _file("content/.secret", "key")(s) + _article("The model", "[s](.secret)\n\nThe model")(s), "content/a.md:7", "build"),
    ("a label holding a URL", _file("labels.toml", '"conv_stem:0" = "see http://example.com"\n'), "labels.toml:1", "build"),
    ("a figure reference without a key", _article("{{ model.layers }}", "{{ numbers.gallery }}"), "content/a.md:7", "build"),
    ("a model without a layer to show", _python_model("flat"), "python:net.py:flat", "build"),
    ("a pickled whole model as weights", _pickled_model, "whole.pt", "build"),
    ("layers --model ''", lambda s: ["--model", ""], "--model", "layers"),
]


def messages(site: Site, pristine: Path, tally: Tally, only: str | None) -> None:
    """Each case as the bad inputs are checked, within HANG_SECONDS; the error line must name
    its source and hold no terminal colour codes."""
    print(f"messages (each within {HANG_SECONDS} s):")
    for name, mutate, source, command in MESSAGES:
        if only and not any(o in name for o in only.split(",")):
            continue
        argv = mutate(site)
        start = time.perf_counter()
        try:
            result = site.run(*argv, command=command, timeout=HANG_SECONDS)
        except subprocess.TimeoutExpired:
            tally.hangs += 1
            tally.check(name, False, f"no answer within {HANG_SECONDS} s")
            _restore_messages(site, pristine)
            continue
        _restore_messages(site, pristine)
        why, line = judge_error(site, result, source, tally)
        if source in result.stderr and re.search(r"[\w.-]+:\d+", source):
            tally.named_lines += 1
        problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
        if "external <img>" in name and (len(problems) > 2 or "content/a.md" in result.stderr):
            why.append(f"{len(problems)} problems, not the template's one (text and src)")
        tally.check(f"{name} ({time.perf_counter() - start:.0f} s) {line[16:136]}", not why, "; ".join(why))


def _restore_messages(site: Site, pristine: Path) -> None:
    restore(site, pristine)
    for name in MESSAGE_FILES:
        path = site.root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def article_sizes(tmp: Path, tally: Tally) -> None:
    """A site whose one article is 0.5 MB, then 5 MB, of short paragraphs with links: the larger
    must build in at most 10x the time of the smaller (each build timed cold for its article,
    warm for the visualizations, so the article's cost is what grows)."""
    print("article sizes:")
    site = make_site(tmp / "sizes")
    (site.root / "content" / "b.md").write_text("---\ntitle: B\n---\n\nText.\n", encoding="utf-8")
    warm = site.run(timeout=900)
    if warm.returncode != 0:
        tally.check("article sizes: the first build", False, warm.stderr[-200:])
        return
    seconds = {}
    for paragraphs in (9_000, 90_000):
        text = "".join(f"Paragraph {i} of the article, see [the other](b.md).\n\n" for i in range(paragraphs))
        article = site.root / "content" / "a.md"
        article.write_text("---\ntitle: Long\n---\n\n" + text, encoding="utf-8")
        start = time.perf_counter()
        result = site.run(timeout=900)
        seconds[paragraphs] = time.perf_counter() - start
        mb = article.stat().st_size / 1e6
        tally.tracebacks += "Traceback" in result.stderr
        tally.check(f"a {mb:.2f} MB article builds ({seconds[paragraphs]:.1f} s)", result.returncode == 0, result.stderr[-200:])
    ratio = seconds[90_000] / seconds[9_000]
    tally.check(f"10x the article, {ratio:.1f}x the build time (at most 10x)", ratio <= 10, f"{ratio:.1f}x")


@dataclass
class Tally:
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    tracebacks: int = 0
    site_changed: int = 0
    hangs: int = 0  # runs that gave no answer within HANG_SECONDS
    named_lines: int = 0  # messages (of `messages`) that name the file and line they are about

    def check(self, name: str, ok: bool, why: str) -> None:
        if ok:
            self.passed += 1
            print(f"  ok    {name}")
        else:
            self.failed.append(f"{name}: {why}")
            print(f"  FAIL  {name}: {why}")


def restore(site: Site, pristine: Path) -> None:
    for name in ("content", "photos", "site.toml"):
        target = site.root / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        src = pristine / name
        shutil.copytree(src, target, symlinks=True) if src.is_dir() else shutil.copy(src, target)
    for extra in ("afile", "nan.pt", "zero.pt", "huge.pt", "wrong.pt", "junk.pt"):
        path = site.root / extra
        if path.exists():
            path.unlink()


def judge_error(site: Site, result: subprocess.CompletedProcess[str], source: str,
                tally: Tally) -> tuple[list[str], str]:
    """What is wrong with a run that must end in one error line naming `source` (exit 2, no
    traceback, no terminal colour codes, the published site unchanged, nothing left beside it),
    counted in `tally`; and the error line."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("featvis: error:")]
    traceback = "Traceback" in result.stderr
    tally.tracebacks += traceback
    changed = snapshot(site.out) != site.published
    tally.site_changed += changed
    why = []
    if result.returncode != 2:
        why.append(f"exit {result.returncode}")
    if traceback:
        why.append("traceback: " + result.stderr.strip().splitlines()[-1][:150])
    if len(errors) != 1:
        why.append(f"{len(errors)} error lines")
    elif len(_head(errors[0])) > MAX_LINE or "\x1b" in errors[0]:
        why.append(f"error line of {len(errors[0])} chars or coloured")
    if source not in result.stderr:
        why.append(f"source '{source}' not named: {(errors or [result.stderr[-200:]])[0][:200]}")
    if changed:
        why.append("the published site changed")
    if site.leftovers():
        why.append(f"leftovers {site.leftovers()}")
    return why, errors[0] if errors else ""


def bad_inputs(site: Site, pristine: Path, tally: Tally, only: str | None) -> None:
    print("bad inputs:")
    for name, mutate, source in BAD:
        if only and not any(o in name for o in only.split(",")):
            continue
        try:
            argv = mutate(site)
        except Exception as exc:  # noqa: BLE001 - a broken case is the harness's failure
            tally.check(name, False, f"the case could not be set up: {exc!r}"[:200])
            restore(site, pristine)
            continue
        start = time.perf_counter()
        result = site.run(*argv)
        restore(site, pristine)
        why, line = judge_error(site, result, source, tally)
        tally.check(f"{name} ({time.perf_counter() - start:.0f} s) {line[16:136]}", not why, "; ".join(why))


def recoverable(site: Site, pristine: Path, tally: Tally, only: str | None) -> None:
    print("recoverable inputs:")
    for name, mutate in RECOVER:
        if only and not any(o in name for o in only.split(",")):
            continue
        argv = mutate(site)
        result = site.run(*argv)
        why = []
        if result.returncode != 0:
            why.append(f"exit {result.returncode}: {result.stderr.strip()[-200:]}")
        if "Traceback" in result.stderr:
            tally.tracebacks += 1
            why.append("traceback")
        if not (site.out / "index.html").is_file() or site.leftovers():
            why.append("site missing or leftovers")
        if "escaped" in name and "&lt;script&gt;alert(1)&lt;/script&gt;" not in (site.out / "a.html").read_text(encoding="utf-8"):
            why.append("raw HTML not escaped")
        if "CNAME" in name and not (site.out / "CNAME").is_file():
            why.append("CNAME deleted")
        tally.check(name, not why, "; ".join(why))
        restore(site, pristine)
        (site.out / "CNAME").unlink(missing_ok=True)
    rebuilt = site.run()  # entries recomputed (the damaged sidecars): the timings differ
    files = {k: v for k, v in snapshot(site.out).items() if k != "manifest.json"}
    same = files == {k: v for k, v in site.published.items() if k != "manifest.json"}
    same = same and timeless_manifest(site.out) == site.manifest
    tally.check(f"rebuild after the recoverable inputs is identical (but for {VOLATILE})",
                rebuilt.returncode == 0 and same, rebuilt.stderr[-200:])
    site.published = snapshot(site.out)  # the later sections compare against this build


# Kill points ------------------------------------------------------------------------------------

KILL_TOML = ('title = "Kill points"\nexplorer_layers = ["conv_stem", "blocks.0.0"]\ndevice = "cpu"\n'
             'dataset = "photos"\ncache_dir = "cache"\ninput_size = 64\n')
# (stage, fractions of that stage's length in the reference build): a kill lands that long after
# the build printed the stage's line. compute kills run `build --force` (everything is optimized
# again); measure kills start with the measurements, circuits and accentuations removed.
STAGE_KILLS = {
    "compute": (0.05, 0.2, 0.35, 0.5, 0.7, 0.9),
    "measure": (0.1, 0.3, 0.5, 0.7, 0.9),
    "render": (0.1, 0.3, 0.5, 0.7, 0.9),
    "check": (0.5,),
}
MEASURED = ("measures", "circuits", "accentuation")  # what the measure stage writes in the cache


def same_site(reference: Path, out: Path) -> str:
    """'' when `out` is `reference` (`diff -r`, manifest.json compared without VOLATILE)."""
    diff = subprocess.run(["diff", "-r", "-q", "-x", "manifest.json", str(reference), str(out)],
                          capture_output=True, text=True)
    if diff.returncode != 0:
        return diff.stdout.strip().replace(str(reference), "ref")[:300] or diff.stderr[:200]
    if not (out / "manifest.json").is_file():
        return "no manifest.json"
    return "" if timeless_manifest(reference) == timeless_manifest(out) else "manifest.json differs"


def leftovers(site: Site) -> list[str]:
    """Whatever an interrupted build may leave: staging or old site folders and the lock beside
    the output, temp files in the cache (its .tmp/ folder, `.NAME.*.tmp` of atomic writes)."""
    found = site.leftovers()
    cache = site.root / "cache"
    found += [p.relative_to(site.root).as_posix() for p in cache.rglob("*.tmp") if p.is_file()]
    tmp = cache / ".tmp"
    found += [f"cache/.tmp/{p.name}" for p in tmp.iterdir()] if tmp.is_dir() else []
    return found


def staged_build(site: Site, argv: list[str], stage: str, delay: float,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a build, SIGKILL it `delay` s after it prints `stage`'s line; (process, last stage
    seen when the kill was sent, or 'finished' when it ended first)."""
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "generator", "build", "--config",
                             str(site.root / "site.toml"), *argv], cwd=site.root,
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("featvis: stage "):
                seen.append(line[15:].split(":")[0].strip())
                if seen[-1] == stage:
                    started.set()
        started.set()  # ended without reaching the stage

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if "FEATVIS_FAULT" in (env or {}):  # it kills itself at that step
        proc.wait(timeout=900)
        reader.join(timeout=10)
        return proc, (seen[-1] if seen else "start")
    started.wait(timeout=900)
    time.sleep(delay)
    where = seen[-1] if seen else "start"
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    else:
        where = "finished"
    proc.wait(timeout=60)
    reader.join(timeout=10)
    return proc, where


def stage_times(site: Site, argv: list[str]) -> dict[str, float]:
    """Each stage's length in seconds in one uninterrupted build (from its stage lines)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "generator", "build", "--config",
                             str(site.root / "site.toml"), *argv], cwd=site.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    marks = [(line[15:].split(":")[0].strip(), time.perf_counter() - start)
             for line in proc.stderr if line.startswith("featvis: stage ")]
    if proc.wait() != 0:
        raise SystemExit("the reference build failed")
    marks.append(("end", time.perf_counter() - start))
    return {name: marks[i + 1][1] - t for i, (name, t) in enumerate(marks[:-1])}


def kill_points(tmp: Path, tally: Tally, only: str | None) -> None:
    """kill -9 across compute, measure, render, check and publish; after each a rebuild must give
    the reference site (an uninterrupted build's) with no leftovers."""
    from generator.core.publish import FAULT_STEPS

    print("kill points:")
    site = make_site(tmp / "kill")
    (site.root / "site.toml").write_text(KILL_TOML, encoding="utf-8")
    flags = [f for f in FAST if f != "--quiet"]
    lengths = stage_times(site, flags)  # cold: every stage does its work
    reference = tmp / "reference"
    shutil.copytree(site.out, reference)
    print("  stages of the reference build (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in lengths.items()))
    points: list[tuple[str, str, float, dict[str, str]]] = [
        (f"{stage} at {f:.0%}", stage, f * lengths[stage], {})
        for stage, fractions in STAGE_KILLS.items() for f in fractions
    ]
    points += [(f"publish:{step}", "publish", 0.0, {"FEATVIS_FAULT": f"publish:{step}"})
               for step in FAULT_STEPS if step != "aside"]
    points += [("publish:aside (two-rename fallback)", "publish", 0.0,
                {"FEATVIS_FAULT": "publish:aside", "FEATVIS_NO_EXCHANGE": "1"})]
    for name, stage, delay, env in points:
        if only and not any(o in name for o in only.split(",")):
            continue
        if stage == "measure":
            for folder in MEASURED:
                shutil.rmtree(site.root / "cache" / folder, ignore_errors=True)
        before = snapshot(site.out)
        argv = flags + (["--force"] if stage == "compute" else [])
        proc, where = staged_build(site, argv, stage, delay, env)
        killed = proc.returncode == -signal.SIGKILL
        after = snapshot(site.out)
        # the site before the kill, or (a kill after publish's switch) the complete new one
        intact = after == before or (not after and "aside" in name)
        intact = intact or (bool(after) and not same_site(reference, site.out))
        tally.site_changed += not intact
        again = site.run(env={k: v for k, v in env.items() if k != "FEATVIS_FAULT"})
        tally.tracebacks += "Traceback" in again.stderr
        why = []
        if not killed:
            why.append(f"not killed (exit {proc.returncode}, {where})")
        if not intact:
            why.append("the published site changed or vanished after the kill")
        if again.returncode != 0:
            why.append(f"the rebuild failed (exit {again.returncode}) {again.stderr[-160:]}")
        elif differ := same_site(reference, site.out):
            why.append(f"the rebuilt site differs: {differ}")
        if rest := leftovers(site):
            why.append(f"leftovers {rest[:5]}")
        tally.check(f"kill {name} ({delay:.1f} s into {stage}; killed in {where})", not why,
                    "; ".join(why))
    print(f"  compared with `diff -r` against the reference, ignoring only {VOLATILE}")


# Cache and state: the key, history, damaged entries, the cache's lock ---------------------------
# A site over its own cache: changing `mean` must compute new pictures; a build over a cache filled
# by another configuration (no photos; fewer channels) must publish what a cold build does, and
# `status` must find nothing missing after it; each damaged entry (one kind at a time) must be one warning line naming
# the file, recomputed in the same build (the site as before, status 0 missing); `clean --all`
# while `compute` runs must refuse with one line and leave compute to finish.

STATUS = ["--size", "32", "--steps", "4", "--channels", "1"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE: list[tuple[str, str, Callable[[Path], None]]] = [  # (name, glob under the cache, damage)
    ('sidecar replaced by {"job": 1}', "??/*/meta.json", lambda p: p.write_text('{"job": 1}')),
    ("sidecar truncated", "??/*/meta.json", _truncate),
    ("visualization image is a folder", "??/*/image-0.png", _folder),
    ("circuits .npz truncated", "circuits/*/*.npz", _truncate),
    ("accentuation sidecar holding []", "accentuation/*/*.json", lambda p: p.write_text("[]")),
    ("accentuation image is a folder", "accentuation/*/*.png", _folder),
    ("measurement truncated", "measures/*/*.json", _truncate),
    ("dataset table truncated", "dataset/*/*.pt", _truncate),
]


def _status_missing(site: Site) -> str:
    result = site.run(*STATUS, command="status")
    first = (result.stdout.splitlines() or [""])[0]
    return "" if result.returncode == 0 and " 0 missing" in first else f"status: {first[-80:] or result.stderr[-120:]}"


def cache_state(tmp: Path, tally: Tally, only: str | None) -> None:
    print("cache and state:")
    site = make_site(tmp / "state")
    extra = ""  # the default batch size: a damaged entry is computed again in other company

    def wanted(name: str) -> bool:
        return not only or any(o in name for o in only.split(","))

    toml = site.root / "site.toml"
    toml.write_text(site_toml(site.root, extra), encoding="utf-8")
    if wanted("history"):
        toml.write_text(site_toml(site.root, extra).replace('dataset = "photos"\n', ""), encoding="utf-8")
        warm = site.run()
        toml.write_text(site_toml(site.root, extra), encoding="utf-8")
        warm = warm if warm.returncode else site.run()
        shutil.copytree(site.out, tmp / "state-warm")
        why = [f"warm build exit {warm.returncode}: {warm.stderr[-150:]}"] if warm.returncode else []
        cleaned = site.run("--all", command="clean")
        cold = site.run()
        why += [f"cold build exit {cold.returncode}"] if cold.returncode or cleaned.returncode else []
        diff = "" if why else same_site(site.out, tmp / "state-warm")
        why += [f"differs from the cold build: {diff}"] if diff else []
        why += [m] if (m := _status_missing(site)) else []
        tally.check("a build over a cache filled without photos publishes the cold build's site", not why, "; ".join(why))
    else:
        site.run()
    if wanted("fewer"):  # the cache holds a subset of the jobs: the rest optimized in other company
        more = ["--channels", "3"]
        warm = site.run(*more)
        shutil.copytree(site.out, tmp / "state-warm3")
        site.run("--all", command="clean")
        cold = site.run(*more)
        why = [f"build exit {warm.returncode}/{cold.returncode}"] if warm.returncode or cold.returncode else []
        diff = "" if why else same_site(site.out, tmp / "state-warm3")
        why += [f"differs from the cold build: {diff}"] if diff else []
        tally.check("a build over a cache filled with fewer channels publishes the cold build's site", not why, "; ".join(why))
        site.run()
    reference = tmp / "state-ref"
    shutil.copytree(site.out, reference)
    if wanted("mean"):
        toml.write_text(site_toml(site.root, extra + "mean = [0.4, 0.45, 0.5]\n"), encoding="utf-8")
        changed = site.run()
        toml.write_text(site_toml(site.root, extra), encoding="utf-8")
        computed = "(0 computed)" not in changed.stdout and changed.returncode == 0
        tally.check("mean changed in site.toml computes new pictures", computed, changed.stdout[-150:] + changed.stderr[-150:])
        site.run()  # back to the reference
    site.run("--all", command="clean")  # the damage below hits entries this site reads
    site.run()
    for name, pattern, hurt in DAMAGE:
        if not wanted(name):
            continue
        files = sorted((site.root / "cache").glob(pattern))
        if not files:
            tally.check(f"damaged: {name}", False, f"no cache/{pattern} to damage")
            continue
        files = files[:1] if "??" in pattern or "accentuation" in pattern else files
        for file in files:  # one picture: computed again without the others of its batch
            hurt(file)
        result = site.run()
        lines = [line for line in result.stderr.splitlines() if line.startswith("featvis: warning:")]
        unnamed = [f for f in files if sum(str(f) in x or f"; {f.parent})" in x for x in lines) != 1]
        why = [f"exit {result.returncode}"] if result.returncode else []
        if "Traceback" in result.stderr:
            tally.tracebacks += 1
            why.append("traceback: " + result.stderr.strip().splitlines()[-1][:150])
        why += [f"{len(unnamed)} of {len(files)} files not named by one warning line"] if unnamed else []
        why += ["nothing recomputed"] if "??" in pattern and "(0 computed)" in result.stdout else []
        diff = same_site(reference, site.out) if not result.returncode else ""
        why += [f"site differs: {diff}"] if diff else []
        why += [m] if (m := _status_missing(site)) else []
        tally.check(f"damaged: {name} ({len(files)} files)", not why, "; ".join(why))
    if wanted("clean"):
        compute = subprocess.Popen(
            [sys.executable, "-m", "generator", "compute", "--config", str(toml), *STATUS, "--quiet", "--force"],
            cwd=site.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (site.root / "cache" / ".lock").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        clean = site.run("--all", command="clean", timeout=60)
        out, err = compute.communicate(timeout=600)
        errors = [line for line in clean.stderr.splitlines() if line.startswith("featvis: error:")]
        why = [f"clean exit {clean.returncode}"] if clean.returncode != 2 else []
        why += [f"{len(errors)} error lines"] if len(errors) != 1 else []
        why += [f"compute exit {compute.returncode}: {err.strip()[-150:]}"] if compute.returncode else []
        if "Traceback" in err + clean.stderr:
            tally.tracebacks += 1
            why.append("traceback")
        tally.check(f"clean --all while compute runs: {errors[0][16:120] if errors else ''}", not why, "; ".join(why))


def main() -> int:
    global HANG_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="run the cases whose name contains one of these (comma-separated)")
    parser.add_argument("--skip", action="append", default=[], choices=["bad", "recover", "kill", "messages", "sizes", "cache"])
    parser.add_argument("--hang-seconds", type=float, default=HANG_SECONDS, help="the messages' time limit (default 60; more on a crowded machine)")
    args = parser.parse_args()
    HANG_SECONDS = args.hang_seconds
    if not SAMPLE.is_dir():
        print(f"{SAMPLE} is absent", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="featvis-reliability-") as tmp:
        site = make_site(Path(tmp) / "site")
        pristine = Path(tmp) / "pristine"
        pristine.mkdir()
        for name in ("content", "photos", "site.toml"):
            src = site.root / name
            shutil.copytree(src, pristine / name) if src.is_dir() else shutil.copy(src, pristine / name)
        first = site.run()
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 2
        site.published = snapshot(site.out)
        site.manifest = timeless_manifest(site.out)
        tally = Tally()
        if "bad" not in args.skip:
            bad_inputs(site, pristine, tally, args.only)
        if "recover" not in args.skip:
            recoverable(site, pristine, tally, args.only)
        if "messages" not in args.skip:
            messages(site, pristine, tally, args.only)
        if "sizes" not in args.skip and not args.only:
            article_sizes(Path(tmp), tally)
        if "kill" not in args.skip:
            kill_points(Path(tmp), tally, args.only)
        if "cache" not in args.skip:
            cache_state(Path(tmp), tally, args.only)
    print(f"passed {tally.passed}, failed {len(tally.failed)}; tracebacks {tally.tracebacks}; "
          f"hangs {tally.hangs}; messages naming file:line {tally.named_lines}; "
          f"published site changed or vanished {tally.site_changed}")
    for line in tally.failed:
        print(f"  {line}")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
