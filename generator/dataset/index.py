"""`DatasetIndex`: what a scan found, per layer and channel, read back from its tables.

Examples (top, bottom, spectrum), activation statistics, the channel's pattern across the layer,
and patches of the photos around a peak (the whole photo where the field covers most of it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from generator.core.errors import FeatvisError, choices_hint
from generator.dataset.fields import ReceptiveField
from generator.dataset.folder import FileStat, load_view, open_photo, view_box
from generator.metrics import high_freq_share

MIN_PATCH = 16
Kind = Literal["top", "bottom"]


@dataclass(frozen=True)
class Example:
    path: Path
    activation: float
    y: int
    x: int
    whole: bool = False  # show the whole photo, not the patch around (y, x)


@dataclass(frozen=True)
class ScanSummary:
    root: Path
    images_read: int
    images_skipped: int
    skipped: tuple[str, ...]  # "relative/path: reason", the first few
    seconds: float
    from_cache: bool
    cached: int = 0  # photos an earlier scan of the folder had gone through (the rest were new)

    def describe(self) -> str:
        how = "from the cache" if self.from_cache else f"in {self.seconds:.1f} s"
        if self.cached:
            new = self.images_read + self.images_skipped - self.cached
            how += f" ({new} new, {self.cached} from the earlier scan)"
        return (
            f"{self.root}: {self.images_read} images read, {self.images_skipped} skipped "
            f"(unreadable) {how}"
        )


class DatasetIndex:
    """Per layer and channel: top/bottom-k examples with peak positions, and channel statistics."""

    grey = False  # the model sees grey pictures: its patches are grey too (the scan sets it)

    def __init__(
        self,
        root: Path,
        files: Sequence[str],
        input_size: int,
        top_k: int,
        layers: dict[str, dict[str, Any]],
        summary: ScanSummary,
        key: str = "",
        stats: Sequence[FileStat] = (),
    ) -> None:
        self.root, self.files, self.input_size, self.top_k = root, tuple(files), input_size, top_k
        self.key = key  # names the scan's tables (folder, model, top_k)
        self._stats = {rel: (size, mtime) for rel, size, mtime in stats}
        self._layers, self.summary = layers, summary
        self._photo_hf: dict[tuple[int, int], float | None] = {}

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self._layers)

    def shown_name(self, path: Path) -> str:
        """How a page names a photo: its path in the folder (`cats/IMG_0001.jpg`: two folders
        often hold files of one name), else its file name."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def photo_id(self, path: Path) -> tuple[str, int, int] | tuple[str, str]:
        """What names the content of the photo at `path` in a measurement's key: its path in the
        folder, size and modification time as the scan listed them (without them, the scan's key:
        any other scan then measures again)."""
        rel = path.relative_to(self.root).as_posix()
        if rel in self._stats:
            return (rel, *self._stats[rel])
        return (rel, self.key)

    def _layer(self, layer: str, channel: int | None = None) -> dict[str, Any]:
        try:
            data = self._layers[layer]
        except KeyError:
            raise FeatvisError(
                f"dataset index: layer '{layer}' was not scanned "
                f"({choices_hint(layer, self._layers)})"
            ) from None
        channels = data["mean"].shape[0]
        if channel is not None and not 0 <= channel < channels:
            raise FeatvisError(
                f"dataset index: channel {channel} out of range for layer '{layer}' "
                f"(valid: 0..{channels - 1})"
            )
        return data

    def examples(self, layer: str, channel: int, kind: Kind = "top") -> list[Example]:
        """Strongest (`top`, by spatial maximum) or most negative (`bottom`, by minimum) first;
        none for a channel that every photo gives one value (`constant_channels`): all tie, and
        which showed would be the folder's order."""
        if kind not in ("top", "bottom"):
            raise FeatvisError(f"dataset index: unknown kind '{kind}' (valid: top, bottom)")
        if self.is_constant(layer, channel):
            return []
        data = self._layer(layer, channel)
        table, width = data[kind], data["layer"]["width"]
        out = []
        rows = (table[key][channel].tolist() for key in ("values", "ids", "pos"))
        for value, image, pos in zip(*rows, strict=True):
            if image >= 0:
                out.append(Example(self.root / self.files[image], value, pos // width, pos % width))
        return out

    def least(self, layer: str, channel: int, k: int) -> list[Example]:
        """The most negative of the `bottom` examples that are not among the `k` top ones, at
        most `k`: a photo can hold both the channel's strongest and its most negative position
        (a token map, a pre-activation), and is shown once, among the top."""
        top = {example.path for example in self.examples(layer, channel, "top")[:k]}
        return [e for e in self.examples(layer, channel, "bottom") if e.path not in top][:k]

    def spectrum(self, layer: str, channel: int, n: int) -> list[Example]:
        """`n` photos from the most negative spatial mean to the most positive, at evenly spaced
        quantiles of the scan's sample (`grow.spectrum_sample`); shown whole, as the model saw
        them."""
        data = self._layer(layer, channel)
        ids, values = data["sample_ids"], data["sample_means"][:, channel].float()
        if n < 1 or ids.numel() == 0 or self.is_constant(layer, channel):
            return []
        order = values.argsort()
        picks = torch.linspace(0, len(order) - 1, min(n, len(order))).round().long()
        return [
            Example(self.root / self.files[int(ids[i])], float(values[i]), 0, 0, whole=True)
            for i in order[picks].tolist()
        ]

    def sample_means(self, layer: str, channel: int) -> torch.Tensor:
        """The channel's spatial-mean activation on each photo of the scan's sample (the
        distribution a channel page draws)."""
        return self._layer(layer, channel)["sample_means"][:, channel].float().clone()

    def lowest(self, layer: str, channel: int, n: int) -> list[Example]:
        """The `n` photos of the scan's sample on which the channel's spatial mean is lowest,
        lowest first, each at the layer's centre position (the least exciting photos: a floor
        such as a ReLU's 0 makes the spatial-minimum `bottom` table say little)."""
        data = self._layer(layer, channel)
        info, ids = data["layer"], data["sample_ids"]
        values = data["sample_means"][:, channel].float()
        centre = (info["height"] // 2, info["width"] // 2)
        return [
            Example(self.root / self.files[int(ids[i])], float(values[i]), *centre)
            for i in values.argsort(stable=True)[:n].tolist()
        ]

    def photo_high_freq(self, size: int, n: int = 64) -> float | None:
        """Mean high-frequency share (`metrics.high_freq_share`) of `n` photos spread evenly over
        the folder, seen as the model sees them at `size` px: the reference for optimized images
        of that size. None when none of them can be read."""
        key = (size, n)
        if key not in self._photo_hf:
            picks = self.files[:: max(1, math.ceil(len(self.files) / n))]
            views = []
            for name in picks:
                try:
                    views.append(load_view(self.root / name, size))
                except (OSError, ValueError):
                    continue
            self._photo_hf[key] = (
                float(high_freq_share(torch.stack(views).float() / 255).mean()) if views else None
            )
        return self._photo_hf[key]

    def max_activation(self, layer: str, channel: int) -> float:
        """The highest spatial peak any photo reached."""
        return float(self._layer(layer, channel)["top"]["values"][channel, 0])

    def min_activation(self, layer: str, channel: int) -> float:
        return float(self._layer(layer, channel)["bottom"]["values"][channel, 0])

    def constant_channels(self, layer: str) -> frozenset[int]:
        """Channels whose every photo has one value everywhere (the highest peak is the lowest)."""
        data = self._layer(layer)
        high, low = data["top"]["values"][:, 0], data["bottom"]["values"][:, 0]
        return frozenset(int(c) for c in torch.nonzero(high <= low).flatten())

    def is_constant(self, layer: str, channel: int) -> bool:
        """Whether `channel` is one of the layer's `constant_channels`."""
        data = self._layer(layer, channel)
        return bool(data["top"]["values"][channel, 0] <= data["bottom"]["values"][channel, 0])

    def at_floor(self, layer: str, channel: int) -> int:
        """How many photos reach the channel's lowest value somewhere (a floor, such as a ReLU's
        0, when many do: their order among the bottom examples means nothing)."""
        return int(self._layer(layer, channel)["at_floor"][channel])

    def mean_activation(self, layer: str, channel: int) -> float:
        """The channel's spatial mean, averaged over the photos."""
        return float(self._layer(layer, channel)["mean"][channel])

    def strongest_mean(self, layer: str, channel: int) -> float:
        """The highest spatial *mean* any photo reached: the measure a channel objective maximizes,
        so the fair denominator for `metrics.relative_activation` of a channel visualization."""
        return float(self._layer(layer, channel)["best_mean"][channel])

    def channel_means(self, layer: str) -> torch.Tensor:
        """(C,) mean activation of every channel of `layer` over the photos."""
        return self._layer(layer)["mean"].clone()

    def channel_stds(self, layer: str) -> torch.Tensor:
        """(C,) spread over the photos of every channel's per-photo spatial mean."""
        return self._layer(layer)["std"].clone()

    def pattern(self, layer: str, channel: int) -> torch.Tensor:
        """(C,) mean over the channel's top-k photos of the layer's per-channel spatial means."""
        return self._layer(layer, channel)["pattern"][channel].clone()

    def receptive_field(self, layer: str) -> ReceptiveField:
        return ReceptiveField(**self._layer(layer)["field"])

    def patch(self, example: Example, layer: str, size: int = 96) -> Image.Image:
        """The part of the photo the unit at the example's peak sees (the whole view for late
        layers), cut from the original file and resized to size x size."""
        return self.patches(example.path, [(example, layer)], size)[0]

    def patches(
        self, path: Path, cuts: Sequence[tuple[Example, str]], size: int = 96
    ) -> list[Image.Image]:
        """`patch` of each (example, layer) of `cuts`, all examples of the photo at `path`: the
        file is opened and decoded once, each patch cut from the decoded photo (its luminance, in
        RGB, for a network of grey input: what the unit responded to)."""
        fields = {layer: self.receptive_field(layer) for _, layer in cuts}
        try:
            with open_photo(path) as img:
                width, height = img.size
                rgb = img.convert("L").convert("RGB") if self.grey else img.convert("RGB")
        except (OSError, ValueError) as exc:
            raise FeatvisError(
                f"{path}: cannot read the dataset image ({type(exc).__name__}); it changed "
                f"since the scan, run `featvis scan` again"
            ) from None
        with rgb:
            return [
                rgb.resize((size, size), Image.Resampling.BICUBIC,
                           box=_patch_box(fields[layer], example, width, height, self.input_size))
                for example, layer in cuts
            ]


def _patch_box(
    field: ReceptiveField, example: Example, width: int, height: int, size: int
) -> tuple[float, float, float, float]:
    scale, left, top = view_box(width, height, size)
    if field.whole or example.whole:
        return left / scale, top / scale, (left + size) / scale, (top + size) / scale
    cy, cx = field.centre(example.y, example.x)
    side = min(max(field.size, MIN_PATCH) / scale, width, height)
    x0 = min(max((cx + left) / scale - side / 2, 0.0), width - side)
    y0 = min(max((cy + top) / scale - side / 2, 0.0), height - side)
    return x0, y0, x0 + side, y0 + side
