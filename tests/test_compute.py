"""featvis compute / status end to end: resume after kill -9, corrupt entries, torchrun with two
CPU processes, a warm second run, and bad input. What needs a process of its own (a kill, the
launcher, the exit code of a real process) starts one; the other commands run in this process
(tests/inprocess.py), one thread as each process has.

Everything runs at toy sizes (32-48 px, a few steps, three channels of four shallow layers of the
embedded model) with one thread per process, so the whole file stays well under two minutes. The
kill -9 runs and torchrun's processes compute the own-model example's network (`own_site`), which
a process loads without timm: what they test is the cache's and the launcher's, not a network's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inprocess import Ran, featvis_here

from generator.cache.store import FORMAT_FILE, TMP_DIR, ArtifactStore
from generator.cache.temp import temp_host
from generator.cli import main
from generator.config.presets import PRESETS, Preset
from generator.config.site import SiteConfig, load_config
from generator.core.errors import FeatvisError
from generator.figures.channels import single_channel
from generator.figures.registry import bind_articles, read_articles
from generator.jobs import SitePlan, VisJob, check_jobs
from generator.models import LoadedModel
from generator.optvis import objectives as obj
from generator.plan.site import plan_site

LAYERS = ("conv_stem", "blocks.0.0", "blocks.1.0", "blocks.1.1")
TINY = ("--size", "32", "--steps", "6", "--channels", "3", "--closure", "0", "--quiet")
STATUS = TINY[:-1]  # status computes nothing: it has no progress to quiet
N_JOBS = len(LAYERS) * 3 * 2  # three channels per layer, each with its channel page's negative


def make_site(root: Path, layers: tuple[str, ...] = LAYERS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)
    names = ", ".join(f'"{name}"' for name in layers)
    (root / "site.toml").write_text(f"explorer_layers = [{names}]\n")
    return root


OWN_NET = Path(__file__).resolve().parents[1] / "examples" / "own-model" / "tiny_cnn.py"
OWN_LAYERS = ("stem.2", "stage1.0", "stage2.0", "stage3.0")  # as many as `LAYERS`: `N_JOBS` jobs


def own_site(root: Path, layers: tuple[str, ...] = OWN_LAYERS) -> Path:
    """`make_site` of the own-model example's network (seeded, 32 px) with `layers` in its
    explorer."""
    make_site(root, layers)
    with (root / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'model = "python:{OWN_NET}:build"\nseed = 3\ninput_size = 32\n')
    return root


def site_plan(
    config: SiteConfig, model: LoadedModel, preset: Preset, store: ArtifactStore
) -> SitePlan:
    """`plan_site` over the site's articles, read and bound to `model` as `read_site` does."""
    articles = bind_articles(read_articles(config), model)
    return plan_site(config, model, preset, store=store, articles=articles)


def env(threads: int = 1) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def featvis_args(site: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "generator", *args, "--config", str(site / "site.toml")]


def featvis(
    site: Path, *args: str, ok: bool = True, threads: int = 1
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(featvis_args(site, *args), cwd=site, env=env(threads),
                          capture_output=True, text=True, timeout=180)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def here(
    site: Path, *args: str, capture: pytest.CaptureFixture[str] | None = None, ok: bool = True
) -> Ran:
    """`featvis` as `featvis` runs it, in this process with one thread."""
    return featvis_here(*args, "--config", str(site / "site.toml"), capture=capture, cwd=site,
                        threads=1, ok=ok)


SUMMARY = re.compile(r"computed (\d+), cached (\d+), failed (\d+) in ([\d.]+) s on (\S+)")


def summary(stdout: str) -> tuple[int, int, int, float]:
    m = SUMMARY.search(stdout)
    assert m, stdout
    return int(m[1]), int(m[2]), int(m[3]), float(m[4])


def complete(cache: Path) -> dict[str, tuple[int, int]]:
    """Published artifacts: key -> (inode, mtime_ns) of the sidecar."""
    out = {}
    for meta in cache.glob("??/*/meta.json"):  # ??: not .tmp/
        st = meta.stat()
        out[meta.parent.name] = (st.st_ino, st.st_mtime_ns)
    return out


def problems(cache: Path) -> dict[str, str | None]:
    return dict(ArtifactStore(cache).entries())


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site whose cache holds the whole tiny plan, computed one job per batch."""
    site = make_site(tmp_path_factory.mktemp("computed"))
    proc = here(site, "compute", *TINY, "--batch-size", "1")
    assert summary(proc.stdout)[:3] == (N_JOBS, 0, 0)
    return site


def test_a_second_compute_does_no_optimization(computed: Path, capsys):
    cache = computed / ".featvis-cache"
    before = complete(cache)
    assert len(before) == N_JOBS and all(p is None for p in problems(cache).values())
    proc = here(computed, "compute", *TINY, capture=capsys)
    n, cached, failed, _seconds = summary(proc.stdout)
    assert (n, cached, failed) == (0, N_JOBS, 0)  # nothing optimized: no timing needed to say so
    assert complete(cache) == before
    status = here(computed, "status", *STATUS, capture=capsys).stdout
    assert f"{N_JOBS} of {N_JOBS} jobs cached, 0 missing" in status
    assert re.search(r"^blocks\.1\.1\s+6\s+0$", status, re.M), status

    images = {k: (cache / k[:2] / k / "image-0.png").read_bytes() for k in before}
    forced = here(computed, "compute", *TINY, "--force", "--only", "conv_stem",
                  "--batch-size", "1", capture=capsys)
    assert summary(forced.stdout)[:3] == (6, 0, 0)
    after = complete(cache)
    changed = {k for k in before if after[k] != before[k]}
    assert len(changed) == 6 and all(k in after for k in before)
    layers = {json.loads((cache / k[:2] / k / "meta.json").read_text())["job"]["objectives"][0][0]
              ["layer"] for k in changed}
    assert layers == {"conv_stem"}
    for key in changed:  # recomputed from the same spec: the same pixels
        assert (cache / key[:2] / key / "image-0.png").read_bytes() == images[key]


def test_status_and_clean_unused_follow_the_settings_the_site_was_built_with(
    computed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """After a build with flags (here a render from the cache, which publishes the same way), a
    plain `featvis status` counts that build's jobs, not those of the site.toml preset a plain
    build would use, and its first line says which settings it counts and what a plain build
    uses; given flags, it counts theirs and names the built site's. A plain `clean --unused`
    keeps what that site reads, where it once kept what a plain build would read: nothing; a
    plain `render` draws that site again, where it once refused for want of the plain build's.
    The commands run in this process (what they print is the same as in a subprocess)."""
    site = tmp_path / "site"
    shutil.copytree(computed, site)

    def featvis(site: Path, *args: str) -> pytest.CaptureResult[str]:  # in this process
        capsys.readouterr()
        assert main([*args, "--config", str(site / "site.toml")]) == 0, capsys.readouterr().err
        return capsys.readouterr()

    featvis(site, "render", *TINY)
    built = "--preset standard --size 32 --steps 6 --channels 3 --closure 0"
    plain = featvis(site, "status").out.splitlines()
    assert plain[0] == (
        f"status of the site in {site / 'site_output'}, built with {built}; a plain `featvis "
        "build` uses --preset standard (`featvis status --preset standard` counts what it "
        "would compute)"
    ), plain[0]
    assert f"{N_JOBS} of {N_JOBS} jobs cached, 0 missing" in plain[1], plain
    given = featvis(site, "status", "--preset", "quick", "--size", "48").out.splitlines()
    assert given[0] == (
        f"status of the settings given (--preset quick --size 48); the site in "
        f"{site / 'site_output'} was built with {built}"
    ), given[0]
    assert re.search(r": 0 of \d+ jobs cached", given[1]), given
    cache = site / ".featvis-cache"
    before = complete(cache)
    cleaned = featvis(site, "clean", "--unused").out
    assert f"keeping what the site in {site / 'site_output'} reads, built with {built}" in cleaned
    assert complete(cache) == before and len(before) == N_JOBS, cleaned
    rendered = featvis(site, "render").err  # draws what that build computed, and says so
    assert (
        f"rendering with the settings the site in {site / 'site_output'} was built with "
        f"({built}); a plain `featvis build` uses --preset standard"
    ) in rendered, rendered
    # `serve` previews that site, and its background compute is given the same settings
    from generator.cli import build_parser, check_flags
    from generator.commands.build import _config
    from generator.commands.serve import following_the_built_site
    from generator.serve.computer import child_flags

    def serve_flags(*flags: str) -> str:
        args = check_flags(build_parser().parse_args(
            ["serve", "--config", str(site / "site.toml"), *flags]
        ))
        return " ".join(child_flags(following_the_built_site(args, _config(args))))

    shown = serve_flags()
    assert built.replace("--closure 0", "--closure 0.0") in shown, shown
    assert "previewing with the settings the site" in capsys.readouterr().err
    assert "--steps 6" not in serve_flags("--steps", "4")  # flags given: theirs alone


def test_status_on_an_empty_cache_computes_and_writes_nothing(tmp_path: Path, capsys):
    site = make_site(tmp_path)
    out = here(site, "status", *STATUS, "--only", "blocks.0.0", capture=capsys).stdout
    assert "0 of 6 jobs cached, 6 missing" in out
    assert out.splitlines()[0].startswith("status of the settings given (--preset standard")
    bare = here(site, "status", "--only", "blocks.0.0", capture=capsys).stdout.splitlines()[0]
    assert bare == (
        "status of the settings a plain `featvis build` uses (--preset standard); no site "
        f"built in {site / 'site_output'} yet"
    ), bare
    assert re.search(r"^blocks\.0\.0\s+0\s+6$", out, re.M), out
    assert not (site / ".featvis-cache").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_corrupt_entries_are_reported_and_recomputed(computed: Path, tmp_path: Path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(computed / ".featvis-cache", cache)
    site = make_site(tmp_path / "site")
    keys = sorted(complete(cache))
    truncated, garbage, partial = keys[:3]
    image = cache / truncated[:2] / truncated / "image-0.png"
    image.write_bytes(image.read_bytes()[:100])
    (cache / garbage[:2] / garbage / "meta.json").write_text('{"key": ')
    (cache / partial[:2] / partial / "meta.json").unlink()
    leftover = cache / TMP_DIR / f"{keys[3]}.{temp_host()}.{_dead_pid()}.x1y2z3"
    leftover.mkdir()
    (leftover / "image-0.png").write_bytes(b"\x89PNG half")
    untouched = {k: v for k, v in complete(cache).items() if k in keys[3:]}
    originals = {k: (computed / ".featvis-cache" / k[:2] / k / "image-0.png").read_bytes()
                 for k in keys[:3]}

    proc = here(site, "compute", *TINY, "--batch-size", "1", "--cache", str(cache), capture=capsys)
    assert summary(proc.stdout)[:3] == (3, N_JOBS - 3, 0)
    for key in (truncated, garbage, partial):
        assert re.search(rf"warning: cache entry {key} is unusable", proc.stderr), proc.stderr
    assert not leftover.exists()
    assert all(p is None for p in problems(cache).values()) and len(problems(cache)) == N_JOBS
    after = complete(cache)
    assert {k: after[k] for k in untouched} == untouched
    for key, data in originals.items():  # same seeds, same batch composition: same bytes
        assert (cache / key[:2] / key / "image-0.png").read_bytes() == data


def _run_until(site: Path, cache: Path, condition, what: str) -> None:
    """Start a compute, kill -9 it as soon as `condition()` holds."""
    args = featvis_args(site, "compute", "--size", "48", "--steps", "40", "--channels", "3",
                        "--closure", "0", "--quiet", "--batch-size", "1", "--cache", str(cache))
    proc = subprocess.Popen(args, cwd=site, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not condition():
            if proc.poll() is not None:
                pytest.fail(f"compute finished before '{what}': {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail(f"'{what}' never happened")
            time.sleep(0.002)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()


def _writing(cache: Path) -> bool:
    """An artifact's temp folder holds a file (an image written, the sidecar not yet renamed)."""
    tmp = cache / TMP_DIR
    try:
        return any(any(os.scandir(e.path)) for e in os.scandir(tmp) if e.is_dir())
    except FileNotFoundError:  # the folder was renamed into place while we looked
        return False


def test_kill_9_at_several_points_then_resume(tmp_path: Path, capsys):
    site = own_site(tmp_path / "site")
    cache = tmp_path / "cache"
    seen: dict[str, tuple[int, int]] = {}
    points = [
        ("the cache folder exists", lambda: cache.is_dir()),
        ("the first artifact is published", lambda: len(complete(cache)) >= 1),
        ("an artifact is half written", lambda: _writing(cache)),
    ]
    for what, condition in points:
        _run_until(site, cache, condition, what)
        now = complete(cache)
        # Every published entry is whole, and nothing published before was written again.
        assert all(p is None for p in problems(cache).values()), problems(cache)
        assert {k: now[k] for k in seen} == seen
        seen = now
    assert 1 <= len(seen) < N_JOBS  # the resume below starts from some, not all
    proc = here(site, "compute", "--size", "48", "--steps", "40", "--channels", "3",
                "--closure", "0", "--quiet", "--batch-size", "1", "--cache", str(cache),
                capture=capsys)
    assert summary(proc.stdout)[:3] == (N_JOBS - len(seen), len(seen), 0)
    final = complete(cache)
    assert len(final) == N_JOBS and {k: final[k] for k in seen} == seen
    assert all(p is None for p in problems(cache).values())
    assert not any(os.scandir(cache / TMP_DIR))  # the dead runs' temp folders are gone


def _pngs(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in cache.glob("??/*/*.png")}


def _numbers(cache: Path) -> dict[str, tuple]:
    out = {}
    for meta_path in cache.glob("??/*/meta.json"):
        meta = json.loads(meta_path.read_text())
        out[meta["key"]] = (meta["final"], meta["history"], meta["worker"]["rank"])
    return out


def test_torchrun_two_cpu_processes_share_the_plan(tmp_path: Path, capsys):
    site = own_site(tmp_path / "site")
    multi, single = tmp_path / "multi", tmp_path / "single"
    args = ["compute", *TINY, "--batch-size", "2", "--device", "cpu"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node=2", f"--log-dir={tmp_path / 'logs'}", "-m", "generator"]
    proc = subprocess.run(
        [*launcher, *args, "--cache", str(multi), "--config", str(site / "site.toml")],
        cwd=site, env=env(), capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 processes" in proc.stdout and proc.stdout.count("computed") == 1  # rank 0 reports
    # Every job computed exactly once: the shares are disjoint and cover the plan.
    assert summary(proc.stdout)[:3] == (N_JOBS, 0, 0)
    here(site, *args, "--cache", str(single), capture=capsys)

    ranks = [rank for _, _, rank in _numbers(multi).values()]
    assert sorted(set(ranks)) == [0, 1] and len(ranks) == N_JOBS
    assert set(_numbers(multi)) == set(_numbers(single))
    strip = {k: v[:2] for k, v in _numbers(multi).items()}
    assert strip == {k: v[:2] for k, v in _numbers(single).items()}
    assert _pngs(multi) == _pngs(single)


# Bad input: one line, exit code 2, nothing written -------------------------------------------
def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("featvis: error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, capsys):
    site = make_site(tmp_path / "site", ("conv_stem", "blocks.9.9"))
    cache = tmp_path / "cache"
    cfg = ("--config", str(site / "site.toml"), "--cache", str(cache), *TINY)
    err = _error(capsys, "compute", *cfg)
    assert "site.toml:1: explorer_layers:" in err and "unknown layer 'blocks.9.9'" in err
    make_site(site)
    assert "unknown model 'nope'" in _error(capsys, "compute", *cfg, "--model", "nope")
    assert "--only 'blocks.7.0'" in _error(capsys, "compute", *cfg, "--only", "blocks.7.0")
    assert "--steps must be a whole number 1.." in _error(capsys, "compute", *cfg, "--steps", "0")
    assert not cache.exists()

    cache.mkdir()
    (cache / FORMAT_FILE).write_text('{"format": 99}')
    assert "written by format 99" in _error(capsys, "compute", *cfg)
    assert "written by format 99" in _error(capsys, "status", *cfg[:-1])
    assert [p.name for p in cache.iterdir()] == [FORMAT_FILE]

    (tmp_path / "file").write_text("")
    blocked = ("--cache", str(tmp_path / "file" / "cache"))
    assert "cannot write the cache folder" in _error(capsys, "compute", *cfg, *blocked)


def test_a_real_process_exits_2_on_an_unknown_layer(tmp_path: Path):
    site = make_site(tmp_path, ("blocks.1.O",))
    proc = featvis(site, "compute", *TINY, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert re.search(r"unknown layer 'blocks.1.O' \(did you mean: [^?]*blocks\.1\.0", proc.stderr)
    assert not (site / ".featvis-cache").exists()


# Planning, in process -------------------------------------------------------------------------
def test_channel_pages_plan_a_diversity_set_in_the_objects_band(lite0, tmp_path: Path):
    site = make_site(tmp_path, ("conv_stem", "blocks.2.0", "conv_head"))
    config = load_config(site / "site.toml")
    store = ArtifactStore(tmp_path / "cache")
    for name in ("quick",):
        preset = dataclasses.replace(PRESETS[name], size=32, steps=4, explorer_channels=2)
        plan = site_plan(config, lite0, preset, store)
        channels = {unit for j in plan.jobs if (unit := single_channel(j))}
        assert len(channels) == 6 and {layer for layer, _ in channels} == {
            "conv_stem", "blocks.2.0", "conv_head"}
        sets = [j for j in plan.jobs if j.n_images > 1]
        kinds = {(t.kind, t.layer, t.channel)
                 for j in sets for o in j.objectives for _, t in o.terms}
        assert {(layer, ch) for kind, layer, ch in kinds if kind == "channel"} == {
            u for u in channels if u[0] == "conv_head"}, "the objects band only"
        assert {kind for kind, _, _ in kinds} == {"channel", "diversity"}
        assert all(j.n_images == 4 and j.size == 32 and j.seeds == [0, 1, 2, 3] for j in sets)
    preset = dataclasses.replace(PRESETS["standard"], size=32, steps=4, explorer_channels=2)
    plan = site_plan(config, lite0, preset, store)
    assert not [j for j in plan.jobs if j.n_images > 1], "standard keeps its build time"


def test_plan_indexes_filters_and_checks(lite0, tmp_path: Path):
    model = lite0
    site = make_site(tmp_path)
    config = load_config(site / "site.toml")
    preset = dataclasses.replace(PRESETS["quick"], size=32, steps=4, explorer_channels=2)
    store = ArtifactStore(tmp_path / "cache")
    plan = site_plan(config, model, preset, store)
    # two channels per layer, each with its channel page's negative
    assert [len(plan.by_layer[name]) for name in LAYERS] == [4, 4, 4, 4]
    assert len(plan.jobs) == len({j.key for j in plan.jobs}) == 16
    assert site_plan(config, model, preset, store).jobs == plan.jobs  # deterministic
    only = plan.only(["blocks.0.0", "conv_stem"])
    assert set(only.by_layer) == {"blocks.0.0", "conv_stem"} and len(only.jobs) == 8
    with pytest.raises(FeatvisError, match=r"did you mean: [^?]*blocks\.1\.0"):
        plan.only(["blocks.1.O"])
    everything = dataclasses.replace(preset, explorer_channels=None)
    wide = dataclasses.replace(config, explorer_layers=("blocks.1.0",))
    # every channel, each with its negative and (every channel: the full preset) its diversity set
    assert len(site_plan(wide, model, everything, store).jobs) == 72
    job = plan.jobs[0]
    with pytest.raises(FeatvisError, match="out of range"):
        check_jobs([dataclasses.replace(job, objectives=(obj.channel("conv_stem", 32),))], model)
    with pytest.raises(FeatvisError, match="site's model"):
        check_jobs([dataclasses.replace(job, model="torchvision:resnet18")], model)
    assert not store.root.exists()  # planning never writes
    assert isinstance(job, VisJob)
