"""Shared fixtures: the embedded model is loaded once per session (it takes about 3 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from generator.models import LoadedModel, load_model

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    # two by default (the CI machine's cores); OMP_NUM_THREADS=1 runs the suite on one thread
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 2))


@pytest.fixture(scope="session")
def lite0() -> LoadedModel:
    return load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"{SAMPLE} is absent: the ImageNet sample ships beside the repo, not in it")
    return SAMPLE
