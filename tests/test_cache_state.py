"""The site is a function of its inputs, never of the cache's history, and the cache is never
removed from under a writer.

A toy site (the example's small CNN with seeded weights at 32 px, two steps, six photos) is built
over a cache another configuration filled (no photos, fewer channels: a subset of its jobs, so the
missing ones are optimized in other company), then cold, both at the default batch size: the two
publish the same bytes, and `status` finds nothing missing after either. `clean --all` refuses
while a writer holds the cache's lock.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.cli import main
from generator.core.lock import cache_lock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from sitecompare import timeless_manifest  # noqa: E402

SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"
FAST = ["--size", "32", "--steps", "2", "--channels", "1", "--closure", "0", "--quiet"]
MORE = [*FAST[:4], "--channels", "3", "--closure", "0", "--quiet"]
ARTICLE = """\
---
title: Toy
---

```figure
type: layer-gallery
layers: [stage1.0]
channels: 2
```
"""


def toy_site(root: Path, *, photos: bool) -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "a.md").write_text(ARTICLE, encoding="utf-8")
    shutil.copy(REPO / "examples" / "own-model" / "tiny_cnn.py", root / "net.py")
    if not (root / "photos").is_dir():
        (root / "photos").mkdir()
        for photo in sorted(SAMPLE.glob("*.jpg"))[:6]:
            shutil.copy(photo, root / "photos" / photo.name)
    dataset = 'dataset = "photos"\n' if photos else ""
    (root / "site.toml").write_text(
        'title = "Toy"\nmodel = "python:net.py:build"\ninput_size = 32\ndevice = "cpu"\n'
        f'explorer_layers = ["stage1.0"]\ncache_dir = "cache"\n{dataset}',
        encoding="utf-8",
    )
    return root


def featvis(root: Path, *args: str) -> int:
    return main([*args, "--config", str(root / "site.toml")])


def published(root: Path) -> dict[str, bytes]:
    out = root / "site_output"
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    files["manifest.json"] = repr(timeless_manifest(out)).encode()
    return files


def test_a_build_over_another_configurations_cache_publishes_what_a_cold_one_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = toy_site(tmp_path, photos=False)
    assert featvis(root, "build", *FAST) == 0  # channels chosen from a survey of the cache
    toy_site(root, photos=True)
    assert featvis(root, "build", *MORE) == 0  # now from the photos' statistics
    warm = published(root)
    capsys.readouterr()
    assert featvis(root, "status", *MORE[:-1]) == 0
    assert " 0 missing" in capsys.readouterr().out
    assert featvis(root, "clean", "--all") == 0
    assert featvis(root, "build", *MORE) == 0
    cold = published(root)
    assert sorted(warm) == sorted(cold)
    assert [name for name in warm if warm[name] != cold[name]] == []
    capsys.readouterr()
    assert featvis(root, "status", *MORE[:-1]) == 0
    assert " 0 missing" in capsys.readouterr().out


@contextlib.contextmanager
def held(cache: Path) -> Iterator[None]:
    """`cache` held by another process for the block, as a running `featvis compute` holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from generator.core.lock import cache_lock\n"
         "with cache_lock(__import__('pathlib').Path(sys.argv[1])):\n"
         "    print('held', flush=True); time.sleep(60)", str(cache)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_clean_all_and_unused_refuse_while_a_writer_holds_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = toy_site(tmp_path, photos=False)
    cache = root / "cache"
    with held(cache):
        (cache / "featvis-cache.json").write_text('{"format": 1}\n')
        capsys.readouterr()
        assert featvis(root, "clean", "--all") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by a running build or compute" in err[0], err
        assert (cache / "featvis-cache.json").is_file()  # nothing removed
        (cache / "ab" / "ab12").mkdir(parents=True)  # an entry no site reads
        assert featvis(root, "clean", "--unused") == 2  # the same refusal
        assert "in use by a running build or compute" in capsys.readouterr().err
        assert (cache / "ab" / "ab12").is_dir()
    assert featvis(root, "clean", "--all") == 0
    assert not cache.exists()


def test_a_writer_waiting_on_clean_takes_the_new_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with cache_lock(cache):
        pass
    with cache_lock(cache, exclusive=True):
        shutil.rmtree(cache)  # what `clean --all` does while it holds the lock
    start = time.perf_counter()
    with cache_lock(cache):
        assert (cache / ".lock").is_file()
    assert time.perf_counter() - start < 5


def damage(cache: Path) -> list[Path]:
    """Every kind of cached artifact damaged as a disk, a person or a killed tool might leave
    it; returns the files damaged."""

    def truncate(path: Path) -> Path:
        path.write_bytes(path.read_bytes()[:40])
        return path

    def folder(path: Path) -> Path:
        path.unlink()
        path.mkdir()
        return path

    sidecars = sorted(cache.glob("??/*/meta.json"))
    sidecars[0].write_text('{"job": 1}', encoding="utf-8")
    accents = sorted((cache / "accentuation").glob("*/*.json"))
    accents[0].write_text("[]", encoding="utf-8")
    return [
        sidecars[0], truncate(sidecars[1]), folder(sidecars[2].parent / "image-0.png"),
        *(truncate(p) for p in sorted((cache / "circuits").glob("*/*.npz"))),
        # every accentuation, so they are computed again in one batch, as before (which images
        # share a batch changes the last bits of their numbers)
        accents[0], folder(accents[1].with_suffix(".png")), *(truncate(p) for p in accents[2:]),
        *(truncate(p) for p in sorted((cache / "measures").glob("*/*.*"))),
        *(truncate(p) for p in sorted((cache / "dataset").glob("*/*.pt"))),
    ]


def test_damaged_cache_entries_are_reported_and_recomputed_in_the_same_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = toy_site(tmp_path, photos=True)
    assert featvis(root, "build", *FAST) == 0
    before = published(root)
    damaged = damage(root / "cache")
    assert len(damaged) >= 8
    capsys.readouterr()
    assert featvis(root, "build", *FAST) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("featvis: warning: ")]
    for path in damaged:  # one line each, naming the file (a visualization's: its folder)
        named = [w for w in warned if str(path) in w or f"; {path.parent})" in w]
        assert len(named) == 1, (path, warned)
    assert "Traceback" not in err
    assert published(root) == before  # recomputed: the same site
    capsys.readouterr()
    assert featvis(root, "status", *FAST[:-1]) == 0
    assert " 0 missing" in capsys.readouterr().out
    assert featvis(root, "build", *FAST) == 0
    assert "warning: " not in capsys.readouterr().err  # nothing damaged is left
