"""Networks of grey input: the luminance conversion, a grey network loaded with one mean and one
std, grey visualizations, grey filters and accentuations, and the one-line errors of a
normalization that does not fit. The whole site of one, with photos, builds in tests/test_matrix.py
(`grey`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from generator.atlas.accentuation import photo_param
from generator.cli import main
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.core.images import LUMA, grey, luminance
from generator.measure.filters import linear_filters
from generator.models import load_model
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.param import ImageParam, ParamSpec
from generator.optvis.transforms import TransformSpec

NETS = '''\
import torch
from torch import nn


def mnist():
    """An MNIST-style network: 28 px grey pictures, two convolutions, two linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10),
    )


class Functional(nn.Module):
    """A first layer written as a function of a weight of one input channel."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 1, 3, 3) * 0.3)
        self.rest = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x):
        return self.rest(torch.nn.functional.conv2d(x, self.weight))


def functional():
    return Functional()


def pooled():
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grey") / "greynets.py"
    path.write_text(NETS, encoding="utf-8")
    return path


def _grey(images: torch.Tensor) -> bool:
    return bool(torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 1], images[:, 2]))


def test_luminance_weighs_the_colours_as_pil_does() -> None:
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (3, 5, 7), generator=gen, dtype=torch.uint8)
    ours = luminance(rgb.float()[None])[0, 0]
    pil = Image.fromarray(rgb.permute(1, 2, 0).numpy(), "RGB").convert("L")
    theirs = torch.frombuffer(bytearray(pil.tobytes()), dtype=torch.uint8).view(5, 7).float()
    assert (ours - theirs).abs().max() <= 1.0  # PIL rounds to whole values
    flat = torch.full((1, 3, 2, 2), 0.3)
    assert torch.allclose(luminance(flat), torch.full((1, 1, 2, 2), 0.3))  # grey stays
    assert abs(sum(LUMA) - 1.0) < 1e-9
    shown = grey(torch.rand(2, 3, 4, 4, generator=gen))
    assert shown.shape == (2, 3, 4, 4) and _grey(shown)


def test_a_grey_network_sees_the_luminance_normalized_once(nets: Path) -> None:
    model = load_model(f"python:{nets}:mnist", input_size=28, mean=[0.1307], std=[0.3081])
    assert model.input_channels == 1 and model.grey
    assert model.mean == (0.1307,) and model.std == (0.3081,)
    assert model.fixed_input  # its linear layer takes 28 px only
    assert model.description.endswith("It sees grey pictures (one channel: the luminance of a "
                                      "colour one), so every picture here is shown grey, as it "
                                      "saw it.")
    photos = torch.rand(3, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    bare = nn.Sequential(*model.net)  # the same modules, without the luminance at the entrance
    expected = bare((luminance(photos) - 0.1307) / 0.3081)
    with torch.no_grad():
        assert torch.allclose(model.net(model.preprocess(photos)), expected, atol=1e-5)
        # a grey picture given as one channel is taken as it is
        one = model.net((luminance(photos) - 0.1307) / 0.3081)
        assert torch.allclose(one, expected, atol=1e-5)
    default = load_model(f"python:{nets}:mnist", input_size=28)
    imagenet = (0.485, 0.456, 0.406)
    assert default.mean == (round(sum(w * v for w, v in zip(LUMA, imagenet, strict=True)), 4),)
    assert default.digest != model.digest  # another normalization, other cache keys


def test_a_flatten_head_at_another_size_says_to_set_input_size(nets: Path) -> None:
    """`featvis init --model python:mnist.py:build` leaves input_size at 224: the error says what
    to set, not only which matrices did not fit."""
    with pytest.raises(FeatvisError, match=r"a forward pass at 224 px failed; its head takes one "
                       r"input size only: set input_size to the size it was trained at \(one "
                       r"number, or \[H, W\]\) \(mat1 and mat2 .*\)$"):
        load_model(f"python:{nets}:mnist")


def test_the_input_size_hint_survives_a_long_error_line(
    nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site in a deep folder makes the line longer than featvis prints: what is cut is the
    matrices' shapes, not what to set."""
    root = tmp_path / "digit-classifier-site"
    root.mkdir(parents=True)
    (root / "digits.py").write_text(nets.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "site.toml").write_text('model = "python:digits.py:mnist"\n', encoding="utf-8")
    assert main(["layers", "--config", str(root / "site.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err) <= 300 and err.endswith(" chars)"), err  # elided
    assert "set input_size to the size it was trained at" in err, err


def test_a_first_layer_of_one_channel_is_found_however_it_is_written(nets: Path) -> None:
    model = load_model(f"python:{nets}:functional", input_size=16, random_weights=True)
    assert model.grey and model.layer_names


def test_a_grey_networks_visualizations_are_grey_and_rise(nets: Path) -> None:
    model = load_model(f"python:{nets}:pooled", input_size=32, random_weights=True)
    objectives = [obj.channel("0", 1), obj.channel("2", 3)]
    settings = RenderSettings(size=32, steps=4, lr=0.05, transforms=TransformSpec.none(),
                              snapshot_steps=(0, 2))
    result = render(model, objectives, settings, seeds=0)
    assert result.images.shape == (2, 3, 32, 32)
    assert _grey(result.images) and all(_grey(s) for s in result.snapshots.values())
    assert (result.history[-1] > result.history[0]).all(), result.history
    assert result.images.std() > 0  # not a flat picture


def test_a_grey_parameterization_has_no_colour_to_drift() -> None:
    for kind in ("fourier", "pixel", "maco"):
        spec = ParamSpec(kind=kind)  # type: ignore[arg-type]
        param = ImageParam(spec, 16, [0, 1], channels=1)
        assert param.values.shape[1] == 1
        assert _grey(param())
    shared = ImageParam(ParamSpec(shared=True), 16, [0, 1, 2], groups=[0, 0, 0], channels=1)
    assert _grey(shared())
    with pytest.raises(ValueError, match="valid: 1, 3"):
        ImageParam(ParamSpec(), 16, [0], channels=2)


def test_an_accentuation_of_a_grey_network_starts_at_the_photos_luminance() -> None:
    photos = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 0.9 + 0.05
    for kind in ("fourier", "pixel"):
        param = photo_param(ParamSpec(kind=kind), photos, [0, 1], torch.device("cpu"),  # type: ignore[arg-type]
                            channels=1)
        with torch.no_grad():
            start = param()
        assert _grey(start)
        assert torch.allclose(start[:, :1], luminance(photos), atol=1e-4)


def test_a_grey_networks_filters_are_grey(nets: Path) -> None:
    model = load_model(f"python:{nets}:pooled", input_size=32, random_weights=True)
    filters = linear_filters(model, "0")
    assert filters is not None and filters.shape == (8, 3, 3, 3)
    assert _grey(filters)
    conv = model.net[0]
    # the weight on the luminance, through the normalization
    assert torch.allclose(filters[:, 0], conv.weight[:, 0] / model.std[0], atol=1e-5)


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        ("mean = [0.5, 0.5, 0.5]\n", "mean",
         "mean needs 1 number for a grey network (its first layer takes 1 input channel), got 3"),
        ("std = [0.3, 0.3, 0.3]\n", "std", "std needs 1 number for a grey network"),
    ],
)
def test_three_values_for_a_grey_network_name_site_toml(
    nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, key: str,
    expected: str,
) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "site.toml").write_text(
        f'model = "python:{nets}:mnist"\nrandom_weights = true\ninput_size = 28\n{toml}',
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["build", "--config", str(tmp_path / "site.toml"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"site.toml:4: model 'python:{nets}:mnist': {expected}" in lines[0]
    assert not (tmp_path / "site_output").exists()


def test_one_value_of_mean_and_std_is_read_bare_or_in_a_list(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text("mean = 0.1307\nstd = [0.3081]\n", encoding="utf-8")
    config = load_config(tmp_path / "site.toml")
    assert config.mean == (0.1307,) and config.std == (0.3081,)
    # for an RGB network, one value stands for all three
    model = load_model("python:" + _write_rgb(tmp_path) + ":build", input_size=16,
                       mean=[0.5], std=[0.25])
    assert model.input_channels == 3 and model.mean == (0.5,) * 3 and model.std == (0.25,) * 3
    (tmp_path / "site.toml").write_text("std = 0\n", encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"site.toml:1: 'std' needs numbers above 0"):
        load_config(tmp_path / "site.toml")


def _write_rgb(folder: Path) -> str:
    path = folder / "rgbnet.py"
    path.write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), "
        "nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n",
        encoding="utf-8",
    )
    return str(path)
