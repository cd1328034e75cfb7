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

from generator.core.errors import FeatvisError, choices_hint


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
    unsafe_html: bool = False  # True: raw HTML in articles passes through (default: escaped)
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
        if "preset" in changes and changes["preset"] not in PRESETS:
            raise FeatvisError(
                f"--preset: '{changes['preset']}' is not known "
                f"({choices_hint(changes['preset'], PRESETS)})"
            )
        for key in RANGES:
            if key in changes:
                check_range(key, changes[key], FLAGS[key])
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
    "unsafe_html": bool,
}
# Inclusive ranges of the whole-number keys, checked for site.toml and the flags alike.
RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, 2**63 - 1),
    "dataset_top_k": (1, 1000),
    "batch_size": (1, 4096),
}
FLAGS = {"seed": "--seed", "batch_size": "--batch-size", "dataset_top_k": "dataset_top_k"}


def check_range(key: str, value: int, where: str) -> None:
    """`value` of `key` within RANGES[key], else a FeatvisError naming `where` (file:line, flag)."""
    lo, hi = RANGES[key]
    if not lo <= value <= hi:
        shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:20]}..."
        raise FeatvisError(f"{where}: '{key}' must be a whole number {lo}..{hi}, not {shown}")


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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise FeatvisError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FeatvisError(f"{path}: cannot read it ({exc.strerror or exc})") from None
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
                f"{_where(path, text, key)}: unknown key '{key[:40]}' ({choices_hint(key, _TYPES)})"
            )
        is_bool = isinstance(value, bool)
        if not isinstance(value, _TYPES[key]) or is_bool != (_TYPES[key] is bool):
            kind = _TYPES[key].__name__  # type: ignore[union-attr]
            raise FeatvisError(
                f"{_where(path, text, key)}: '{key}' must be a {kind}, not {repr(value)[:60]}"
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
    for key in RANGES:
        if key in values:
            check_range(key, values[key], _where(path, text, key))
    templates = values.get("templates_dir")
    if templates is not None and not templates.is_dir():
        raise FeatvisError(f"{_where(path, text, 'templates_dir')}: {templates} is not a folder")
    return _finish(SiteConfig(root=base, source=path, **values), base)


def _finish(config: SiteConfig, base: Path) -> SiteConfig:
    fixed: dict[str, Any] = {}
    for key in ("content_dir", "output_dir", "cache_dir"):
        value = getattr(config, key)
        if not value.is_absolute():
            fixed[key] = _resolve(base, value)
    return dataclasses.replace(config, **fixed)
