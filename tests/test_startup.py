"""The command line starts light: what does not need a network does not import torch, and a
model family's package (timm, torchvision) is imported only when a model of that family loads.

Each check runs in a fresh interpreter (the test process has torch loaded already) and reads
`sys.modules` after the commands ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "timm", "torchvision")

# Runs each argv through `main` in one interpreter; prints, per argv, its exit code and the heavy
# packages loaded by then (a package loaded by an earlier command would show on every later one).
CHILD = f"""
import contextlib, io, json, sys
from generator.cli import main
seen = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    loaded = [m for m in {HEAVY!r} if m in sys.modules]
    seen.append([argv, code, loaded, err.getvalue()])
print(json.dumps(seen))
"""


def _run(code: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _commands(cwd: Path, *argvs: list[str]) -> list[tuple[list[str], int, list[str], str]]:
    return [tuple(row) for row in json.loads(_run(CHILD, json.dumps(argvs), cwd=cwd))]


def test_help_and_bad_input_answer_without_torch(tmp_path: Path) -> None:
    (tmp_path / "bad-key.toml").write_text('title = "x"\nbogus = 1\n', encoding="utf-8")
    (tmp_path / "bad-recipe.toml").write_text('[recipe]\noptimizer = "sgdx"\n', encoding="utf-8")
    (tmp_path / "no-content.toml").write_text('content_dir = "nowhere"\n', encoding="utf-8")
    (tmp_path / "no-photos.toml").write_text('title = "x"\ndataset = "photos"\n', encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>x</title><p>x</p>\n", encoding="utf-8")
    bad = ["--config", "bad-key.toml"]
    argvs = [
        ["--help"],
        *([verb, *bad] for verb in ("build", "render", "compute", "status", "scan", "layers",
                                    "clean", "check")),
        ["serve", "--port", "0", *bad],
        ["build", "--config", "bad-recipe.toml"],
        ["build", "--config", "no-content.toml"],
        ["render", "--config", "no-content.toml"],
        ["build", "--config", "no-photos.toml"],
        ["scan", "--dataset", "photos"],
        ["demo", "--unit", "blocks.2.1"],
        ["demo", "--out", "bad-key.toml"],
        ["check", str(site)],
    ]
    rows = _commands(tmp_path, *argvs)
    assert [row[0] for row in rows] == argvs
    for argv, code, loaded, err in rows:
        assert loaded == [], f"featvis {' '.join(argv)} imported {loaded}"
        if argv == ["--help"] or argv[0] == "check" and argv[1] == str(site):
            assert code == 0, err
        else:
            assert code == 2 and err.count("\n") == 1, (argv, err)
    messages = {" ".join(argv): err for argv, _, _, err in rows}
    assert "bad-key.toml:2: unknown key 'bogus'" in messages["build --config bad-key.toml"]
    assert "'optimizer' must be one of" in messages["build --config bad-recipe.toml"]
    content = messages["build --config no-content.toml"]
    assert "no-content.toml:1: 'content_dir' " in content and "nowhere: no such folder" in content
    assert "no-photos.toml:2: 'dataset' " in messages["build --config no-photos.toml"]
    assert "photos: no such folder (valid: a folder of photos" in messages["scan --dataset photos"]
    assert "--unit 'blocks.2.1': expected LAYER:CHANNEL" in messages["demo --unit blocks.2.1"]


def test_the_pipeline_imports_no_model_family_package(tmp_path: Path) -> None:
    """torch is the pipeline's; timm and torchvision come with a model of their family only."""
    code = (
        "import sys, generator.build, generator.models, generator.stages.workers, "
        "generator.serve.preview, generator.commands.compute, generator.commands.demo\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert json.loads(_run(code, cwd=tmp_path).replace("'", '"')) == ["torch"]


MISSPELT = {  # a misspelt id -> what its one line must say
    "efficientnet_lite00": "unknown model 'efficientnet_lite00' (did you mean: efficientnet_lite0?",
    "torchvison:resnet18": "unknown model 'torchvison:resnet18' (did you mean: "
    "torchvision:resnet18?",
    "python:missing.py:fn": "model 'python:missing.py:fn': ",
    "python:net.py:buld": "net.py: no function 'buld' (did you mean: build?",
    "timm:vit_tiny_patch16_22": "unknown timm model 'vit_tiny_patch16_22' (did you mean: "
    "timm:vit_tiny_patch16_224",
}
READERS = ("build", "render", "compute", "status", "scan", "layers")


def test_init_and_misspelt_model_ids_answer_before_anything_loads(tmp_path: Path) -> None:
    """`init` imports no torch; every command that reads site.toml checks each model id first
    (one line naming site.toml's line, exit 2, nothing written), without torch but for timm's
    list of names (its command runs last here: it imports torch)."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text("---\ntitle: A\n---\nText.\n", encoding="utf-8")
    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    pass\n", encoding="utf-8")
    argvs = [["init", "newsite"], ["init", "bad", "--model", "efficientnet_lite00"],
             ["demo", "--model", "torchvison:resnet18"]]
    expected: dict[str, tuple[str, str]] = {}
    for n, model in enumerate(MISSPELT):
        top, table = f"top{n}.toml", f"table{n}.toml"
        (tmp_path / top).write_text(f'title = "x"\nmodel = "{model}"\n', encoding="utf-8")
        (tmp_path / table).write_text(
            f'title = "x"\nmodels = [\n  "efficientnet_lite0",\n  {{model = "{model}"}},\n]\n',
            encoding="utf-8",
        )
        verbs = READERS if model.startswith("timm:") else (*READERS, "serve")
        for toml, line in ((top, 2), (table, 4)):
            for verb in verbs:
                argvs.append([verb, "--config", toml, *(["--port", "0"] * (verb == "serve"))])
                expected[" ".join(argvs[-1])] = (f"{tmp_path / toml}:{line}: ", MISSPELT[model])
    before = sorted(p.name for p in tmp_path.iterdir())
    rows = _commands(tmp_path, *argvs)
    assert rows[0][1:3] == (0, []), f"init: {rows[0]}"
    assert rows[1][1:3] == (2, []) and "--model: unknown model 'efficientnet_lite00'" in rows[1][3]
    assert rows[2][1:3] == (2, []) and "--model: unknown model 'torchvison:resnet18'" in rows[2][3]
    for argv, code, loaded, err in rows[3:]:
        where, message = expected[" ".join(argv)]
        said = err.strip()
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert said.startswith(f"featvis: error: {where}") and message in said, (argv, said)
        timm = "timm" in said
        assert loaded == [] or timm, (argv, loaded)  # timm imports torch (and torchvision)
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after == sorted([*before, "newsite"]), "nothing written but init's site"


def test_the_id_forms_are_the_families() -> None:
    """The torch-free id forms and the families that load them are one list, in one order."""
    from generator.config.model_ids import ID_FORMS, LITE_NAMES
    from generator.models.families.lite import LITES
    from generator.models.zoo import FAMILIES

    assert tuple(family.ids for family in FAMILIES) == ID_FORMS
    assert tuple(LITES) == LITE_NAMES


def test_output_piped_into_a_reader_that_stops_early_ends_quietly() -> None:
    """`featvis layers | head -1`, `featvis status | head`: the reader closes the pipe before
    featvis has written its table; featvis stops there, as `cat` would, with no traceback (it
    printed a BrokenPipeError's, and another one at exit)."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line is written
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "generator", "layers"], stdout=write,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    os.close(write)
    assert done.returncode == 141, done.stderr  # 128 + SIGPIPE, as a shell reports `cat`'s
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


# A command whose work is interrupted inside `exec` of a string, where `dataclasses` builds its
# methods (while torch imports, the first seconds of every command): by Ctrl-C, or by a signal
# that `serve` turns into one and ends quietly. Run as `python -m`, as `python -m generator`
# is: a script's `SystemExit` leaves at once, `-m`'s ends the interpreter first.
INTERRUPTED_IN_EXEC = """
import sys
from generator import cli

def interrupted(args):
    exec("raise KeyboardInterrupt")

def caught(args):
    try:
        exec("raise KeyboardInterrupt")
    except KeyboardInterrupt:
        return 0

cli._handler = lambda name: {"interrupted": interrupted, "caught": caught}[sys.argv[1]]
raise SystemExit(cli.main(["layers"]))
"""


def test_an_interrupt_inside_exec_of_a_string_keeps_the_exit_code_main_returns(
    tmp_path: Path,
) -> None:
    """Ctrl-C exits 130 with one line, and a `kill` of `featvis serve` exits 0, wherever the
    interrupt lands. CPython ended such a process by SIGINT at exit (-2), whatever `main`
    returned, when the interrupt was raised inside `exec` of a string."""
    (tmp_path / "interrupting.py").write_text(INTERRUPTED_IN_EXEC)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(repo)))}
    for name, code in (("interrupted", 130), ("caught", 0)):
        done = subprocess.run([sys.executable, "-m", "interrupting", name], env=env,
                              stderr=subprocess.PIPE, text=True, timeout=300)
        assert done.returncode == code, (name, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr == "" and name == "caught"
