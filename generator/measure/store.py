"""Where measurements live: `cache_dir/measures/<key[:2]>/<key>.json` (or `.pt` for tensors),
written atomically, keyed by a hash of everything the number depends on and `MEASURE_VERSION`.

A measurement is a pure function of its key's parts (an artifact's key, the photos it reads by
path, size and modification time, the model's weights), so a build that finds one never runs the
network for it again, and a folder that gains photos measures again only what read a photo that
changed.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from generator.cache.entries import read_entry
from generator.cache.reads import note
from generator.cache.store import MEASURES_DIR
from generator.core.atomic import atomic_write

T = TypeVar("T")

MEASURE_VERSION = 2  # bump when a measurement's code changes what it gives


def measure_key(*parts: Any) -> str:
    text = json.dumps([MEASURE_VERSION, *parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]



class MeasureStore:
    """JSON and tensor measurements under `cache_dir/measures/`; damaged entries are reported
    misses (`generator.cache.entries`)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / MEASURES_DIR

    def _path(self, key: str, suffix: str) -> Path:
        path = self.root / key[:2] / f"{key}{suffix}"
        note(path)
        return path

    def get(self, key: str, decode: Callable[[dict[str, Any]], T] | None = None) -> Any:
        """The measurement of `key` (through `decode`, whose errors mark it damaged), or None when
        it is absent or damaged (reported, then measured again)."""

        def read() -> Any:
            data = json.loads(self._path(key, ".json").read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            return data if decode is None else decode(data)

        return read_entry(self._path(key, ".json"), read)

    def put(self, key: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, allow_nan=False, sort_keys=True) + "\n"
        atomic_write(self._path(key, ".json"), lambda tmp: Path(tmp).write_text(text, "utf-8"))

    def get_tensor(self, key: str) -> tuple[bool, torch.Tensor | None]:
        """(found, tensor or None as stored); a damaged file is reported and not found."""

        def read() -> tuple[bool, torch.Tensor | None]:
            data = self._path(key, ".pt").read_bytes()
            value = torch.load(io.BytesIO(data), weights_only=True)
            tensor = value.get("tensor") if isinstance(value, dict) else 0
            if not isinstance(tensor, torch.Tensor | None):
                raise TypeError("not a stored tensor")
            return True, tensor

        found = read_entry(self._path(key, ".pt"), read)
        return (False, None) if found is None else found

    def put_tensor(self, key: str, tensor: torch.Tensor | None) -> None:
        buffer = io.BytesIO()
        torch.save({"tensor": tensor}, buffer)
        atomic_write(self._path(key, ".pt"), lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
