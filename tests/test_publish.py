# ruff: noqa: E501  (expected messages read best one per line)
"""Publishing never leaves the site down: a process killed (SIGKILL) at every step inside
publish, with the atomic exchange and with the two-rename fallback, leaves the old site or the new
one whole, and the next publish leaves no leftover beside it. Files a person put into the output
folder are kept; `clean` checks before it removes; permissions are ordinary; two builds on one site
take turns through the lock, and a lock left by a killed build is broken."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from generator.cli import main
from generator.core.errors import FeatvisError
from generator.core.lock import lock_path, site_lock
from generator.core.publish import (
    FAULT_STEPS,
    MARKER,
    exchange,
    publish,
    removable,
    remove_site,
    staging,
    sweep,
)

# A child process that renders site VERSION (many files, nested) into a staging folder beside OUT
# and publishes it; the fault variable decides where it dies.
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from generator.core.publish import publish, staging, sweep
    out, version = Path(sys.argv[1]), sys.argv[2]
    sweep(out)
    with staging(out) as tmp:
        for i in range(int(sys.argv[3])):
            page = tmp / f"d{i % 7}" / f"page{i}.html"
            page.parent.mkdir(exist_ok=True)
            page.write_text(f"version {version} page {i}\\n" * 20, encoding="utf-8")
        (tmp / "index.html").write_text(f"version {version}\\n", encoding="utf-8")
        publish(tmp, out)
    """
)


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def run_child(out: Path, version: str, files: int = 40, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(out), version, str(files)],
        env=full, capture_output=True, text=True, timeout=120,
    )


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The snapshot of each site version, published once without faults."""
    shots = {}
    for version in ("A", "B", "C"):
        out = tmp_path_factory.mktemp(f"ref{version}") / "site_output"
        assert run_child(out, version).returncode == 0
        shots[version] = snapshot(out)
    assert shots["A"] != shots["B"] != shots["C"]
    return shots


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
@pytest.mark.parametrize("step", FAULT_STEPS)
def test_kill_at_every_publish_step_leaves_old_or_new(
    tmp_path: Path, versions: dict[str, dict[str, str]], mode: str, step: str
) -> None:
    if mode == "exchange":
        (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
        if not exchange(tmp_path / "a", tmp_path / "b"):
            pytest.skip("this filesystem cannot exchange two paths")
    env = {"FEATVIS_NO_EXCHANGE": "1"} if mode == "fallback" else {}
    parent = tmp_path / "www"
    parent.mkdir()
    out = parent / "site_output"
    assert run_child(out, "A", **env).returncode == 0
    killed = run_child(out, "B", FEATVIS_FAULT=f"publish:{step}", **env)
    expected_kill = not (mode == "exchange" and step == "aside")
    assert killed.returncode == (-signal.SIGKILL if expected_kill else 0), killed.stderr
    if step == "aside" and mode == "fallback":
        # The one window the fallback has: the old site is aside; the next build puts it back.
        assert not out.exists()
        sweep(out)
        assert snapshot(out) == versions["A"]
    else:
        assert out.is_dir(), f"site gone after a kill at {step}"
        assert snapshot(out) in (versions["A"], versions["B"]), f"a mixed site after a kill at {step}"
    # The next build publishes C and leaves nothing beside the site.
    assert run_child(out, "C", **env).returncode == 0
    assert snapshot(out) == versions["C"]
    assert leftovers(out) == []


def test_kill_at_random_moments_never_leaves_a_mixed_site(tmp_path: Path, versions: dict[str, dict[str, str]]) -> None:
    """SIGKILL at random delays during many publishes of a 400-file site (seeded, so repeatable)."""
    rng = random.Random(15)
    out = tmp_path / "www" / "site_output"
    big = {v: None for v in "AB"}
    for version in big:
        ref = tmp_path / f"ref{version}" / "site_output"
        assert run_child(ref, version, files=400).returncode == 0
        big[version] = snapshot(ref)  # type: ignore[assignment]
    assert run_child(out, "A", files=400).returncode == 0
    states = []
    for i in range(12):
        version = "AB"[i % 2]
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), version, "400"])
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert out.is_dir(), f"site gone after kill {i}"
        shot = snapshot(out)
        assert shot in (big["A"], big["B"]), f"a mixed site after kill {i}"
        states.append(shot == big["B"])
    assert len(states) == 12
    assert run_child(out, "A", files=400).returncode == 0
    assert snapshot(out) == big["A"] and leftovers(out) == []


def _publish(out: Path, files: dict[str, str]) -> str | None:
    with staging(out) as tmp:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        return publish(tmp, out).line()


def test_foreign_files_are_kept_and_reported(tmp_path: Path) -> None:
    out = tmp_path / "site_output"
    assert _publish(out, {"index.html": "one", "a/b.html": "x"}) is None
    (out / "CNAME").write_text("example.org\n", encoding="utf-8")
    (out / "notes").mkdir()
    (out / "notes" / "NOTES.txt").write_text("mine", encoding="utf-8")
    (out / "CNAME").chmod(0o600)
    line = _publish(out, {"index.html": "two"})
    assert line is not None and "kept 2 file(s)" in line and "CNAME" in line and "notes/NOTES.txt" in line
    assert (out / "CNAME").read_text(encoding="utf-8") == "example.org\n"
    assert (out / "notes" / "NOTES.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "CNAME").stat().st_mode & 0o777 == 0o600, "a person's file keeps its mode"
    assert not (out / "a").exists(), "a page featvis wrote before and no longer writes goes"
    # A person's file where the new site writes one: refused, the published site unchanged.
    (out / "clash.html").write_text("mine", encoding="utf-8")
    before = snapshot(out)
    with pytest.raises(FeatvisError, match=r"1 file\(s\) featvis did not write stand where the new site writes: clash\.html"):
        _publish(out, {"index.html": "three", "clash.html": "generated"})
    assert snapshot(out) == before and [p for p in leftovers(out) if "featvis" in p] == []


def test_published_permissions_are_ordinary(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        out = tmp_path / "site_output"
        _publish(out, {"index.html": "x", "explorer/a.html": "y"})
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    assert (out / "explorer").stat().st_mode & 0o777 == 0o755
    assert (out / "explorer" / "a.html").stat().st_mode & 0o777 == 0o644
    assert (out / MARKER).stat().st_mode & 0o777 == 0o644


def _site_toml(root: Path, cache: Path) -> Path:
    (root / "site.toml").write_text(f'cache_dir = "{cache}"\ndevice = "cpu"\n', encoding="utf-8")
    return root / "site.toml"


def test_clean_checks_everything_before_removing_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _site_toml(tmp_path, tmp_path / "not-a-cache")
    out = tmp_path / "site_output"
    _publish(out, {"index.html": "x", "explorer/a.html": "y"})
    (tmp_path / "not-a-cache").mkdir()
    (tmp_path / "not-a-cache" / "thesis.tex").write_text("precious", encoding="utf-8")
    before = snapshot(out)
    assert main(["clean", "--all", "--config", str(config)]) == 2
    assert "not a featvis cache; nothing removed" in capsys.readouterr().err
    assert snapshot(out) == before, "the site must survive a refused clean"
    assert (tmp_path / "not-a-cache" / "thesis.tex").exists()
    # Without --all: the files featvis wrote go, a person's file stays and is named.
    (out / "CNAME").write_text("example.org", encoding="utf-8")
    assert main(["clean", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "kept 1 file(s)" in err and "CNAME" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["CNAME"]


def test_clean_refuses_a_folder_featvis_did_not_build(tmp_path: Path) -> None:
    out = tmp_path / "site_output"
    out.mkdir()
    (out / "precious.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(FeatvisError, match="not a folder featvis built"):
        removable(out)
    (out / MARKER).write_text("built by featvis; `featvis clean` removes this folder\n", encoding="utf-8")
    removal = removable(out)  # an earlier featvis's marker: every file is its own
    assert removal is not None and remove_site(removal) == "" and not out.exists()


def test_sweep_removes_leftovers_of_interrupted_builds_only(tmp_path: Path) -> None:
    out = tmp_path / "site_output"
    _publish(out, {"index.html": "x"})
    (tmp_path / ".site_output.featvis-stage-abc").mkdir()
    (tmp_path / ".site_output.featvis-stage-abc" / "index.html").write_text("half", encoding="utf-8")
    legacy = tmp_path / ".site_output.k2j4h5g6"  # an earlier featvis's staging copy, with its marker
    legacy.mkdir()
    (legacy / MARKER).write_text("built by featvis\n", encoding="utf-8")
    mine = tmp_path / ".site_output.backup"  # not featvis's: kept
    mine.mkdir()
    removed = sweep(out)
    assert sorted(p.name for p in removed) == [".site_output.featvis-stage-abc", ".site_output.k2j4h5g6"]
    assert leftovers(out) == [".site_output.backup"] and (out / "index.html").exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from generator.core.lock import site_lock
    out, flag = Path(sys.argv[1]), Path(sys.argv[2])
    with site_lock(out):
        flag.write_text("held")
        while flag.exists():
            time.sleep(0.02)
    """
)


def test_a_second_build_waits_for_the_first(tmp_path: Path) -> None:
    out, flag = tmp_path / "site_output", tmp_path / "flag"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(flag)])
    try:
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock_path(out).read_text(encoding="ascii").strip() == str(holder.pid)
        said: list[str] = []
        got = threading.Event()

        def second() -> None:
            with site_lock(out, say=said.append):
                got.set()

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert not got.is_set(), "the second build must wait while the first holds the lock"
        assert said == [f"waiting for the build by process {holder.pid} to finish (lock {lock_path(out)})"]
        flag.unlink()  # the first build finishes
        thread.join(timeout=30)
        assert got.is_set()
    finally:
        holder.kill()
        holder.wait()
    assert not lock_path(out).exists(), "a released lock leaves no file"


def test_a_lock_left_by_a_killed_build_is_broken(tmp_path: Path) -> None:
    out, flag = tmp_path / "site_output", tmp_path / "flag"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(flag)])
    deadline = time.monotonic() + 30
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock_path(out).read_text(encoding="ascii").strip() == str(holder.pid), "the stale lock stays"
    said: list[str] = []
    start = time.monotonic()
    with site_lock(out, say=said.append):
        assert lock_path(out).read_text(encoding="ascii").strip() == str(os.getpid())
    assert time.monotonic() - start < 5
    assert said == [f"broke a stale lock left by process {holder.pid}, which is gone"]


def test_an_unwritable_output_is_one_line_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"a-file: cannot write the site there \((Not a directory|File exists)\)"):
        with site_lock(tmp_path / "a-file" / "site_output"):
            pass
    if os.geteuid() == 0:
        return  # root writes anywhere
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(FeatvisError, match=r"locked: cannot write the site there \(Permission denied\)"):
            with site_lock(locked / "site_output"):
                pass
    finally:
        locked.chmod(0o755)


def test_an_output_that_is_a_mount_point_is_one_line_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A mounted volume cannot be swapped for the staging folder (EBUSY): refused up front."""
    config = _site_toml(tmp_path, tmp_path / "cache")
    (tmp_path / "content").mkdir()
    out = tmp_path / "site_output"
    out.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out or real(p))
    assert main(["build", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'featvis: error: {out}: a mount point, which a build cannot swap for the new site; choose a folder inside it (output_dir = "{out}/site")'], err
    assert not (tmp_path / "cache").exists() and not list(out.iterdir())


def test_a_full_disk_while_writing_the_site_is_one_line_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import errno
    from types import SimpleNamespace

    from generator import build

    config = _site_toml(tmp_path, tmp_path / "cache")
    (tmp_path / "content").mkdir()
    out = tmp_path / "site_output"
    _publish(out, {"index.html": "the last good site"})
    before = snapshot(out)

    def full(site: object, stage: Path, notices: object) -> None:
        (stage / "index.html").write_text("half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device", str(stage / "images" / "a.png"))

    monkeypatch.setattr(build, "read_site", lambda config, *a, **k: SimpleNamespace(config=config, articles=[]))
    monkeypatch.setattr(build, "settle_site", lambda *a, **k: 0)
    monkeypatch.setattr(build, "_render", full)
    assert main(["build", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"featvis: error: {out}: cannot write the site (No space left on device); unchanged"], err
    assert snapshot(out) == before and [p for p in leftovers(out) if "featvis" in p] == []
