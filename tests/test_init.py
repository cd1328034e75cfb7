# ruff: noqa: E501  (expected messages read best one per line)
"""`featvis init`: a new site folder that loads and lists the flagship; never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.cli import main
from generator.commands.init import ARTICLES_DIR
from generator.config.site import load_config
from generator.figures.registry import read_pages


def test_init_writes_a_site_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "my-site"
    assert main(["init", str(target)]) == 0
    assert "featvis build" in capsys.readouterr().out
    shipped = sorted(p.name for p in ARTICLES_DIR.iterdir() if p.suffix in (".md", ".bib"))
    assert "feature-visualization.md" in shipped and "references.bib" in shipped
    assert sorted(p.name for p in (target / "content").iterdir()) == shipped
    for name in shipped:
        assert (target / "content" / name).read_bytes() == (ARTICLES_DIR / name).read_bytes()
    config = load_config(target / "site.toml")
    assert config.content_dir == target / "content" and config.model == "efficientnet_lite0"
    pages = {page.slug: page for page in read_pages(config)}
    assert set(pages) == {Path(n).stem for n in shipped if n.endswith(".md")}
    assert pages["feature-visualization"].references, "the flagship's citations resolve"


def test_the_next_step_is_a_command_a_shell_takes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with a space or a quote in its name is quoted in the `cd` the user pastes."""
    import shlex
    import subprocess

    target = tmp_path / "my site's \u732b"
    assert main(["init", str(target)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    command = line.removeprefix("next: ").split("   (")[0]
    assert shlex.split(command)[:2] == ["cd", str(target)], line
    shell = command.replace("featvis build", "pwd")
    assert subprocess.run(["sh", "-c", shell], capture_output=True, text=True).stdout.strip() == str(target)


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.toml").write_text("title = 'mine'\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: would overwrite {tmp_path / 'site.toml'}; choose an empty or new folder" in err
    assert (tmp_path / "site.toml").read_text(encoding="utf-8") == "title = 'mine'\n"
    assert not (tmp_path / "content").exists(), "nothing half-written"
    (tmp_path / "file").write_text("x")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_init_writes_own_model_paths_that_resolve_from_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`featvis init --model python:FILE:fn --weights W DIR`, FILE and W given from the current
    folder: site.toml names them from DIR, so a build in (or of) DIR finds them."""
    import shutil

    import torch

    from generator.models.site import load_site_models

    example = Path(__file__).resolve().parent.parent / "examples" / "own-model" / "tiny_cnn.py"
    shutil.copyfile(example, tmp_path / "mycnn.py")
    namespace: dict[str, object] = {}
    exec(compile(example.read_text(), str(example), "exec"), namespace)  # noqa: S102
    torch.save(namespace["build"]().state_dict(), tmp_path / "my.pth")  # type: ignore[operator]
    monkeypatch.chdir(tmp_path)
    args = ["init", "site1", "--model", "python:mycnn.py:build", "--weights", "my.pth"]
    assert main(args) == 0
    text = (tmp_path / "site1" / "site.toml").read_text(encoding="utf-8")
    assert 'model = "python:../mycnn.py:build"' in text
    assert 'weights = "../my.pth"' in text
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    config = load_config(tmp_path / "site1" / "site.toml")
    (model,) = load_site_models(config, "cpu")
    assert model.weights_source.endswith("my.pth") and type(model.net).__name__ == "TinyCNN"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("timm:vit_tiny_patch16_244", "unknown timm model 'vit_tiny_patch16_244' (did you mean: timm:vit_tiny_patch16_224"),
        ("torchvision:resnet5", "unknown torchvision model 'resnet5' (did you mean: torchvision:resnet50"),
        # a name cut short: the names it begins, shortest first
        ("timm:vit_tiny", "(did you mean: timm:vit_tiny_patch16_224, timm:vit_tiny_patch16_384"),
        ("torchvision:ResNet18", "(did you mean: torchvision:resnet18,"),
        ("torchvison:resnet18", "unknown model 'torchvison:resnet18' (did you mean: torchvision:resnet18?"),
    ],
)
def test_init_checks_the_model_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, message: str
) -> None:
    target = tmp_path / "site"
    assert main(["init", str(target), "--model", model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not target.exists()


def test_init_writes_the_seed_and_device_it_is_given(tmp_path: Path) -> None:
    """`featvis init --random-weights --seed 3 --device cpu`: the site draws its network from
    seed 3 on the CPU (both flags were taken and then left out of site.toml)."""
    target = tmp_path / "site"
    assert main(["init", "--random-weights", "--seed", "3", "--device", "cpu", str(target)]) == 0
    config = load_config(target / "site.toml")
    assert (config.seed, config.device, config.random_weights) == (3, "cpu", True)
    plain = tmp_path / "plain"
    assert main(["init", str(plain)]) == 0
    assert (load_config(plain / "site.toml").seed, load_config(plain / "site.toml").device) == (
        0, "auto"
    )
