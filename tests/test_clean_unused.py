"""`featvis clean --unused`: after the site changed, the cache entries it no longer reads go, what
it reads stays (it renders from the cache alone), files the cache does not know are kept, and a
site that cannot be read removes nothing.

The toy site of `test_cache_state` (the example's small CNN at 32 px, two steps, six photos) in a
private cache: built, then built again with more steps and one more photo, so the first build's
visualizations, scan and measurements are read no more.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from test_cache_state import FAST, SAMPLE, featvis, published, toy_site  # noqa: E402

SECOND = ["--size", "32", "--steps", "3", "--channels", "1", "--closure", "0", "--quiet"]


def files(cache: Path) -> set[str]:
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}


def visualizations(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("??/*") if p.is_dir()}


def test_clean_unused_removes_what_the_site_no_longer_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = toy_site(tmp_path, photos=True)
    cache = root / "cache"
    assert featvis(root, "build", *FAST) == 0
    first = visualizations(cache)
    first_scans = {p.name for p in (cache / "dataset").iterdir()}
    extra = sorted(SAMPLE.glob("*.jpg"))[6]
    shutil.copy(extra, root / "photos" / extra.name)  # the measurements that read photos change
    assert featvis(root, "build", *SECOND) == 0
    site = published(root)
    (cache / "notes.txt").write_text("mine\n", encoding="utf-8")
    (cache / "measures" / "mine").mkdir()
    before = files(cache)

    toml = root / "site.toml"
    good = toml.read_text(encoding="utf-8")
    toml.write_text(good + "colour = 3\n", encoding="utf-8")
    capsys.readouterr()
    assert featvis(root, "clean", "--unused", *SECOND[:-1]) == 2  # a bad site.toml: refused
    assert "site.toml" in capsys.readouterr().err
    assert files(cache) == before
    toml.write_text(good, encoding="utf-8")

    assert featvis(root, "clean", "--unused", *SECOND[:-1]) == 0
    line = capsys.readouterr().out
    assert "the site no longer reads; kept" in line and "and 2 other files" in line
    removed = int(line.split("removed ")[1].split()[0].replace(",", ""))
    left = files(cache)
    assert left < before and removed >= len(first)
    assert not first & visualizations(cache)  # the two-step pictures are gone
    assert not first_scans & {p.name for p in (cache / "dataset").iterdir()}
    assert {"notes.txt", "featvis-cache.json"} <= left and (cache / "measures" / "mine").is_dir()

    assert featvis(root, "render", *SECOND) == 0  # nothing the site reads was removed
    assert published(root) == site
    capsys.readouterr()
    assert featvis(root, "clean", "--unused", *SECOND[:-1]) == 0
    assert capsys.readouterr().out.startswith("featvis: removed 0 entries (0 bytes)")
    assert files(cache) == left

    # a preset the cache holds only part of: what is there and read stays, nothing is computed
    held = visualizations(cache)
    assert featvis(root, "clean", "--unused", *SECOND[:4], "--channels", "2") == 0
    assert visualizations(cache) == held


def test_the_sweep_removes_whole_entries_of_the_layout_and_keeps_the_rest(tmp_path: Path) -> None:
    from generator.cache.sweep import sweep_unused

    cache = tmp_path / "cache"
    read = {"ab/ab12/meta.json", "measures/cd/cd34.json", "circuits/ef/ef56.npz",
            "accentuation/01/0123.png", "accentuation/01/0123.json", "dataset/keep"}
    gone = {"ab/ab99/meta.json", "ab/ab99/image-0.png", "measures/cd/cd99.pt",
            "circuits/ef/ef99.npz", "circuits/99/9999.npz", "accentuation/01/0199.png",
            "accentuation/01/0199.json",
            "dataset/old/meta.json", "dataset/old/state/files.json"}
    other = {"featvis-cache.json", ".lock", ".tmp/x.host.1.y/z", "notes.txt", "ab/stray.txt",
             "measures/cd/.cd77.json.x.tmp", "measures/mine/a.json", "dataset/.superseded-x/m.pt",
             "zz/zz12/meta.json", "circuits/README.md"}
    for name in read | gone | other:
        path = cache / (name if "." in Path(name).name else f"{name}/meta.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"12345")
    (cache / "dataset" / "linked").symlink_to(cache / "dataset" / "old")
    kept = {(cache / name).parent if name.startswith("ab/") else cache / name for name in read}
    swept = sweep_unused(cache, {p.absolute() for p in kept})
    assert (swept.removed, swept.freed) == (7, 9 * 5)
    assert swept.kept == 6 and swept.unknown == 8, swept
    assert swept.line() == ("removed 7 entries (45 bytes) the site no longer reads; kept 6 and "
                            "8 other files")
    left = {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}
    assert not any(name in left for name in gone)
    assert {name for name in other if not name.startswith(".tmp")} <= left
    assert (cache / "dataset" / "linked").is_symlink()
    assert not list((cache / ".tmp").glob("unused.*"))  # nothing left half removed
    assert (cache / "ab").is_dir() and not (cache / "circuits" / "99").exists()  # emptied
    assert {p.name for p in (cache / "accentuation").iterdir()} == {"01"}
