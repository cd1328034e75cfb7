"""Every cache is keyed by what changes its content: the network's digest holds, besides its
weights, the input normalization and size, the modules shown and a `python:` factory's source; a
setting left as the family ships it keeps the old keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.config.site import load_config
from generator.figures.context import PlanContext
from generator.models import LoadedModel, load_model
from generator.models.site import load_spec
from generator.optvis import objectives as obj

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "examples" / "own-model" / "tiny_cnn.py"


@pytest.fixture()
def factory(tmp_path: Path) -> Path:
    shutil.copy(TINY, tmp_path / "net.py")
    return tmp_path / "net.py"


def _load(file: Path, **options: object) -> LoadedModel:
    settings = {"input_size": 32, **options}
    return load_model(f"python:{file}:build", seed=3, **settings)  # type: ignore[arg-type]


def test_each_setting_the_network_sees_changes_the_digest(factory: Path) -> None:
    base = _load(factory)
    assert _load(factory).digest == base.digest  # the same settings: the same keys
    changed = {
        "mean": _load(factory, mean=(0.5, 0.5, 0.5)),
        "std": _load(factory, std=(0.5, 0.5, 0.5)),
        "input size": _load(factory, input_size=48),
        "layers": _load(factory, layers=["stem", "stage1.0"]),
    }
    factory.write_text(factory.read_text() + "\n# an edit to the factory's file\n")
    changed["source"] = _load(factory)
    digests = {name: model.digest for name, model in changed.items()}
    assert base.digest not in digests.values()
    assert len(set(digests.values())) == len(digests), digests
    # the weights are the same seeded ones: only the digest of what the network computes moves
    same_size = {m.weights_digest for m in changed.values() if m.input_size == 32}
    assert same_size == {base.weights_digest}


def test_a_family_default_keeps_the_weights_digest(lite0: LoadedModel) -> None:
    assert lite0.digest == lite0.weights_digest
    same = load_model("efficientnet_lite0", random_weights=True, mean=lite0.mean, std=lite0.std)
    assert same.digest == same.weights_digest


def test_mean_in_site_toml_changes_the_jobs_key(tmp_path: Path, factory: Path) -> None:
    keys = []
    for mean in ("", "mean = [0.4, 0.4, 0.4]\n"):
        (tmp_path / "site.toml").write_text(
            f'model = "python:net.py:build"\ninput_size = 32\n{mean}', encoding="utf-8"
        )
        config = load_config(tmp_path / "site.toml")
        model = load_spec(config, config.model_specs[0], "cpu")
        ctx = PlanContext(config, model, config.preset_for("cpu"))
        job = ctx.job([obj.channel("stem", 0)])
        assert job.weights_digest == model.digest
        keys.append(job.key)
    assert keys[0] != keys[1]


TWO_WAYS = '''\
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, overwrite):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)
        self.bn = nn.BatchNorm2d(8)
        self.overwrite = overwrite

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=self.overwrite)


def in_place():
    return nn.Sequential(Block(True), nn.Conv2d(8, 8, 3, 1, 1))


def copied():
    return nn.Sequential(Block(False), nn.Conv2d(8, 8, 3, 1, 1))
'''


def test_a_network_that_changes_outputs_in_place_has_keys_of_its_own(tmp_path: Path) -> None:
    """A hook reads each module's output as the module made it (a copy). A network whose forward
    changes one later (GoogLeNet's `F.relu(x, inplace=True)` after each norm) gave other pictures
    of that module when the changed tensor was read, so its keys are its own; the same network
    computing out of place keeps its digest."""
    (tmp_path / "two.py").write_text(TWO_WAYS, encoding="utf-8")
    changes, keeps = (load_model(f"python:{tmp_path / 'two.py'}:{name}", seed=3, input_size=32,
                                 layers=["0.bn", "1"]) for name in ("in_place", "copied"))
    assert changes.weights_digest == keeps.weights_digest
    assert changes.digest != keeps.digest
    again = load_model(f"python:{tmp_path / 'two.py'}:copied", seed=3, input_size=32,
                       layers=["0.bn", "1"])
    assert again.digest == keeps.digest
