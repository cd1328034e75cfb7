"""The ImageNet sample beside the repository (one photo per class), for tests that need photos."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"


def sample_photos(folder: Path, every: int = 1, count: int | None = None) -> Path:
    """`folder`, made and filled with copies of every `every`-th photo of the sample (at most
    `count`), in name order."""
    folder.mkdir(parents=True, exist_ok=True)
    for photo in sorted(SAMPLE.glob("*.jpg"))[::every][:count]:
        shutil.copy(photo, folder / photo.name)
    return folder
