"""Commands on a site of the user's own network: `featvis layers` reads site.toml (also with
`--config`) and takes `--input-size`; the search box suggests a channel of the site's model."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from test_modelsite import own_model_site

from generator.cli import build_parser, main

LAYERS = '["stem", "stage1.0", "stage2.0", "stage3.2"]'


def own_site(root: Path) -> Path:
    """The example network's site (test_modelsite's), showing the layers LAYERS names."""
    return own_model_site(root, f"layers = {LAYERS}\n")


def _rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1] != "#"}


def test_layers_reads_site_toml_and_takes_an_input_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = own_site(tmp_path / "site")
    monkeypatch.chdir(root)
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "# python:tiny_cnn.py:build  weights: " in out and "tiny.pth  input: 64px" in out
    rows = _rows(out)
    assert list(rows)[1:] == ["stem", "stage1.0", "stage2.0", "stage3.2"]
    assert rows["stage3.2"][:2] == ["64", "8x8"]
    monkeypatch.chdir(tmp_path)
    assert main(["layers", "--config", str(root / "site.toml"), "--input-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "input: 32px" in out and _rows(out)["stage3.2"][:2] == ["64", "4x4"]
    assert main(["layers", "--config", str(root / "site.toml"), "--input-size", "8"]) == 2
    assert "--input-size" in capsys.readouterr().err
    # a size the network does not take: the error names the flag, not site.toml's line of 64
    (root / "flat.py").write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, "
        "1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 32 * 32, 10))\n", encoding="utf-8")
    text = (root / "site.toml").read_text(encoding="utf-8")
    (root / "site.toml").write_text(
        "\n".join(line for line in text.replace("tiny_cnn.py", "flat.py").splitlines()
                  if not line.startswith(("weights", "layers", "classes"))), encoding="utf-8")
    assert main(["layers", "--config", str(root / "site.toml"), "--input-size", "32"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featvis: error: --input-size: ") and "at 32 px failed" in err, err


def test_layers_columns_align_past_long_layer_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.a_stage_with_a_rather_long_name = nn.Sequential(*[nn.Sequential(\n"
        "            nn.Conv2d(3 if i == 0 else 8, 8, 3, 2, 1), nn.ReLU()) for i in range(5)])\n"
        "        self.head = nn.Linear(8, 4)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.a_stage_with_a_rather_long_name(x).mean((2, 3)))\n\n\n"
        "def build():\n    return Net()\n",
        encoding="utf-8",
    )
    (tmp_path / "site.toml").write_text(
        'model = "python:net.py:build"\ninput_size = 64\n', encoding="utf-8"
    )
    assert main(["layers", "--config", str(tmp_path / "site.toml")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:1] != "#"]
    assert len(lines) == 6 and len(lines[1].split()[0]) > 24, lines
    ends = {re.search(r"\s(channels|\d+)\s", line).end(1) for line in lines}  # type: ignore[union-attr]
    assert len(ends) == 1, lines
    # with explorer_layers, the rows the explorer shows are marked, band references resolved
    with (tmp_path / "site.toml").open("a", encoding="utf-8") as toml:
        toml.write('explorer_layers = ["parts", "a_stage_with_a_rather_long_name.0.1"]\n')
    assert main(["layers", "--config", str(tmp_path / "site.toml")]) == 0
    out = capsys.readouterr().out
    marked = [line.split()[0] for line in out.splitlines() if line.endswith(" explorer")]
    stage = "a_stage_with_a_rather_long_name"
    assert marked == [f"{stage}.0.1", f"{stage}.3.1"], out
    assert "explorer: 2 of its 5 layers" in out, out


def test_a_model_is_named_by_site_toml_or_its_class(tmp_path: Path) -> None:
    from generator.config.site import load_config
    from generator.models.site import display_name, load_site_models

    root = own_site(tmp_path / "site")
    (model,) = load_site_models(load_config(root / "site.toml"), "cpu")
    assert model.name == display_name(model) == "TinyCNN"
    toml = root / "site.toml"
    toml.write_text(toml.read_text() + 'name = "Our small net"\n', encoding="utf-8")
    (model,) = load_site_models(load_config(toml), "cpu")
    assert model.name == display_name(model) == "Our small net"
    toml.write_text(
        'models = [{model = "python:tiny_cnn.py:build", weights = "tiny.pth", '
        'input_size = 64, name = "Net A"}]\n', encoding="utf-8",
    )
    (model,) = load_site_models(load_config(toml), "cpu")
    assert model.name == "Net A"


def test_every_command_s_help_names_every_model_form() -> None:
    """`featvis COMMAND --help` is where a newcomer looks for `--model`'s forms."""
    actions = build_parser()._actions
    (verbs,) = [a for a in actions if isinstance(a, argparse._SubParsersAction)]
    for verb, sub in verbs._name_parser_map.items():
        text = " ".join(sub.format_help().split())
        if "--model MODEL" in text:
            for form in ("torchvision:NAME", "timm:NAME", "python:FILE.py:FUNCTION"):
                assert form in text, f"featvis {verb} --help: {form}"


def test_demo_draws_the_sites_own_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`featvis demo` in a site's folder (or with --config) draws the site's model with its
    checkpoint and input size, two channels of each band's middle layer, not the embedded
    default."""
    root = own_site(tmp_path / "site")
    monkeypatch.chdir(root)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2", "--size", "32"]) == 0
    printed = capsys.readouterr().out
    assert "visualizations of python:tiny_cnn.py:build" in printed, printed
    rows = [line for line in printed.splitlines() if " objective " in line]
    assert len(rows) == 8 and len({row.index(" objective ") for row in rows}) == 1, rows  # aligned
    drawn = sorted(p.name for p in out.glob("*.png"))
    assert drawn == sorted(["overview.png", *(f"{layer}_{c}.png" for layer in
                                             ("stem", "stage1.0", "stage2.0", "stage3.2")
                                             for c in (0, 1))]), drawn
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--config", str(root), "--out", str(tmp_path / "again"),
                 "--steps", "2", "--size", "32", "--unit", "stage3.2:5"]) == 0
    assert "1 visualization of python:tiny_cnn.py:build" in capsys.readouterr().out
