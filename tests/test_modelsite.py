"""Any model on the site side: site.toml's model options, band references in figures, the
flagship article for a second architecture, and the one-line errors of bad model input."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.figures.registry import bind_articles, read_articles
from generator.models.site import display_name, load_site_models, load_spec

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "own-model"
TINY = Preset("tiny", size=32, steps=3, explorer_channels=1, figure_scale=0.5)
LAYERS = ["stem", "stage1.0", "stage2.0", "stage2.2", "stage3.0", "stage3.2"]


def own_model_site(root: Path, extra: str = "", *, weights: bool = True) -> Path:
    """A site for the example network, random weights saved to a file as training would."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)
    for name in ("tiny_cnn.py", "classes.txt"):
        shutil.copyfile(EXAMPLE / name, root / name)
    sys.path.insert(0, str(EXAMPLE))
    try:
        from tiny_cnn import build  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLE))
    torch.manual_seed(1)
    torch.save(build().state_dict(), root / "tiny.pth")
    lines = [
        'model = "python:tiny_cnn.py:build"',
        'weights = "tiny.pth"' if weights else "",
        "input_size = 64",
        'classes = "classes.txt"',
        'explorer_layers = ["edges[0]"]',
    ]
    (root / "site.toml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return root


def test_site_toml_model_options_reach_the_loader(tmp_path: Path) -> None:
    layers = ", ".join(f'"{name}"' for name in LAYERS)
    root = own_model_site(tmp_path, f"layers = [{layers}]\nmean = [0.5, 0.5, 0.5]\n")
    config = load_config(root / "site.toml")
    (model,) = load_site_models(config, "cpu")
    assert model.input_size == 64 and model.mean == (0.5, 0.5, 0.5)
    assert list(model.layer_names) == LAYERS
    assert model.class_names[:2] == tuple((root / "classes.txt").read_text().split("\n")[:2])
    assert model.weights_source.endswith("tiny.pth")
    assert display_name(model) == "TinyCNN"


def test_models_list_and_tables(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text(
        'models = ["efficientnet_lite0", {model = "torchvision:resnet18", weights = "r.pth", '
        "input_size = 96}]\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "site.toml")
    assert config.model_ids == ("efficientnet_lite0", "torchvision:resnet18")
    assert config.model_specs[1].weights == tmp_path / "r.pth"
    assert config.model_specs[1].input_size == 96
    (tmp_path / "site.toml").write_text('title = "x"\nmodel = "a"\nmodels = ["a", "b"]\n')
    with pytest.raises(FeatvisError, match=r"site\.toml:2: 'model' beside 'models'"):
        load_config(tmp_path / "site.toml")
    (tmp_path / "site.toml").write_text('models = ["a", {model = "b", colour = 1}]\n')
    with pytest.raises(FeatvisError, match=r"site\.toml:1: models: unknown key 'colour'"):
        load_config(tmp_path / "site.toml")


def test_a_models_entry_over_several_lines_is_named_by_its_own_line(tmp_path: Path) -> None:
    """An error about one entry of a `models` list written over several lines names that entry's
    line: in reading site.toml, in checking the id, and in loading the model."""
    toml = tmp_path / "site.toml"
    toml.write_text('models = [\n  "a",\n  {model = "b", colour = 1},\n]\n', encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"site\.toml:3: models: unknown key 'colour'"):
        load_config(toml)
    toml.write_text(
        'models = [\n  "efficientnet_lite0",\n  {model = "torchvision:resnet18", '
        'weights = "missing.pth"},\n]\n',
        encoding="utf-8",
    )
    config = load_config(toml)
    assert [spec.where for spec in config.model_specs] == [f"{toml}:2", f"{toml}:3"]
    with pytest.raises(FeatvisError, match=rf"^{re.escape(str(toml))}:3: .*missing\.pth"):
        load_site_models(config, "cpu")


FACTORIES = {
    "raises": "def build():\n    raise ValueError('no data')\n",
    "not_module": "def build():\n    return 3\n",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("wrong-checkpoint", r"site\.toml:2: .*tiny\.pth"),
        ("missing-file", r"site\.toml:1: .*nope\.py"),
        ("raises", r"site\.toml:1: .*(ValueError|raised)"),
        ("not_module", r"site\.toml:1: .*(nn\.Module|module)"),
        ("bad-layer", r"site\.toml:\d+: model .*layers entry 'stage9' names no module"),
    ],
)
def test_bad_model_input_is_one_line_at_site_toml(
    tmp_path: Path, change: str, expected: str
) -> None:
    root = own_model_site(tmp_path)
    toml = (root / "site.toml").read_text(encoding="utf-8")
    if change == "wrong-checkpoint":
        torch.save(nn.Linear(3, 4).state_dict(), root / "tiny.pth")
    elif change == "missing-file":
        toml = toml.replace("tiny_cnn.py", "nope.py")
    elif change in FACTORIES:
        (root / "factory.py").write_text(FACTORIES[change], encoding="utf-8")
        toml = toml.replace("tiny_cnn.py", "factory.py").replace('weights = "tiny.pth"', "")
    else:
        toml += 'layers = ["stem", "stage9"]\n'
    (root / "site.toml").write_text(toml, encoding="utf-8")
    config = load_config(root / "site.toml")
    with pytest.raises(FeatvisError, match=expected) as info:
        load_spec(config, config.model_specs[0], "cpu")
    assert "\n" not in str(info.value)


def test_a_checkpoint_from_the_command_line_that_does_not_fit_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """site.toml's line 2 names one checkpoint, `--weights` another that does not fit: the error
    names the flag, not site.toml's line (which holds a file that fits)."""
    from generator.cli import main

    root = own_model_site(tmp_path)
    torch.save(nn.Linear(3, 4).state_dict(), tmp_path / "other.pth")
    code = main(["layers", "--config", str(root / "site.toml"), "--weights",
                 str(tmp_path / "other.pth")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("featvis: error: --weights: "), err
    assert "other.pth: weights do not fit" in err and "site.toml" not in err


ARTICLE = """\
---
title: Bands
---

Text.

```figure
type: layer-gallery
id: gallery
layers: [edges, "parts[-1]", "objects[0]"]
channels: 1
```

```figure
type: negative
id: negative
layer: {layer}
channels: 1
{model}```
"""


def _articles(root: Path, layer: str, model: str = "") -> list:
    (root / "content" / "bands.md").write_text(
        ARTICLE.format(layer=layer, model=model), encoding="utf-8"
    )
    config = load_config(root / "site.toml")
    articles = read_articles(config)
    (model_,) = load_site_models(config, "cpu")
    return bind_articles(articles, model_)


def test_band_references_resolve_against_the_catalog(tmp_path: Path) -> None:
    root = own_model_site(tmp_path)
    (article,) = _articles(root, '"parts[-1]"')
    gallery, negative = article.figures
    bands = {"edges": ["stem.2", "stage1.0"], "parts": ["stage3.0", "stage3.1"]}
    model = load_site_models(load_config(root / "site.toml"), "cpu")[0]
    by_band = {b: [i.name for i in model.layers if i.band == b] for b in bands}
    assert gallery.options["layers"] == (
        by_band["edges"][len(by_band["edges"]) // 2],
        by_band["parts"][-1],
        [i.name for i in model.layers if i.band == "objects"][0],
    )
    assert negative.options["layer"] == by_band["parts"][-1]


def test_a_band_reference_the_model_cannot_resolve_names_the_bands(tmp_path: Path) -> None:
    root = own_model_site(tmp_path)
    with pytest.raises(
        FeatvisError,
        match=r"content/bands\.md:17: figure 'negative': .*cannot resolve layer 'parts\[7\]' "
        r"\(bands and their layers: edges \d+, textures \d+, patterns \d+, parts \d+, objects \d+",
    ):
        _articles(root, '"parts[7]"')


def test_a_figure_model_not_in_models_is_an_error(tmp_path: Path) -> None:
    root = own_model_site(tmp_path)
    with pytest.raises(
        FeatvisError,
        match=r"^content/bands\.md:19: figure 'negative': unknown model 'timm:resnet50' "
        r"\(valid: python:tiny_cnn\.py:build\)$",
    ):
        _articles(root, "parts", "model: timm:resnet50\n")


def test_the_flagship_builds_for_a_second_architecture(tmp_path: Path) -> None:
    """`featvis init --model ... --weights ...` then a build: the flagship article, written with
    band references and model variables, builds for the example network."""
    root = own_model_site(tmp_path / "net")
    site = tmp_path / "site"
    init = subprocess.run(
        [sys.executable, "-m", "generator", "init", str(site), "--model",
         f"python:{root / 'tiny_cnn.py'}:build", "--weights", str(root / "tiny.pth")],
        capture_output=True, text=True, check=False,
    )
    assert init.returncode == 0, init.stderr
    with (site / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'input_size = 64\nclasses = "{root / "classes.txt"}"\n')
        toml.write('explorer_layers = ["objects[-1]"]\n')
    report = build_site(load_config(site / "site.toml"), preset=TINY, quiet=True)
    assert report.pages >= 2
    html = (site / "site_output" / "feature-visualization.html").read_text(encoding="utf-8")
    text = " ".join(html.split())
    assert "one network, TinyCNN, with 9 visualizable layers" in text
    assert "EfficientNet" not in text.split("References")[0]
    assert "TinyCNN shrinks its grid from 64 pixels to 8 by 8" in text
    assert "{{" not in text


def test_the_own_model_example_builds_as_the_guide_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/models.md: `cd examples/own-model && python3 save_checkpoint.py && featvis build`."""
    site = tmp_path / "own-model"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("tiny_cnn.pth", "site_output",
                                                                 ".featvis-cache"))
    monkeypatch.setattr(sys, "argv", ["save_checkpoint.py"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(site / "save_checkpoint.py"), run_name="__main__")
    with (site / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write('explorer_layers = ["stage1.0"]\n')  # the article, and a small explorer
    preset = Preset("tiny", size=32, steps=2, explorer_channels=1, figure_scale=0.5,
                    diversity=False)
    report = build_site(load_config(site / "site.toml"), preset=preset, quiet=True)
    assert report.pages >= 1
    text = " ".join((site / "site_output" / "index.html").read_text(encoding="utf-8").split())
    assert "This site shows TinyCNN" in text and "{{" not in text
    assert "1 of the 9 layers of TinyCNN" in text, "the home page counts the explorer's layers"
    out = site / "site_output" / "explorer"
    pages = [page.read_text(encoding="utf-8") for page in out.glob("*/*/*.html")]
    grey = [page for page in pages if 'fill="#eee"' in page]  # neighbours with no picture
    assert grey, "without photos a neighbour the preset left out has no picture"
    for page in grey:  # and the caption says so, not that it shows a top photo
        assert "shows its top photo" not in page and "A grey square is a channel" in page


def _flagship_layers(tmp_path: Path, model: str) -> dict[str, object]:
    """The layers each figure of the shipped flagship article resolves to for `model`."""
    from generator.models import load_model

    shutil.copytree(REPO / "content", tmp_path / "content")
    (tmp_path / "site.toml").write_text(f'model = "{model}"\n', encoding="utf-8")
    articles = read_articles(load_config(tmp_path / "site.toml"))
    (article,) = [a for a in articles if a.page.slug == "feature-visualization"]
    bind_articles([article], load_model(model, random_weights=True))
    return {f.id: f.options.get("layers") or f.options.get("layer") for f in article.figures}


def test_the_flagship_shows_lite0_the_layers_it_always_did(tmp_path: Path) -> None:
    """Band references pick the Lite0 layers the article used to name, so its pictures, cache
    entries and numbers are unchanged."""
    layers = _flagship_layers(tmp_path, "efficientnet_lite0")
    assert layers["progression"] == (
        "blocks.1.1", "blocks.2.1", "blocks.3.2", "blocks.4.2", "blocks.5.3", "conv_head",
    )
    assert layers["objectives"] == "blocks.5.3"
    assert {layers[k] for k in layers if k not in ("progression", "objectives")} == {"blocks.4.2"}


def test_the_flagship_binds_to_resnet50(tmp_path: Path) -> None:
    layers = _flagship_layers(tmp_path, "torchvision:resnet50")
    assert layers["progression"] == (
        "layer1.2", "layer2.1", "layer2.3", "layer3.3", "layer4.0", "layer4.2",
    )
    assert layers["progress"] == "layer3.3"


def test_a_misnamed_explorer_layer_stops_before_the_next_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model's explorer layers are checked as it loads: the first model's typo is one line
    naming its site.toml line, and the second network is never built."""
    import generator.models.site as site_models

    for name in ("one.py", "two.py"):
        shutil.copyfile(EXAMPLE / "tiny_cnn.py", tmp_path / name)
    (tmp_path / "site.toml").write_text(
        'device = "cpu"\nmodels = [\n'
        '  {model = "python:one.py:build", random_weights = true, input_size = 32, '
        'explorer_layers = ["stem.9"]},\n'
        '  {model = "python:two.py:build", random_weights = true, input_size = 32},\n]\n',
        encoding="utf-8",
    )
    loaded: list[str] = []
    real = site_models.load_spec

    def counting(config: object, spec: object, *args: object, **kw: object) -> object:
        loaded.append(spec.id)  # type: ignore[attr-defined]
        return real(config, spec, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(site_models, "load_spec", counting)
    bad = r"site\.toml:3: explorer_layers: unknown layer 'stem\.9'"
    with pytest.raises(FeatvisError, match=bad):
        load_site_models(load_config(tmp_path / "site.toml"))
    assert loaded == ["python:one.py:build"]


def test_photos_are_named_by_their_path_in_the_folder(tmp_path: Path) -> None:
    """A photo folder of class subfolders often holds two files of one name (`cats/IMG_1.jpg`,
    `dogs/IMG_1.jpg`): the channel pages name each photo by its path in the folder."""
    sample = sorted((REPO.parent / "shared" / "datasets" / "imagenet-sample").glob("*.jpg"))
    photos = tmp_path / "photos"
    for n, folder in enumerate(("cats", "dogs")):
        (photos / folder).mkdir(parents=True)
        for i in range(3):
            shutil.copy(sample[10 * n + i], photos / folder / f"IMG_{i}.jpg")
    site = own_model_site(tmp_path / "site", f'dataset = "{photos}"\n')
    toml = (site / "site.toml").read_text(encoding="utf-8")  # a layer whose classes are read too
    toml = toml.replace('["edges[0]"]', '["edges[0]", "objects[-1]"]')
    (site / "site.toml").write_text(toml, encoding="utf-8")
    build_site(load_config(site / "site.toml"), preset=TINY, quiet=True)
    pages = (site / "site_output" / "explorer").rglob("*/*.html")
    text = " ".join(p.read_text(encoding="utf-8") for p in pages)
    shown = set(re.findall(r'<span class="photo-name">([^<]*)</span>', text))
    assert shown and all(re.fullmatch(r"(cats|dogs)/IMG_\d\.jpg", name) for name in shown), shown
    # and so do the class readings the manifest gives (the model's class for the top photo)
    manifest = (site / "site_output" / "manifest.json").read_text(encoding="utf-8")
    found = re.findall(r'"top_photo": \[(.*?)\]', manifest, re.S)
    tops = [json.loads(f"[{top}]")[-1] for top in found]
    assert tops and all(re.fullmatch(r"(cats|dogs)/IMG_\d\.jpg", name) for name in tops), tops
