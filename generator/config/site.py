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

from generator.config.schema import (
    BATCH_SIZE,
    DATASET_TOP_K,
    SEED,
    Option,
    choice,
    parse_options,
    text,
    texts,
)
from generator.core.errors import FeatvisError


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
        if "preset" in changes:  # flags are checked by the schema; a caller's value here too
            preset = {"preset": changes["preset"]}
            parse_options(SITE_OPTIONS, preset, lambda _: "preset", defaults=False)
        return dataclasses.replace(self, **changes)


# Every key site.toml may hold, typed and ranged by the shared schema.
SITE_OPTIONS: dict[str, Option] = {
    "title": Option(text),
    "description": Option(text),
    "model": Option(text),
    "weights": Option(text),
    "dataset": Option(text),
    "content_dir": Option(text),
    "templates_dir": Option(text),
    "output_dir": Option(text),
    "cache_dir": Option(text),
    "preset": Option(choice(*PRESETS)),
    "device": Option(text),
    "seed": SEED,
    "batch_size": BATCH_SIZE,
    "explorer_layers": Option(texts),
    "dataset_top_k": DATASET_TOP_K,
}
_PATHS = ("weights", "dataset", "content_dir", "templates_dir", "output_dir", "cache_dir")


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _line_of(toml: str, key: str) -> int | None:
    for number, line in enumerate(toml.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _where(source: Path | None, toml: str, key: str | None) -> str:
    if source is None:
        return "config"
    line = _line_of(toml, key) if key else None
    return f"{source}:{line}" if line else str(source)


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
    toml = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(toml)
    except tomllib.TOMLDecodeError as exc:
        raise FeatvisError(f"{path}: invalid TOML ({exc})") from None
    site = data.pop("site", {}) if isinstance(data.get("site"), dict) else {}
    site.update(data)
    values = parse_options(
        SITE_OPTIONS, site, lambda key: _where(path, toml, key), defaults=False
    )
    base = path.parent
    for key in _PATHS:
        if key in values:
            values[key] = _resolve(base, values[key])
    if "explorer_layers" in values:
        values["explorer_layers"] = tuple(str(v) for v in values["explorer_layers"])
    return _finish(SiteConfig(root=base, source=path, **values), base)


def _finish(config: SiteConfig, base: Path) -> SiteConfig:
    fixed: dict[str, Any] = {}
    for key in ("content_dir", "output_dir", "cache_dir"):
        value = getattr(config, key)
        if not value.is_absolute():
            fixed[key] = _resolve(base, value)
    return dataclasses.replace(config, **fixed)
