"""Where a scan's tables live: `cache_dir/dataset/<key>/`, one file per layer, written atomically.

The key hashes the folder's fingerprint, the model id and network digest, the input size, `top_k`
and `FORMAT_VERSION`. A damaged file is reported (`generator.cache.entries`) and scanned again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from generator.cache.entries import read_entry
from generator.cache.store import DATASET_DIR
from generator.core.atomic import atomic_write
from generator.core.errors import FeatvisError
from generator.models.base import LoadedModel

FORMAT_VERSION = 4


def _cache_dir(config: Any, model: LoadedModel, fingerprint: str, top_k: int) -> Path:
    spec = json.dumps(
        [FORMAT_VERSION, fingerprint, model.id, model.digest, model.input_size, top_k]
    )
    return Path(config.cache_dir) / DATASET_DIR / hashlib.sha256(spec.encode()).hexdigest()[:20]


def _layer_file(folder: Path, layer: str) -> Path:
    safe = re.sub(r"[^\w.-]", "_", layer)
    return folder / f"{safe}-{hashlib.sha256(layer.encode()).hexdigest()[:8]}.pt"


def _write_cache(folder: Path, tables: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    try:
        for name, data in tables.items():
            atomic_write(_layer_file(folder, name), lambda p, d=data: torch.save(d, p))
        text = json.dumps(meta, indent=1)
        atomic_write(folder / "meta.json", lambda p: Path(p).write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise FeatvisError(
            f"{folder}: cannot write the dataset cache ({exc.strerror or exc}); "
            "choose another cache folder with --cache"
        ) from None


def _meta_ok(meta: Any) -> bool:
    return (
        isinstance(meta, dict)
        and all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool)
                for k in ("images_read", "images_skipped"))
        and isinstance(meta.get("skipped"), list)
    )


def _read_cached(
    folder: Path, layers: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The cached tables of `layers` and the scan's sidecar; a damaged file is reported and read
    as missing (that layer, or with the sidecar the whole scan, is scanned again)."""

    def read_meta() -> dict[str, Any]:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not _meta_ok(meta):
            raise ValueError("not a scan's sidecar")
        return meta  # type: ignore[no-any-return]

    def read_layer(path: Path) -> dict[str, Any]:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict):
            raise TypeError(f"a {type(data).__name__}, not a layer's tables")
        return data

    found: dict[str, dict[str, Any]] = {}
    meta = read_entry(folder / "meta.json", read_meta)
    if meta is None:
        return found, None
    for layer in layers:
        path = _layer_file(folder, layer)
        data = read_entry(path, lambda path=path: read_layer(path))  # type: ignore[misc]
        if data is not None and data.get("format") == FORMAT_VERSION:
            found[layer] = data
    return found, meta
