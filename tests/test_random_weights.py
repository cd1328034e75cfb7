"""`random_weights`: a site of an untrained network from site.toml or the command line, drawn
from the site's seed, refused beside a checkpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from samples import sample_photos

from generator.cli import main
from generator.commands.common import config_from_args
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.models.site import load_spec

MODEL = "timm:test_resnet"  # a tiny timm architecture with no pretrained weights offline


def _site(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'title = "t"\n{body}', encoding="utf-8")
    return path


def _digest(tmp_path: Path, seed: int) -> tuple[str, str]:
    body = f'model = "{MODEL}"\nrandom_weights = true\nseed = {seed}\n'
    config = load_config(_site(tmp_path, body))
    (spec,) = config.model_specs
    model = load_spec(config, spec, "cpu")
    return model.weights_digest, model.weights_source


def test_random_weights_load_offline_from_the_sites_seed(tmp_path: Path) -> None:
    first, source = _digest(tmp_path, 3)
    assert source == "random (seed 3)"
    assert _digest(tmp_path, 3)[0] == first, "the same seed, the same network"
    assert _digest(tmp_path, 4)[0] != first, "another seed, another network"


@pytest.mark.parametrize(
    "body, line",
    [
        (f'model = "{MODEL}"\nweights = "m.pth"\nrandom_weights = true\n', 4),
        # in a list over several lines: the entry's own line
        (f'models = [\n  {{model = "{MODEL}", weights = "m.pth", random_weights = true}},\n]\n', 3),
    ],
)
def test_random_weights_beside_weights_is_one_line_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int
) -> None:
    path = _site(tmp_path, body)
    with pytest.raises(FeatvisError, match=rf"^{path}:{line}: 'random_weights = true' beside"):
        load_config(path)
    assert main(["layers", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:{line}: " in err


def test_the_flag_makes_every_model_of_the_site_untrained(tmp_path: Path) -> None:
    from generator.cli import build_parser

    models = f'models = [{{model = "{MODEL}", weights = "m.pth"}}, "efficientnet_lite0"]\n'
    path = _site(tmp_path, models)
    args = build_parser().parse_args(["build", "--config", str(path), "--random-weights"])
    specs = config_from_args(args).model_specs
    assert [(s.id, s.weights, s.random_weights) for s in specs] == [
        (MODEL, None, True), ("efficientnet_lite0", None, True)
    ]
    args = build_parser().parse_args(["build", "--config", str(path), "--random-weights",
                                      "--weights", "x.pth"])
    with pytest.raises(FeatvisError, match="--random-weights and --weights together"):
        config_from_args(args)


def test_init_writes_random_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "untrained"
    assert main(["init", "--model", MODEL, "--random-weights", str(target)]) == 0
    (spec,) = load_config(target / "site.toml").model_specs
    assert (spec.id, spec.weights, spec.random_weights) == (MODEL, None, True)
    assert main(["init", "--random-weights", "--weights", "m.pth", str(tmp_path / "b")]) == 2
    assert "--random-weights and --weights together" in capsys.readouterr().err
    assert not (tmp_path / "b").exists(), "nothing written"


def test_the_explorer_says_the_weights_are_random(tmp_path: Path) -> None:
    from generator.build import build_site
    from generator.config.presets import Preset

    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "notes.md").write_text(
        f"---\ntitle: Notes\n---\n\nText.\n\n```figure\ntype: negative\nmodel: {MODEL}\n"
        "layer: edges[0]\nchannels: 1\n```\n"
    )
    body = f'model = "{MODEL}"\nrandom_weights = true\nseed = 5\nexplorer_layers = ["edges[0]"]\n'
    config = load_config(_site(tmp_path, body))
    tiny = Preset("tiny", size=32, steps=2, explorer_channels=1, figure_scale=0.5, diversity=False)
    build_site(config, preset=tiny, quiet=True)
    out = tmp_path / "site_output" / "explorer"
    index = " ".join((out / "index.html").read_text(encoding="utf-8").split())
    assert "Untrained: weights random (seed 5)." in index
    home = " ".join((tmp_path / "site_output" / "index.html").read_text(encoding="utf-8").split())
    assert "is untrained: its weights are random (seed 5), not learned" in home
    (page,) = [p for p in out.glob("*/index.html")]
    assert "its weights are random (seed 5), not learned" in " ".join(page.read_text().split())
    article = (tmp_path / "site_output" / "notes.html").read_text(encoding="utf-8")
    article = " ".join(article.split())
    assert "is untrained: its weights are random (seed 5), not learned" in article
    # a figure naming its model says so itself (an article may show a trained one)
    assert f"An untrained network, <code>{MODEL}</code>: its weights are random (seed 5)" in article


def test_an_untrained_networks_outputs_are_numbered_not_named(tmp_path: Path, lite0) -> None:  # type: ignore[no-untyped-def]
    """An untrained network's outputs are classes of nothing: without a `classes` file it names
    none, its readings and class pictures say "output N"; a `classes` file still names them, and a
    trained network keeps ImageNet's names."""
    import torch

    from generator.dataset.checks import class_reading
    from generator.models import load_model

    model = load_model(MODEL, random_weights=True)
    assert (model.class_names, model.classes, model.read_outputs) == ((), 1000, 1000)
    assert model.class_name(207) == "output 207" and model.class_index(207) == 207
    no_names = r"unknown class 'tench': an untrained network's outputs have no names \(give an "
    with pytest.raises(FeatvisError, match=no_names + r"index, 0\.\.999"):
        model.class_index("tench")
    picture = model.read(torch.rand(2, 3, 32, 32), 3)
    assert [len(p) for p in picture] == [3, 3], "read by number"
    reading = class_reading(model, picture[0], picture[1][0], tmp_path / "a.jpg")
    assert reading is not None
    assert all(re.fullmatch(r"output \d+", name) for name, _ in (*reading.picture, reading.photo))
    (tmp_path / "classes.txt").write_text("".join(f"kind {i}\n" for i in range(1000)))
    named = load_model(MODEL, random_weights=True, classes="classes.txt", root=tmp_path)
    assert named.class_name(207) == "kind 207" and named.class_index("kind 3") == 3
    assert lite0.class_name(207) == "golden retriever" and len(lite0.class_names) == 1000


def test_an_untrained_sites_class_pictures_name_outputs(tmp_path: Path, sample_dir: Path) -> None:
    """Built end to end (an untrained SqueezeNet at 32 px, 6 photos): the class picture's caption,
    the number the text quotes and the explorer's readings are "output N" or "outputs", never an
    ImageNet class name or "classes"."""
    from generator.build import build_site
    from generator.config.presets import Preset

    photos = sample_photos(tmp_path / "photos", count=6)

    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(
        "---\ntitle: A\n---\n\nIt drives {{ numbers.what.class }} hardest.\n\n"
        "```figure\ntype: objectives\nid: what\nlayer: features.7\nchannel: 0\n```\n",
        encoding="utf-8",
    )
    _site(tmp_path, 'model = "torchvision:squeezenet1_1"\nrandom_weights = true\ninput_size = 32\n'
          f'explorer_layers = ["features.7"]\ncache_dir = "{tmp_path / "cache"}"\ndevice = "cpu"\n'
          f'dataset = "{photos}"\n')
    build_site(load_config(tmp_path / "site.toml"), quiet=True,
               preset=Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0))
    html = (tmp_path / "site_output" / "a.html").read_text(encoding="utf-8")
    said = re.search(r"It drives (.+?) hardest", html)
    assert said and re.fullmatch(r"output \d+", said.group(1)), said
    assert f"Channel features.7:0; {said.group(1)}." in html
    assert "classes of nothing" in html and "; class " not in html
    assert "Output logit" in html and "Class logit" not in html
    layer = " ".join((tmp_path / "site_output" / "explorer").glob("*/features.7.html").__next__()
                     .read_text(encoding="utf-8").split())
    assert "the outputs the model reads in the image beside the output it reads" in layer
    assert "classes the model reads" not in layer


def test_an_untrained_block_whose_branch_starts_switched_off_is_no_copy_of_its_input() -> None:
    """timm's ResNets start the norm that ends each residual branch at 0 and ConvNeXt its layer
    scale at 1e-6, NFNet its skip-init gain at 0: untrained, each such block passed its input
    on (all but) unchanged, and the explorer showed one layer's pictures block after block
    (timm's resnet18: 4 of its 8 pairs of neighbours alike; convnext_atto: 9 of 12). Random
    weights switch those branches on; a gain that starts elsewhere is left as it is."""
    import torch
    from torch import nn

    from generator.models import capture, load_model
    from generator.models.base import redraw_zero_weights

    for spec in ("timm:resnet18", "timm:convnext_atto"):
        model = load_model(spec, random_weights=True, input_size=32)
        paths = [info.module_path for info in model.layers]
        with torch.no_grad(), capture(model.net, paths) as out:
            model.net(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
        alike = [(a, b) for a, b in zip(paths, paths[1:], strict=False)
                 if out[a].shape == out[b].shape and torch.allclose(out[a], out[b], atol=1e-4)]
        assert not alike, (spec, alike)

    block = nn.Module()
    block.skipinit_gain = nn.Parameter(torch.tensor(0.0))
    block.layer_scale = nn.Parameter(torch.full((4, 1, 1), 1e-6))
    block.gamma = nn.Parameter(torch.tensor([0.0, 0.5]))  # trained, or drawn: left alone
    block.logit_scale = nn.Parameter(torch.full((2, 1, 1), 2.3))
    redraw_zero_weights(block)
    assert block.skipinit_gain.item() == 1.0 and bool((block.layer_scale == 1).all())
    assert block.gamma.tolist() == [0.0, 0.5] and bool((block.logit_scale == 2.3).all())
