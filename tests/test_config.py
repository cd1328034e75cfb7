# ruff: noqa: E501  (tables of inputs and expected messages read best one per line)
"""One validation path for every user input: site.toml keys and command-line flags go through the
same typed schema (`generator.config.schema`); every mistake is one line naming the source (the
file and line, or the flag), exit code 2, before anything is loaded or written."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from generator.cli import build_parser, main
from generator.commands.common import config_from_args
from generator.config.presets import PRESETS, preset_flags
from generator.config.schema import BATCH_SIZE, DATASET_TOP_K, SEED, Invalid, whole
from generator.config.site import SITE_OPTIONS, SiteConfig, load_config
from generator.core.errors import FeatvisError
from generator.figures.context import PlanContext
from generator.models import load_model
from generator.optvis import objectives as obj
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import (
    CLASS_COARSE,
    CLASS_STEPS,
    DEFAULT_LR,
    RANGES,
    Range,
    Recipe,
)

SEEDS = "0..9223372036854775807"
WHOLE = r"site\.toml:3: '(\w+)' must be a whole number"


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text("# site\n# a comment\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('colour = "red"\n', r"site\.toml:3: unknown key 'colour'"),
        ('presett = "quick"\n', r"site\.toml:3: unknown key 'presett' \(did you mean: preset"),
        ('seed = "zero"\n', r"site\.toml:3: 'seed' must be a whole number 0\.\.\d+, not 'zero'"),
        ("seed = true\n", r"site\.toml:3: 'seed' must be a whole number"),
        ("seed = -3\n", WHOLE + r" 0\.\.9223372036854775807, not -3"),
        ("batch_size = 0\n", r"site\.toml:3: 'batch_size' must be a whole number 1\.\.4096, not 0"),
        ("batch_size = 5000\n", r"site\.toml:3: 'batch_size' must be a whole number 1\.\.4096"),
        ("dataset_top_k = 1001\n", WHOLE + r" 1\.\.1000"),
        ('preset = "fast"\n', r"site\.toml:3: 'preset' 'fast' is not known \(.*standard"),
        ("explorer_layers = [1, 2]\n", r"site\.toml:3: 'explorer_layers' must be a list of names"),
        ('models = [{model = "efficientnet_lite0", explorer_layers = "parts"}]\n',
         r"site\.toml:3: models: 'explorer_layers' must be a list of names"),
        ("title = 3\n", r"site\.toml:3: 'title' must be text, not 3"),
        ("[recipe]\nsteps = 64\nlr = 5\n",
         r"site\.toml:5: 'lr' must be a number from 0\.0001 to 1, not 5$"),
        ('[recipe]\nschedule = "linear"\n',
         r"site\.toml:4: 'schedule' must be one of constant, cosine, step"),
        ("[recipe]\nlrate = 0.1\n",
         r"site\.toml:4: unknown recipe option 'lrate' \(did you mean: lr\? valid: steps, lr,"),
        ("recipe = {steps = 0}\n",
         r"site\.toml:3: 'steps' must be an integer from 1 to 4096, not 0"),
        ("recipe = 3\n", r"site\.toml:3: 'recipe' must be a table of recipe options"),
        ('title = "a"\nseed = = 3\nx = 1\n', r"site\.toml:4: invalid TOML \(Invalid value\)$"),
        ("title = [\n", r"site\.toml:3: invalid TOML \(Invalid value\)$"),  # at its end
        ("[recipe]\nanchored = 1\n", r"site\.toml:4: 'anchored' must be true or false, not 1$"),
    ],
)
def test_site_toml_errors_name_the_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(FeatvisError, match=message):
        load_config(_toml(tmp_path, body))


def test_config_may_name_the_sites_folder(tmp_path: Path) -> None:
    """`--config DIR` reads DIR/site.toml, as `--config DIR/site.toml` does."""
    path = _toml(tmp_path, 'title = "Mine"\n')
    assert load_config(path.parent).title == "Mine" and load_config(path.parent).source == path
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatvisError, match=r"/empty/site\.toml: config file not found$"):
        load_config(tmp_path / "empty")


def test_a_models_explorer_layers_take_the_place_of_the_sites(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'explorer_layers = ["edges[-1]"]\nmodels = ["efficientnet_lite0", '
                 '{model = "torchvision:resnet18", explorer_layers = ["layer4.1"]}]\n')
    config = load_config(path)
    assert config.explorer_layers_of("torchvision:resnet18") == (("layer4.1",), f"{path}:4")
    assert config.explorer_layers_of("efficientnet_lite0") == (("edges[-1]",), f"{path}:3")


def test_two_models_of_one_explorer_folder_stop_at_site_toml(tmp_path: Path) -> None:
    """Found while reading site.toml, before a network is loaded: the second entry's line."""
    path = _toml(tmp_path, 'models = [{model = "timm:resnet18", name = "Net"},\n'
                 '          {model = "torchvision:resnet18", name = "net"}]\n')
    with pytest.raises(FeatvisError, match=rf"^{re.escape(str(path))}:4: models 'timm:resnet18' "
                       "and 'torchvision:resnet18' would share the explorer folder 'net'"):
        load_config(path)
    config = load_config(_toml(tmp_path, 'models = [{model = "timm:resnet18", name = "Net"}]\n'))
    assert config.model_specs[0].folder == "net"


@pytest.fixture(scope="module")
def tiny_cnn():  # type: ignore[no-untyped-def]
    return load_model("python:examples/own-model/tiny_cnn.py:build", random_weights=True)


def test_the_recipe_table_goes_to_the_preset_and_every_job(tmp_path: Path, tiny_cnn) -> None:  # type: ignore[no-untyped-def]
    # the recipe before the study, as docs/performance.md's "The optimizer recipe" spells it
    path = _toml(tmp_path, '[recipe]\nsteps = 256\nlr = 0.025\noptimizer = "adam"\n'
                 'schedule = "constant"\nwarmup = 0.0\nfinal_lr = 1.0\ndecay = 1.5\n'
                 "anchored = false\n")
    config = load_config(path)
    preset = config.preset_for("cpu")
    assert (preset.name, preset.steps) == ("standard", 256)
    model = tiny_cnn
    ctx = PlanContext(config, model, preset)
    job = ctx.channel_job("stage1.0", 3)
    assert (job.steps, job.lr, job.param.decay, job.param.anchored) == (256, 0.025, 1.5, False)
    assert job.recipe == Recipe.legacy()
    pixel = ctx.job(job.objectives, param=ParamSpec(kind="pixel", decorrelate=False))
    assert pixel.param == ParamSpec(kind="pixel", decorrelate=False)  # decay is the spectrum's
    plain = PlanContext(config, model, PRESETS["standard"]).channel_job("stage1.0", 3)
    assert plain.key != job.key  # every recipe setting is in the key
    assert (plain.steps, plain.recipe, plain.param.decay) == (128, Recipe(), 1.4)
    assert (preset.optimizer, PRESETS["standard"].optimizer) == ("Adam", "NAdam")  # pages say it
    assert load_config(_toml(tmp_path, "")).preset_for("cpu") == PRESETS["standard"]


def test_the_anchored_spectrum_can_be_turned_off_and_is_in_the_key(  # type: ignore[no-untyped-def]
    tmp_path: Path, tiny_cnn
) -> None:
    config = load_config(_toml(tmp_path, "[recipe]\nanchored = false\n"))
    model = tiny_cnn
    job = PlanContext(config, model, config.preset_for("cpu")).channel_job("stage1.0", 3)
    plain = PlanContext(config, model, PRESETS["standard"]).channel_job("stage1.0", 3)
    assert (job.param.anchored, plain.param.anchored) == (False, True)
    assert job.param.decay == plain.param.decay and job.recipe == plain.recipe
    assert job.key != plain.key  # a changed recipe never serves the other's picture



def test_class_pictures_get_twice_the_steps_coarse_first_and_the_recipe_tables_options(  # type: ignore[no-untyped-def]
    tmp_path: Path, tiny_cnn
) -> None:
    plain = PlanContext(load_config(_toml(tmp_path, "")), tiny_cnn, PRESETS["standard"])
    cls, channel = obj.class_logit(3), obj.channel("stage1.0", 3)
    job = plain.job([cls])
    assert (job.steps, job.lr, job.param.decay) == (CLASS_STEPS * 128, DEFAULT_LR, 1.4)
    assert plain.job([obj.class_prob(3) - 0.1 * obj.l1()]).steps == CLASS_STEPS * 128
    assert job.key != plain.job([cls], steps=128).key
    # coarse first where the network sees the picture at its own input size (224 px) or more
    assert job.recipe == Recipe()  # 128 px: at 64 px the network barely sees a class
    for seen in ({"size": 224}, {"input_size": 224}, {"size": 256}):
        big = plain.job([cls], **seen)
        assert big.recipe == Recipe(coarse=CLASS_COARSE), seen
        assert big.recipe.coarse_steps(big.steps) == 128
        assert big.key != plain.job([cls], recipe=Recipe(), **seen).key  # in the key
    assert plain.job([cls], size=200).recipe == Recipe()
    for unit in ([channel], [cls + channel], [cls, channel]):  # a layer's term: the channels'
        made = plain.job(unit, size=224)
        assert (made.steps, made.recipe) == (128, Recipe()), unit
    # site.toml's [recipe] options apply to every job; its steps scale for class pictures
    config = load_config(_toml(tmp_path, "[recipe]\nlr = 0.05\ndecay = 1.6\nsteps = 64\n"))
    ctx = PlanContext(config, tiny_cnn, config.preset_for("cpu"))
    made = [ctx.job([o]) for o in (cls, channel)]
    assert [(j.lr, j.param.decay) for j in made] == [(0.05, 1.6)] * 2
    assert [j.steps for j in made] == [CLASS_STEPS * 64, 64]
    # a table's coarse share is every job's; its coarse scale moves the class pictures' floor
    config = load_config(_toml(tmp_path, "[recipe]\ncoarse = 0.0\n"))
    ctx = PlanContext(config, tiny_cnn, config.preset_for("cpu"))
    assert ctx.job([cls], size=224).recipe.coarse == 0.0
    config = load_config(_toml(tmp_path, "[recipe]\ncoarse_scale = 0.875\n"))
    ctx = PlanContext(config, tiny_cnn, config.preset_for("cpu"))
    assert [ctx.job([o], size=128).recipe.coarse for o in (cls, channel)] == [CLASS_COARSE, 0.0]


def _out_of_range(valid: Range) -> str:
    """A TOML value outside `valid`."""
    if valid.choices:
        return '"none of them"'
    if valid.kind is bool:
        return "1"
    assert valid.high is not None
    return str(int(valid.high) + 1) if valid.kind is int else repr(float(valid.high) * 2 + 1)


@pytest.mark.parametrize("key", list(RANGES))
def test_every_recipe_option_out_of_range_is_one_line_with_its_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    path = _toml(tmp_path, f"[recipe]\n# out of its range:\n{key} = {_out_of_range(RANGES[key])}\n")
    code, err = _error(capsys, "build", "--config", str(path))
    assert code == 2 and err.count("\n") == 1, err
    expected = f"{path}:5: '{key}' must be {RANGES[key].describe()}, not "
    assert err.startswith(f"featvis: error: {expected}")
    assert not (tmp_path / "site_output").exists()


def test_a_bad_recipe_fails_the_command_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _toml(tmp_path, "[recipe]\nwarmup = 0.9\n")
    code, err = _error(capsys, "build", "--config", str(path))
    assert code == 2
    expected = f"{path}:4: 'warmup' must be a number from 0 to 0.5, not 0.9"
    assert err.strip() == f"featvis: error: {expected}"


def test_site_toml_accepts_the_edges_of_each_range(tmp_path: Path) -> None:
    path = _toml(tmp_path, f"seed = {2**63 - 1}\nbatch_size = 4096\ndataset_top_k = 1\n")
    config = load_config(path)
    assert (config.seed, config.batch_size, config.dataset_top_k) == (2**63 - 1, 4096, 1)
    assert load_config(_toml(tmp_path, "seed = 0\n")).seed == 0


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("compute", "--batch-size", "-1"), "--batch-size must be a whole number 1..4096, not -1"),
        (("compute", "--batch-size", "0"), "--batch-size must be a whole number 1..4096, not 0"),
        (("compute", "--batch-size", "x"), "--batch-size must be a whole number 1..4096, not 'x'"),
        (("compute", "--seed", "-3"), f"--seed must be a whole number {SEEDS}, not -3"),
        (("build", "--seed", "1.5"), f"--seed must be a whole number {SEEDS}, not 1.5"),
        (("status", "--steps", "0"), "--steps must be a whole number 1..100000, not 0"),
        (("compute", "--size", "8"), "--size must be a whole number 16..1024, not 8"),
        (("serve", "--port", "70000"), "--port must be a whole number 0..65535, not 70000"),
        (("build", "--preset", "fast"), "--preset 'fast' is not known"),
    ],
)
def test_flag_errors_are_one_line_naming_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no site.toml, nothing to read or write
    code, err = _error(capsys, *argv)
    assert code == 2
    assert err.startswith(f"featvis: error: {message}") and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir()), "nothing was written"


def test_flags_and_site_toml_share_one_option() -> None:
    """The same option object checks both; its kind is a real range check."""
    assert SEED.parse(0) == 0 and BATCH_SIZE.parse(4096) == 4096
    with pytest.raises(Invalid, match=r"1\.\.4096"):
        BATCH_SIZE.parse(4097)
    with pytest.raises(Invalid):
        whole(1, 3)(True)


def test_the_models_are_named_from_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = load_config(_toml(tmp_path, 'model = "torchvision:resnet18"\n'))
    (tmp_path / "several").mkdir()
    several = load_config(_toml(tmp_path / "several", 'models = ["efficientnet_lite0", {model = '
                                '"torchvision:resnet18", explorer_layers = ["layer4.1"]}]\n'))

    def read_again(*args: object, **kwargs: object) -> str:
        raise AssertionError("site.toml read again after loading")

    monkeypatch.setattr(Path, "read_text", read_again)
    assert one.model_ids == ("torchvision:resnet18",)
    assert several.model_ids == ("efficientnet_lite0", "torchvision:resnet18")
    assert several.explorer_layers_of("torchvision:resnet18")[0] == ("layer4.1",)
    # the lines errors name, also of the site's own keys, from the text read once
    assert one.model_specs[0].where == f"{one.source}:3"
    assert one.explorer_layers_of("torchvision:resnet18") == (None, str(one.source))
    assert several.explorer_layers_of("efficientnet_lite0") == (None, str(several.source))


def test_every_site_toml_key_is_documented() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    guide = (docs / "commands.md").read_text(encoding="utf-8")
    table = guide.split("## Every key of site.toml", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {key for row in rows for key in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert documented == set(SITE_OPTIONS), "docs/commands.md lists site.toml's keys, no other"


def test_the_strict_flag_is_the_configs_strict(tmp_path: Path) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text('title = "t"\n', encoding="utf-8")
    for verb in ("build", "render"):
        plain = build_parser().parse_args([verb, "--config", str(toml)])
        strict = build_parser().parse_args([verb, "--config", str(toml), "--strict"])
        assert not config_from_args(plain).strict
        assert config_from_args(strict).strict


def test_every_site_toml_key_is_declared_once_as_a_config_field() -> None:
    """SITE_OPTIONS is read from SiteConfig's fields: a key and its option are one declaration."""
    not_keys = ("root", "source", "toml", "flags")  # the folder, the file read, its text, the flags
    keys = {f.name: f for f in dataclasses.fields(SiteConfig) if f.name not in not_keys}
    assert set(SITE_OPTIONS) == set(keys)
    for name, option in SITE_OPTIONS.items():
        assert keys[name].metadata["option"] is option, name
    assert load_config(root=Path("/nonexistent")).dataset_top_k == DATASET_TOP_K.default


def test_preset_flags_reproduce_a_builds_overrides() -> None:
    """The article's "Reproduce" command: the named preset, then each override the build had."""
    assert preset_flags(PRESETS["standard"]) == ["--preset", "standard"]
    tiny = dataclasses.replace(PRESETS["quick"], size=32, steps=4, closure=0.2)
    assert preset_flags(tiny) == [
        "--preset", "quick", "--size", "32", "--steps", "4", "--closure", "0.2"
    ]


# Path keys: what each must name, found as the config is read ---------------------------------


def _inputs(tmp_path: Path) -> Path:
    """A site folder holding a file, an empty folder, a folder without photos and articles."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text("---\ntitle: A\n---\n", encoding="utf-8")
    (tmp_path / "file.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("x\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("body, expected", [
    ('dataset = "photos"\n', "site.toml:3: 'dataset' {root}/photos: no such folder (valid: a folder of photos, .jpg,"),
    ('dataset = "empty"\n', "site.toml:3: 'dataset' {root}/empty: is empty (valid: a folder of photos"),
    ('dataset = "notes"\n', "site.toml:3: 'dataset' {root}/notes: holds no photos, only 1 other file (valid:"),
    ('dataset = "file.txt"\n', "site.toml:3: 'dataset' {root}/file.txt: is a file, not a folder (valid:"),
    ('dataset = ""\n', "site.toml:3: 'dataset' is empty (valid: a folder of photos"),
    ('weights = "missing.pth"\n', "site.toml:3: 'weights' {root}/missing.pth: no such file (valid: a checkpoint file, .pth, .pt or .safetensors)"),
    ('classes = "empty"\n', "site.toml:3: 'classes' {root}/empty: is a folder, not a file (valid: a text file of class names, one a line)"),
    ('content_dir = "nowhere"\n', "site.toml:3: 'content_dir' {root}/nowhere: no such folder (valid: a folder of articles, *.md files)"),
    ('templates_dir = "file.txt"\n', "site.toml:3: 'templates_dir' {root}/file.txt: is a file, not a folder (valid: a folder of templates)"),
    ('output_dir = "file.txt"\n', "site.toml:3: 'output_dir' {root}/file.txt: is a file (valid: a folder for the built site, made when missing)"),
    ('cache_dir = ""\n', "site.toml:3: 'cache_dir' is empty (valid: a folder for the cache"),
    ('models = [{model = "efficientnet_lite0", classes = "gone.txt"}]\n', "site.toml:3: 'classes' {root}/gone.txt: no such file"),
    ('[[models]]\nmodel = "efficientnet_lite0"\n\nweights = "gone.pth"\n', "site.toml:6: 'weights' {root}/gone.pth: no such file"),
    ('[[models]]\nmodel = "efficientnet_lite0"\nweigths = "gone.pth"\n', "site.toml:5: models: unknown key 'weigths' (did you mean: weights"),
])
def test_a_path_key_that_names_nothing_fails_at_its_line_before_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    """A missing photo folder was found after the model loaded (about 15 s) and named no line;
    a missing checkpoint or class file as the model loaded; a `[[models]]` table was a
    traceback. Nothing is written: the output folder is not made."""
    root = _inputs(tmp_path)
    path = _toml(root, body)
    assert main(["build", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"featvis: error: {path.parent}/{expected.format(root=root)}"), err
    assert not (root / "site_output").exists()


@pytest.mark.parametrize("flags, expected", [
    (["--dataset", "photos"], "--dataset {cwd}/photos: no such folder (valid: a folder of photos"),
    (["--dataset", ""], "--dataset is empty (valid: a folder of photos"),
    (["--weights", "gone.pth"], "--weights {cwd}/gone.pth: no such file (valid: a checkpoint file"),
    (["--output", "file.txt"], "--output {cwd}/file.txt: is a file (valid: a folder for the built site"),
])
def test_a_path_flag_that_names_nothing_is_named_before_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    flags: list[str], expected: str,
) -> None:
    root = _inputs(tmp_path)
    monkeypatch.chdir(root)
    assert main(["build", "--config", str(_toml(root, "")), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"featvis: error: {expected.format(cwd=root)}") and err.count("\n") == 1, err


def test_an_output_or_cache_folder_not_there_yet_is_made(tmp_path: Path) -> None:
    root = _inputs(tmp_path)
    path = _toml(root, 'output_dir = "out/site"\ncache_dir = "new/cache"\ndataset = "more"\n')
    (root / "more" / "sub").mkdir(parents=True)
    (root / "more" / "sub" / "a.JPG").write_bytes(b"")  # found in a subfolder, in any case
    args = build_parser().parse_args(["build", "--config", str(path)])
    config = config_from_args(args)
    assert config.output_dir == root / "out" / "site" and config.dataset == root / "more"


def test_an_unknown_key_names_every_valid_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one-line cap cut the list of valid keys short: `..., cache_dir ... (365 chars)`."""
    (tmp_path / ("deep" * 20)).mkdir()  # a long path: the line is longer than the cap
    path = _toml(tmp_path / ("deep" * 20), 'titel = "x"\n')
    assert main(["build", "--config", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    listed = line.partition(" valid: ")[2].rstrip(")").split(", ")
    assert line.startswith(f"featvis: error: {path}:3: unknown key 'titel' (did you mean: title"), line
    assert listed == list(SITE_OPTIONS), line


def test_init_writes_nothing_for_a_checkpoint_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init --weights` wrote a site.toml naming a missing file; the build failed on it later."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "site", "--weights", "gone.pth"]) == 2
    err = capsys.readouterr().err
    assert err == f"featvis: error: --weights {tmp_path}/gone.pth: no such file (valid: a checkpoint file, .pth, .pt or .safetensors)\n"
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("body, expected", [
    ('title = ""\n', "site.toml:3: 'title' is empty, not '' (valid: any text but blanks)"),
    ('name = "  "\n', "site.toml:3: 'name' is empty, not '  ' (valid: any text but blanks)"),
    ('models = [{model = "efficientnet_lite0", name = ""}]\n', "site.toml:3: models: 'name' is empty"),
])
def test_an_empty_title_or_name_is_refused_at_its_line(tmp_path: Path, body: str, expected: str) -> None:
    """An empty title built a site whose pages had no title; an empty name a model named by nothing."""
    path = _toml(tmp_path, body)
    with pytest.raises(FeatvisError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path.parent}/{expected}"), info.value


def test_models_written_as_an_array_of_tables_load_and_name_their_lines(tmp_path: Path) -> None:
    """`[[models]]` tables, TOML's other way to write a list of tables: each is a model, and a
    mistake in one names its line (a traceback: "invalid literal for int()")."""
    body = ('preset = "quick"\n\n[[models]]\nmodel = "timm:resnet18"\nrandom_weights = true\n\n'
            '[[models]]\nmodel = "torchvision:resnet18"\ninput_size = {}\n')
    config = load_config(_toml(tmp_path, body.format(64)))
    assert [(m.id, m.where) for m in config.model_specs] == [  # each table's header
        ("timm:resnet18", f"{tmp_path / 'site.toml'}:5"),
        ("torchvision:resnet18", f"{tmp_path / 'site.toml'}:9")]
    with pytest.raises(FeatvisError, match=rf"^{re.escape(str(tmp_path / 'site.toml'))}:11: "):
        load_config(_toml(tmp_path, body.format(0)))
