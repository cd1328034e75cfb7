"""site.toml -> a frozen, validated `SiteConfig`.

Every key is known; an unknown key, a wrong type or a bad value is a `FeatvisError` naming the file,
the line where the key stands and the valid choices. Paths are resolved against the folder that
holds site.toml. Command-line flags override the file through `with_overrides`.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import FeatvisError, choices_hint


@dataclass(frozen=True)
class Preset:
    """How much to compute: image size, optimizer steps, explorer channels per layer."""

    name: str
    size: int
    steps: int
    explorer_channels: int | None  # None: every channel of every layer
    figure_scale: float  # fraction of a figure's channels/strengths to keep (1.0 = all)


PRESETS: dict[str, Preset] = {
    "quick": Preset("quick", size=96, steps=96, explorer_channels=2, figure_scale=0.5),
    "standard": Preset("standard", size=128, steps=256, explorer_channels=6, figure_scale=1.0),
    "full": Preset("full", size=128, steps=512, explorer_channels=None, figure_scale=1.0),
}


@dataclass(frozen=True)
class SiteConfig:
    root: Path
    title: str = "featvis"
    description: str = "How a neural network sees, layer by layer."
    model: str = "efficientnet_lite0"
    weights: Path | None = None
    dataset: Path | None = None
    content_dir: Path = Path("content")
    templates_dir: Path | None = None  # None: the templates that ship with featvis
    output_dir: Path = Path("site_output")
    cache_dir: Path = Path(".featvis-cache")
    preset: str | None = None  # None: `full` on a GPU, `standard` on a CPU
    device: str = "auto"
    seed: int = 0
    batch_size: int | None = None
    explorer_layers: tuple[str, ...] | None = None  # None: every layer
    dataset_top_k: int = 8
    strict: bool = False  # every build warning fails the build (`--strict`)
    source: Path | None = None  # the site.toml read, if any

    def preset_for(self, device_type: str) -> Preset:
        name = self.preset or ("full" if device_type == "cuda" else "standard")
        return PRESETS[name]

    def with_overrides(self, **changes: Any) -> SiteConfig:
        changes = {k: v for k, v in changes.items() if v is not None}
        for key in (
            "weights",
            "dataset",
            "content_dir",
            "output_dir",
            "cache_dir",
            "templates_dir",
        ):
            if key in changes:
                changes[key] = _resolve(Path.cwd(), changes[key])
        if "preset" in changes:
            _check_choice("preset", changes["preset"], PRESETS, self.source)
        return dataclasses.replace(self, **changes)


_TYPES: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "description": str,
    "model": str,
    "weights": str,
    "dataset": str,
    "content_dir": str,
    "templates_dir": str,
    "output_dir": str,
    "cache_dir": str,
    "preset": str,
    "device": str,
    "seed": int,
    "batch_size": int,
    "explorer_layers": list,
    "dataset_top_k": int,
    "strict": bool,
}
_PATHS = ("weights", "dataset", "content_dir", "templates_dir", "output_dir", "cache_dir")


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _where(source: Path | None, text: str, key: str) -> str:
    if source is None:
        return "config"
    line = _line_of(text, key)
    return f"{source}:{line}" if line else str(source)


def _check_choice(
    key: str, value: str, valid: dict[str, Any], source: Path | None, text: str = ""
) -> None:
    if value not in valid:
        raise FeatvisError(
            f"{_where(source, text, key)}: {key} '{value}' is not known "
            f"({choices_hint(value, valid)})"
        )


def load_config(path: Path | None = None, root: Path | None = None) -> SiteConfig:
    """Read `path` (site.toml) if given and present; otherwise the defaults rooted at `root`."""
    if path is None:
        base = (root or Path.cwd()).resolve()
        candidate = base / "site.toml"
        path = candidate if candidate.exists() else None
    if path is None:
        base = (root or Path.cwd()).resolve()
        return _finish(SiteConfig(root=base), base)
    path = Path(path).resolve()
    if not path.is_file():
        raise FeatvisError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeatvisError(f"{path}: invalid TOML ({exc})") from None
    site = data.pop("site", {}) if isinstance(data.get("site"), dict) else {}
    site.update(data)
    values: dict[str, Any] = {}
    for key, value in site.items():
        if key not in _TYPES:
            raise FeatvisError(
                f"{_where(path, text, key)}: unknown key '{key}' ({choices_hint(key, _TYPES)})"
            )
        if not isinstance(value, _TYPES[key]) or (isinstance(value, bool) != (key == "strict")):
            kind = _TYPES[key].__name__  # type: ignore[union-attr]
            raise FeatvisError(
                f"{_where(path, text, key)}: '{key}' must be a {kind}, not {value!r}"
            )
        values[key] = value
    base = path.parent
    for key in _PATHS:
        if key in values:
            values[key] = _resolve(base, values[key])
    if "preset" in values:
        _check_choice("preset", values["preset"], PRESETS, path, text)
    if "explorer_layers" in values:
        values["explorer_layers"] = tuple(str(v) for v in values["explorer_layers"])
    for key in ("seed", "dataset_top_k", "batch_size"):
        if key in values and values[key] < (0 if key == "seed" else 1):
            raise FeatvisError(f"{_where(path, text, key)}: '{key}' must be positive")
    return _finish(SiteConfig(root=base, source=path, **values), base)


def _finish(config: SiteConfig, base: Path) -> SiteConfig:
    fixed: dict[str, Any] = {}
    for key in ("content_dir", "output_dir", "cache_dir"):
        value = getattr(config, key)
        if not value.is_absolute():
            fixed[key] = _resolve(base, value)
    return dataclasses.replace(config, **fixed)
