"""Shared fixtures: the embedded model is loaded once per session (it takes about 3 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from generator.models import LoadedModel, load_model

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"


def threads_per_worker() -> int:
    """OMP_NUM_THREADS where set; else the cores shared out among pytest-xdist's workers (the
    suite runs in `-n 2` of them, pyproject.toml), one at least: two workers of two threads each
    on two cores would wait on one another's threads."""
    if os.environ.get("OMP_NUM_THREADS"):
        return int(os.environ["OMP_NUM_THREADS"])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(threads_per_worker())


@pytest.fixture(scope="session")
def lite0() -> LoadedModel:
    return load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def tiny() -> LoadedModel:
    """The own-model example's network (random weights, seed 3) at 32 px: scans, measurements and
    accentuations in a few seconds."""
    net = REPO / "examples" / "own-model" / "tiny_cnn.py"
    return load_model(f"python:{net}:build", seed=3, input_size=32)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"{SAMPLE} is absent: the ImageNet sample ships beside the repo, not in it")
    return SAMPLE
