"""How much CPU a `featvis` command spends before it does anything: two checkouts side by side.

Runs the same commands with the package of two checkouts (`--old`, a `git worktree` of an earlier
commit, and `--new`, this one by default), each in a fresh process with that checkout first on
PYTHONPATH, alternating A B B A per round so that drift in the machine's load falls on both
alike. Each run's CPU time (user + system, of the process and everything it waited for) is read
from `resource.getrusage(RUSAGE_CHILDREN)`; the wall time is kept too. The commands:

- `--help`;
- `build` of a site whose site.toml has an unknown key (its one-line error, exit 2);
- `build` of a site whose site.toml misspells its model id (`efficientnet_lite00`: one line,
  exit 2);
- `check` of a small hand-made site (pages linking each other, a PNG);
- `init` of a new site, and of one for `timm:resnet18` (whose name is checked against timm's
  list);
- importing the build's pipeline (`generator.build`), and loading `torchvision:resnet18` with
  random weights (a family that needs no timm);
- with `--tests`, whole test files (`pytest -n 0`), each checkout running its own copy.

    git worktree add /tmp/old COMMIT
    PYTHONPATH=. python benchmarks/bench_startup.py --old /tmp/old --tests tests/test_models.py

Writes benchmarks/results/startup*.json and .md: the median CPU seconds of each, old and new, and
their ratio (new / old).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fold import write_results  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAGE = ('<!doctype html><html><head><meta charset="utf-8"><title>{n}</title></head><body>'
        '<p id="top"><a href="{other}.html#top">next</a> <img src="a.png" alt=""></p>'
        '</body></html>')
LOAD = ("from generator.models import load_model; "
        "load_model('torchvision:resnet18', random_weights=True)")


def cases(work: Path) -> dict[str, tuple[list[str], Path]]:
    """name -> (arguments after `python`, the folder to run in)."""
    bad, misspelt, site = work / "bad", work / "bad-model", work / "site"
    bad.mkdir()
    (bad / "site.toml").write_text('title = "x"\nbogus = 1\n', encoding="utf-8")
    (misspelt / "content").mkdir(parents=True)
    (misspelt / "content" / "a.md").write_text("---\ntitle: A\n---\nText.\n", encoding="utf-8")
    (misspelt / "site.toml").write_text('model = "efficientnet_lite00"\n', encoding="utf-8")
    site.mkdir()
    for n in range(20):
        page = PAGE.format(n=n, other=(n + 1) % 20 or "index")
        (site / ("index.html" if n == 0 else f"{n}.html")).write_text(page, encoding="utf-8")
    Image.new("RGB", (16, 16), "gray").save(site / "a.png")
    return {
        "featvis --help": (["-m", "generator", "--help"], work),
        "featvis build (a bad site.toml key)": (["-m", "generator", "build"], bad),
        "featvis check (20 pages)": (["-m", "generator", "check", str(site)], work),
        "featvis build (a bad model id)": (["-m", "generator", "build"], misspelt),
        "featvis init": (["-m", "generator", "init", "NEW"], work),
        "featvis init --model timm:resnet18": (
            ["-m", "generator", "init", "NEW", "--model", "timm:resnet18"], work
        ),
        "import generator.build": (["-c", "import generator.build"], work),
        "load torchvision:resnet18": (["-c", LOAD], work),
    }


def run(args: list[str], cwd: Path, root: Path, expect: int | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process with `root`'s package."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    if "NEW" in args:  # init writes into a folder of its own every time
        args = [a if a != "NEW" else tempfile.mkdtemp(dir=cwd) + "/site" for a in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect is not None and done.returncode != expect:
        raise SystemExit(f"{root}: python {' '.join(args)}: exit {done.returncode}\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the checkout to compare against")
    ap.add_argument("--new", type=Path, default=REPO, help="the checkout measured (default: this)")
    ap.add_argument("--rounds", type=int, default=2, help="A B B A rounds of the commands")
    ap.add_argument("--tests", nargs="*", default=[], help="test files to time, one round each")
    ap.add_argument("--name", default="startup")
    args = ap.parse_args()
    roots = {"old": args.old.resolve(), "new": args.new.resolve()}
    load = [os.getloadavg()[0]]
    cpu: dict[str, dict[str, list[float]]] = {}
    wall: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        todo = [(name, argv, cwd, 2 if "bad" in name else 0, args.rounds)
                for name, (argv, cwd) in cases(Path(tmp)).items()]
        todo += [(f"pytest {t}", ["-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", t],
                  None, 0, 1) for t in args.tests]
        for name, argv, cwd, expect, rounds in todo:
            cpu[name], wall[name] = {"old": [], "new": []}, {"old": [], "new": []}
            for round_ in range(rounds):
                order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
                for which in order + order[::-1]:
                    c, w = run(argv, cwd or roots[which], roots[which], expect)
                    cpu[name][which].append(c)
                    wall[name][which].append(w)
                    print(f"{name} {which}: {c:.2f} s CPU, {w:.2f} s", file=sys.stderr)
            load.append(os.getloadavg()[0])
    rows, cells = [], []
    for name in cpu:
        old, new = (statistics.median(cpu[name][w]) for w in ("old", "new"))
        rows.append({"what": name, "old_cpu_s": old, "new_cpu_s": new, "ratio": new / old,
                     "cpu_s": cpu[name], "wall_s": wall[name]})
        cells.append([name, f"{old:.2f}", f"{new:.2f}", f"{new / old:.2f}x"])
    result = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "old": str(roots["old"]), "new": str(roots["new"]), "rounds": args.rounds,
              "load_1min": load, "rows": rows}
    write_results(
        args.name, result,
        f"CPU a command spends, old checkout against new ({args.rounds} rounds A B B A for the "
        "commands, one for test files; a fresh process per run)",
        ["what", "old (CPU s, median)", "new (CPU s, median)", "new / old"], cells,
        (f"CPU time is user + system of the process and what it waited for. Load (1 min) during "
         f"the runs: {min(load):.1f} to {max(load):.1f} on {os.cpu_count()} cores.",),
    )


if __name__ == "__main__":
    main()
