"""`random_weights`: a site of an untrained network from site.toml or the command line, drawn
from the site's seed, refused beside a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    from generator.config.site import Preset

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
    (page,) = [p for p in out.glob("*/index.html")]
    assert "its weights are random (seed 5), not learned" in " ".join(page.read_text().split())
    article = (tmp_path / "site_output" / "notes.html").read_text(encoding="utf-8")
    article = " ".join(article.split())
    assert "is untrained: its weights are random (seed 5), not learned" in article
    # a figure naming its model says so itself (an article may show a trained one)
    assert f"An untrained network, <code>{MODEL}</code>: its weights are random (seed 5)" in article
