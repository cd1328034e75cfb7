"""Dataset examples: one pass over an image folder, top/bottom-k images per channel.

`load_or_scan(config, model, layers, top_k=...)` returns a `DatasetIndex` (None when no dataset is
configured). The folder is read recursively (.jpg, .jpeg, .png, .webp, any case; hidden files and
folders are ignored) in sorted order. Each image is resized so its short side is the model's input
size and centre-cropped, exactly as the model sees it. One batched pass, without gradients, on the
model's device reduces every layer's output per batch to each (image, channel)'s spatial maximum,
minimum, their positions and the spatial mean, and merges those into running top-k / bottom-k
tables; no full activation map outlives its batch. Per channel the index also keeps the dataset's
mean activation, and the "pattern" of its top-k images: the mean over them of the layer's vector of
per-channel spatial means (kept alongside the running top-k, so no second pass is needed).
A long scan saves its running tables every `CHECKPOINT_SECONDS` (about 60 MB and 0.15 s for all 18
layers of the embedded model), so an interrupted one goes on from its last checkpoint.
For the activation spectrum it keeps every channel's spatial mean for a fixed sample of the images
(every image up to `SPECTRUM_SAMPLE`, an evenly strided subset beyond), from which `spectrum`
picks photos from the most negative to the most positive.

Unreadable images are skipped and counted, never fatal. The result is cached under
`config.cache_dir/dataset/<key>/`, one file per layer, written atomically; the key hashes the
folder's sorted file list with sizes and mtimes, the model id and weights digest, the input size,
`top_k` and `FORMAT_VERSION`. A call whose layers are all cached opens no image.

Receptive fields are measured, not derived from architecture tables: the input gradient of the
centre unit's summed channels over a few seeded noise images. Its support is the theoretical
receptive field; the smallest square around its centre of mass holding `EFFECTIVE_RF_SHARE` of the
gradient mass is the effective one, which `patch` crops around a peak (never smaller than
`MIN_PATCH` input pixels). Where the effective field covers `WHOLE_PHOTO_SHARE` of the input or
more, `patch` returns the whole photo as the model saw it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from generator.artifacts import DATASET_DIR
from generator.config import check_range
from generator.errors import FeatvisError, choices_hint
from generator.metrics import cosine_similarity, high_freq_share, rank_correlation
from generator.models.base import LayerInfo, LoadedModel
from generator.optvis.render import truncated_forward

FORMAT_VERSION = 2
SPECTRUM_SAMPLE = 2048  # images whose per-channel means are kept for the spectrum
CHECKPOINT_SECONDS = 60.0  # an interrupted scan goes on from its last checkpoint
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_PHOTO_PIXELS = 64_000_000  # a bigger photo is skipped before it is decoded
MAX_VIEW_SIDE = 4  # resized long side beyond this many input sizes: resize the crop box only
EFFECTIVE_RF_SHARE = 0.9
WHOLE_PHOTO_SHARE = 0.75
MIN_PATCH = 16
RF_PROBES = 2
Kind = Literal["top", "bottom"]


# -- the folder -----------------------------------------------------------------------------------


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the images under `root`, sorted; errors name the folder."""
    root = Path(root)
    if not root.exists():
        raise FeatvisError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise FeatvisError(f"{root}: dataset is not a folder")
    found: list[str] = []
    others = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(folder, name).relative_to(root).as_posix())
            else:
                others += 1
    if not found and not others:
        raise FeatvisError(f"{root}: dataset folder is empty")
    if not found:
        raise FeatvisError(
            f"{root}: no images in the dataset folder ({others} other files; looked for "
            f"{', '.join(IMAGE_SUFFIXES)} recursively)"
        )
    return sorted(found)


def folder_fingerprint(root: Path, files: Sequence[str]) -> str:
    """A digest of the file list with sizes and modification times; reads no file's content. A
    dangling link or a link loop counts by the link itself (the scan then skips it)."""
    h = hashlib.sha256()
    for rel in files:
        try:
            st = (root / rel).stat()
        except OSError:
            st = (root / rel).lstat()
        h.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# -- how the model sees a photo ------------------------------------------------------------------


def _resized(width: int, height: int, size: int) -> tuple[float, int, int]:
    """(scale, width, height) of the photo resized so its short side is `size`."""
    scale = size / min(width, height)
    return scale, max(size, round(width * scale)), max(size, round(height * scale))


def view_box(width: int, height: int, size: int) -> tuple[float, float, float]:
    """(scale, left, top): resize by `scale` so the short side is `size`, then crop at left/top."""
    scale, rw, rh = _resized(width, height, size)
    return scale, (rw - size) // 2, (rh - size) // 2


def open_photo(path: Path) -> Image.Image:
    """The photo, opened lazily, refused (ValueError: the scan skips it) when its header claims more
    than MAX_PHOTO_PIXELS pixels; nothing is decoded yet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombError as exc:
            limit = MAX_PHOTO_PIXELS // 10**6
            raise ValueError(f"{str(exc)[:80]}; more than the {limit} million read") from None
    width, height = img.size
    if width * height > MAX_PHOTO_PIXELS:
        img.close()
        raise ValueError(
            f"{width}x{height} pixels, more than the {MAX_PHOTO_PIXELS // 1_000_000} million read"
        )
    return img


def load_view(path: Path, size: int) -> torch.Tensor:
    """The photo as the model sees it: (3, size, size) uint8, short side resized, centre crop.
    Photos whose resized long side would pass `MAX_VIEW_SIDE` (a panorama, a 16000x1 strip) are
    resized from the crop box alone, so memory stays bounded whatever the aspect ratio."""
    with open_photo(path) as img:
        scale, rw, rh = _resized(*img.size, size)
        _, left, top = view_box(*img.size, size)
        if max(rw, rh) > MAX_VIEW_SIDE * size:
            box = (left / scale, top / scale, (left + size) / scale, (top + size) / scale)
            crop = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, box=box)
        else:
            img.draft("RGB", (rw, rh))
            rgb = img.convert("RGB").resize((rw, rh), Image.Resampling.BILINEAR)
            crop = rgb.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy()).permute(2, 0, 1)


class _Photos(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, root: Path, files: Sequence[str], size: int, start: int = 0) -> None:
        self.root, self.files, self.size, self.start = root, list(files), size, start

    def __len__(self) -> int:
        return len(self.files) - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        i += self.start  # ids are positions in the whole folder's list
        try:
            return load_view(self.root / self.files[i], self.size), i, ""
        except Exception as exc:  # noqa: BLE001 - any unreadable image is skipped and counted
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), i, reason


# -- receptive fields -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit looks, in the model's input pixels: centre of unit (y, x) is
    (y * stride + offset_y, x * stride + offset_x); `size` is the effective field's side,
    `support` the theoretical one (clipped to the input)."""

    stride: float
    size: int
    support: int
    offset_y: float
    offset_x: float
    whole: bool

    def centre(self, y: int, x: int) -> tuple[float, float]:
        return y * self.stride + self.offset_y, x * self.stride + self.offset_x


def _field_from_gradient(weight: torch.Tensor, info: LayerInfo, size: int) -> ReceptiveField:
    total = weight.sum().clamp(min=1e-30)
    axis = torch.arange(size, dtype=torch.float64)
    com_y = float((weight.sum(1) * axis).sum() / total)
    com_x = float((weight.sum(0) * axis).sum() / total)
    nz = (weight > 0).nonzero()
    support = int(max(nz[:, 0].max() - nz[:, 0].min(), nz[:, 1].max() - nz[:, 1].min()) + 1)
    cy, cx = round(com_y), round(com_x)
    side = size
    for r in range(size):
        box = weight[max(0, cy - r): cy + r + 1, max(0, cx - r): cx + r + 1]
        if box.sum() >= EFFECTIVE_RF_SHARE * total:
            side = 2 * r + 1
            break
    stride = size / info.height
    return ReceptiveField(
        stride=stride,
        size=min(side, size),
        support=support,
        offset_y=com_y - (info.height // 2) * stride,
        offset_x=com_x - (info.width // 2) * stride,
        whole=side >= WHOLE_PHOTO_SHARE * size,
    )


def measure_receptive_fields(
    model: LoadedModel, layers: Sequence[str]
) -> dict[str, ReceptiveField]:
    """Measure every layer's receptive field from input gradients of its centre unit."""
    size = model.input_size
    gen = torch.Generator().manual_seed(0)
    probe = torch.rand(RF_PROBES, 3, size, size, generator=gen).to(model.device)
    probe.requires_grad_(True)
    fields: dict[str, ReceptiveField] = {}
    with torch.enable_grad(), truncated_forward(model, layers) as (acts, run):
        run(probe)
        for name in layers:
            info = model.layer(name)
            act = acts[name]
            centre = act[:, :, info.height // 2, info.width // 2].sum()
            (grad,) = torch.autograd.grad(centre, probe, retain_graph=True)
            weight = grad.abs().sum(dim=(0, 1)).double().cpu()
            fields[name] = _field_from_gradient(weight, info, size)
    return fields


# -- the running tables ---------------------------------------------------------------------------


class _Extremes:
    """Running top-k (largest) or bottom-k (smallest) per channel, ties kept in image order."""

    def __init__(
        self, channels: int, k: int, largest: bool, device: torch.device, vectors: bool
    ) -> None:
        fill = -math.inf if largest else math.inf
        self.k, self.largest = k, largest
        self.values = torch.full((channels, k), fill, device=device)
        self.ids = torch.full((channels, k), -1, dtype=torch.long, device=device)
        self.pos = torch.zeros((channels, k), dtype=torch.long, device=device)
        self.vectors = torch.zeros((channels, k, channels), device=device) if vectors else None

    def merge(
        self, values: torch.Tensor, pos: torch.Tensor, ids: torch.Tensor, vecs: torch.Tensor
    ) -> None:
        """values, pos: (C, B); ids: (B,); vecs: (B, C) layer vectors of the batch's images."""
        channels, batch = values.shape
        all_values = torch.cat([self.values, values], dim=1)
        ranked = torch.sort(all_values, dim=1, descending=self.largest, stable=True)
        order = ranked.indices[:, : self.k]
        self.values = all_values.gather(1, order)
        self.ids = torch.cat([self.ids, ids.expand(channels, batch)], dim=1).gather(1, order)
        self.pos = torch.cat([self.pos, pos], dim=1).gather(1, order)
        if self.vectors is not None:
            old = order < self.k
            where = order.clamp(max=self.k - 1)[:, :, None].expand(-1, -1, channels)
            kept = self.vectors.gather(1, where)
            fresh = vecs[(order - self.k).clamp(min=0)]
            self.vectors = torch.where(old[:, :, None], kept, fresh)

    def table(self) -> dict[str, torch.Tensor]:
        return {"values": self.values.cpu(), "ids": self.ids.cpu(), "pos": self.pos.cpu()}

    def state(self) -> dict[str, torch.Tensor]:
        out = self.table()
        if self.vectors is not None:
            out["vectors"] = self.vectors.cpu()
        return out

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        device = self.values.device
        self.values, self.ids, self.pos = (state[k].to(device) for k in ("values", "ids", "pos"))
        if self.vectors is not None:
            self.vectors = state["vectors"].to(device)


class _LayerScan:
    """Everything one layer keeps across batches; memory is O(channels * k * channels)."""

    def __init__(self, info: LayerInfo, k: int, device: torch.device, stride: int = 1) -> None:
        c = info.channels
        self.info, self.stride = info, stride
        self.top = _Extremes(c, k, True, device, vectors=True)
        self.bottom = _Extremes(c, k, False, device, vectors=False)
        self.total = torch.zeros(c, dtype=torch.float64, device=device)
        self.total_sq = torch.zeros(c, dtype=torch.float64, device=device)
        self.best_mean = torch.full((c,), -math.inf, device=device)
        self.count = 0
        self.sample_ids: list[torch.Tensor] = []
        self.sample_means: list[torch.Tensor] = []

    def update(self, act: torch.Tensor, ids: torch.Tensor) -> None:
        flat = act.detach().float().flatten(2)  # (B, C, HW)
        high, high_at = flat.max(dim=2)
        low, low_at = flat.min(dim=2)
        means = flat.mean(dim=2)  # (B, C): the layer vector of each image
        self.top.merge(high.T, high_at.T, ids, means)
        self.bottom.merge(low.T, low_at.T, ids, means)
        self.total += means.double().sum(0)
        self.total_sq += (means.double() ** 2).sum(0)
        self.best_mean = torch.maximum(self.best_mean, means.max(dim=0).values)
        self.count += flat.shape[0]
        keep = ids % self.stride == 0
        if keep.any():
            self.sample_ids.append(ids[keep].int().cpu())
            self.sample_means.append(means[keep].half().cpu())

    def state(self) -> dict[str, Any]:
        """Everything needed to go on from here (a checkpoint), as tensors and ints."""
        return {
            "top": self.top.state(),
            "bottom": self.bottom.state(),
            "total": self.total.cpu(),
            "total_sq": self.total_sq.cpu(),
            "best_mean": self.best_mean.cpu(),
            "count": self.count,
            "sample_ids": list(self.sample_ids),
            "sample_means": list(self.sample_means),
        }

    def restore(self, state: dict[str, Any]) -> None:
        device = self.total.device
        self.top.restore(state["top"])
        self.bottom.restore(state["bottom"])
        self.total, self.total_sq, self.best_mean = (
            state[k].to(device) for k in ("total", "total_sq", "best_mean")
        )
        self.count = int(state["count"])
        self.sample_ids, self.sample_means = list(state["sample_ids"]), list(state["sample_means"])

    def result(self, field: ReceptiveField) -> dict[str, Any]:
        n = max(self.count, 1)
        mean = self.total / n
        var = (self.total_sq / n - mean**2).clamp(min=0)
        valid = (self.top.ids >= 0).float()
        assert self.top.vectors is not None
        pattern = (self.top.vectors * valid[:, :, None]).sum(1)
        pattern /= valid.sum(1, keepdim=True).clamp(min=1)
        return {
            "format": FORMAT_VERSION,
            "layer": asdict(self.info),
            "field": asdict(field),
            "top": self.top.table(),
            "bottom": self.bottom.table(),
            "mean": mean.float().cpu(),
            "std": var.sqrt().float().cpu(),
            "best_mean": self.best_mean.cpu(),
            "pattern": pattern.cpu(),
            "sample_ids": torch.cat(self.sample_ids or [torch.zeros(0, dtype=torch.int32)]),
            "sample_means": torch.cat(
                self.sample_means or [torch.zeros(0, self.info.channels, dtype=torch.float16)]
            ),
        }


# -- the index ------------------------------------------------------------------------------------


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

    def describe(self) -> str:
        how = "from the cache" if self.from_cache else f"in {self.seconds:.1f} s"
        return (
            f"{self.root}: {self.images_read} images read, {self.images_skipped} skipped "
            f"(unreadable) {how}"
        )


class DatasetIndex:
    """Per layer and channel: top/bottom-k examples with peak positions, and channel statistics."""

    def __init__(
        self,
        root: Path,
        files: Sequence[str],
        input_size: int,
        top_k: int,
        layers: dict[str, dict[str, Any]],
        summary: ScanSummary,
    ) -> None:
        self.root, self.files, self.input_size, self.top_k = root, tuple(files), input_size, top_k
        self._layers, self.summary = layers, summary
        self._photo_hf: dict[tuple[int, int], float | None] = {}

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self._layers)

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
        """Strongest (`top`, by spatial maximum) or most negative (`bottom`, by minimum) first."""
        if kind not in ("top", "bottom"):
            raise FeatvisError(f"dataset index: unknown kind '{kind}' (valid: top, bottom)")
        data = self._layer(layer, channel)
        table, width = data[kind], data["layer"]["width"]
        out = []
        rows = (table[key][channel].tolist() for key in ("values", "ids", "pos"))
        for value, image, pos in zip(*rows, strict=True):
            if image >= 0:
                out.append(Example(self.root / self.files[image], value, pos // width, pos % width))
        return out

    def spectrum(self, layer: str, channel: int, n: int) -> list[Example]:
        """`n` photos from the most negative spatial mean to the most positive, at evenly spaced
        quantiles of the scan's sample (`SPECTRUM_SAMPLE`); shown whole, as the model saw them."""
        data = self._layer(layer, channel)
        ids, values = data["sample_ids"], data["sample_means"][:, channel].float()
        if n < 1 or ids.numel() == 0:
            return []
        order = values.argsort()
        picks = torch.linspace(0, len(order) - 1, min(n, len(order))).round().long()
        return [
            Example(self.root / self.files[int(ids[i])], float(values[i]), 0, 0, whole=True)
            for i in order[picks].tolist()
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
        field = self.receptive_field(layer)
        try:
            with open_photo(example.path) as img:
                width, height = img.size
                box = _patch_box(field, example, width, height, self.input_size)
                return img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC, box=box)
        except (OSError, ValueError) as exc:
            raise FeatvisError(
                f"{example.path}: cannot read the dataset image ({type(exc).__name__}); it changed "
                f"since the scan, run `featvis scan` again"
            ) from None


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


# -- scanning and the cache -----------------------------------------------------------------------


def _cache_dir(config: Any, model: LoadedModel, fingerprint: str, top_k: int) -> Path:
    spec = json.dumps(
        [FORMAT_VERSION, fingerprint, model.id, model.weights_digest, model.input_size, top_k]
    )
    return Path(config.cache_dir) / DATASET_DIR / hashlib.sha256(spec.encode()).hexdigest()[:20]


def _layer_file(folder: Path, layer: str) -> Path:
    safe = re.sub(r"[^\w.-]", "_", layer)
    return folder / f"{safe}-{hashlib.sha256(layer.encode()).hexdigest()[:8]}.pt"


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_cache(folder: Path, tables: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    try:
        for name, data in tables.items():
            _atomic_write(_layer_file(folder, name), lambda p, d=data: torch.save(d, p))
        text = json.dumps(meta, indent=1)
        _atomic_write(folder / "meta.json", lambda p: Path(p).write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise FeatvisError(
            f"{folder}: cannot write the dataset cache ({exc.strerror or exc}); "
            "choose another cache folder with --cache"
        ) from None


def _read_cached(
    folder: Path, layers: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    found: dict[str, dict[str, Any]] = {}
    meta = None
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return found, None
    if not _meta_ok(meta):
        return found, None  # a damaged sidecar: scan again
    for layer in layers:
        try:
            data = torch.load(_layer_file(folder, layer), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - missing or damaged: scan that layer again
            continue
        if isinstance(data, dict) and data.get("format") == FORMAT_VERSION:
            found[layer] = data
    return found, meta


def _meta_ok(meta: Any) -> bool:
    return (
        isinstance(meta, dict)
        and all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool)
                for k in ("images_read", "images_skipped"))
        and isinstance(meta.get("skipped"), list)
    )


def _batches(
    photos: _Photos, batch_size: int, workers: int, pin: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    loader = torch.utils.data.DataLoader(
        photos, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=pin,
    )
    for images, ids, reasons in loader:
        yield images, ids, list(reasons)


def scan(
    model: LoadedModel,
    root: Path,
    files: Sequence[str],
    layers: Sequence[str],
    *,
    top_k: int,
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
    checkpoint: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], ScanSummary]:
    """One pass over `files`: per layer the tables `DatasetIndex` reads, and the summary.

    With `checkpoint`, the running tables are saved there every `CHECKPOINT_SECONDS`, and a scan
    that finds one (an interrupted run of the same scan) goes on from the image it had reached."""
    start = time.perf_counter()
    device = model.device
    infos = [model.layer(name) for name in layers]
    stride = max(1, math.ceil(len(files) / SPECTRUM_SAMPLE))
    scans = {info.name: _LayerScan(info, top_k, device, stride) for info in infos}
    fields = measure_receptive_fields(model, list(layers))
    skipped: list[str] = []
    read = done = 0
    resumed = _read_checkpoint(checkpoint, list(scans)) if checkpoint else None
    if resumed is not None:
        done, read, skipped = resumed["done"], resumed["read"], list(resumed["skipped"])
        for name, layer_scan in scans.items():
            layer_scan.restore(resumed["scans"][name])
    photos = _Photos(root, files, model.input_size, start=done)
    bar = _progress(len(files), progress)
    bar.update(done)
    saved = time.perf_counter()
    try:
        with torch.no_grad(), truncated_forward(model, list(layers)) as (acts, run):
            pin = device.type == "cuda"
            for images, ids, reasons in _batches(photos, batch_size, workers, pin):
                ok = torch.tensor([not r for r in reasons], dtype=torch.bool)
                skipped += [
                    f"{files[i]}: {r}" for i, r in zip(ids.tolist(), reasons, strict=True) if r
                ]
                bar.update(len(reasons))
                done += len(reasons)
                if ok.any():
                    x = images[ok].to(device, non_blocking=True).float().div_(255)
                    run(x)
                    batch_ids = ids[ok].to(device)
                    for name, layer_scan in scans.items():
                        layer_scan.update(acts[name], batch_ids)
                    read += int(ok.sum())
                if checkpoint and time.perf_counter() - saved > CHECKPOINT_SECONDS:
                    state = {"done": done, "read": read, "skipped": skipped,
                             "scans": {name: s.state() for name, s in scans.items()}}
                    _atomic_write(checkpoint, lambda p, s=state: torch.save(s, p))
                    saved = time.perf_counter()
    finally:
        bar.close()
    if read == 0:
        raise FeatvisError(f"{root}: none of the {len(files)} images could be read ({skipped[0]})")
    summary = ScanSummary(
        root=root, images_read=read, images_skipped=len(skipped), skipped=tuple(skipped[:20]),
        seconds=time.perf_counter() - start, from_cache=False,
    )
    return {name: s.result(fields[name]) for name, s in scans.items()}, summary


def _read_checkpoint(path: Path, layers: list[str]) -> dict[str, Any] | None:
    """An interrupted scan's state, if `path` holds one for these layers (else None)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - missing or damaged: start from the first image
        return None
    if not isinstance(state, dict) or sorted(state.get("scans", {})) != sorted(layers):
        return None
    return state


def _checkpoint_file(folder: Path, layers: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(layers)).encode()).hexdigest()[:12]
    return folder / f"partial-{digest}.pt"


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, unit="img", desc="dataset scan", leave=False,
        disable=not (enabled and sys.stderr.isatty()),
    )


def load_or_scan(
    config: Any,
    model: LoadedModel,
    layers: Sequence[str | LayerInfo],
    *,
    top_k: int,
    progress: bool = True,
    batch_size: int | None = None,
    workers: int | None = None,
    force: bool = False,
) -> DatasetIndex | None:
    """The dataset index for `layers`, from the cache where it holds them, else by scanning."""
    if getattr(config, "dataset", None) is None:
        return None
    check_range("dataset_top_k", top_k, "dataset_top_k")
    root = Path(config.dataset)
    names = list(dict.fromkeys(
        x.name if isinstance(x, LayerInfo) else model.layer(x).name for x in layers
    ))
    if not names:
        raise FeatvisError(f"{root}: dataset scan asked for no layers")
    files = list_images(root)
    folder = _cache_dir(config, model, folder_fingerprint(root, files), top_k)
    cached, meta = ({}, None) if force else _read_cached(folder, names)
    missing = [n for n in names if n not in cached]
    if missing or meta is None:
        batch = batch_size or (64 if model.device.type == "cuda" else 32)
        if workers is None:
            workers = min(2, os.cpu_count() or 1) if len(files) > batch else 0
        layers_to_scan = missing or names
        partial = _checkpoint_file(folder, layers_to_scan)
        fresh, summary = scan(
            model, root, files, layers_to_scan, top_k=top_k, batch_size=batch,
            workers=workers, progress=progress, checkpoint=partial,
        )
        meta = {k: v for k, v in asdict(summary).items() if k not in ("root", "from_cache")}
        _write_cache(folder, fresh, meta)
        partial.unlink(missing_ok=True)
        cached.update(fresh)
    else:
        summary = ScanSummary(
            root=root, images_read=meta["images_read"], images_skipped=meta["images_skipped"],
            skipped=tuple(meta["skipped"]), seconds=0.0, from_cache=True,
        )
    tables = {n: cached[n] for n in names}
    return DatasetIndex(root, files, model.input_size, top_k, tables, summary)


# -- the "Don't trust your eyes" check -----------------------------------------------------------


@dataclass(frozen=True)
class PatternCheck:
    """How the visualization's activation pattern across a layer agrees with the top photos'.

    Both patterns are the layer's per-channel spatial means, standardized with the photos' mean and
    spread per channel. `own_rank_*`: where the visualized channel ranks in each (0 = highest)."""

    layer: str
    channel: int
    cosine: float
    spearman: float
    own_rank_visualization: int
    own_rank_photos: int


def layer_vectors(
    model: LoadedModel,
    images: torch.Tensor,
    layers: Sequence[str],
    *,
    input_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Per layer, (n, C) spatial means of the activations of `images` (n,3,H,W in [0,1])."""
    x = images.to(model.device).float()
    if input_size and x.shape[-1] != input_size:
        x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear")
    names = list(dict.fromkeys(layers))
    with torch.no_grad(), truncated_forward(model, names) as (acts, run):
        run(x)
        return {name: acts[name].float().mean(dim=(2, 3)).cpu() for name in names}


def check_patterns(
    model: LoadedModel,
    index: DatasetIndex,
    items: Sequence[tuple[str, int, torch.Tensor]],
    *,
    input_size: int | None = None,
) -> list[PatternCheck]:
    """For each (layer, channel, visualization (3,H,W)), compare its pattern with the photos'."""
    if not items:
        return []
    images = torch.stack([image for _, _, image in items])
    vectors = layer_vectors(model, images, [layer for layer, _, _ in items], input_size=input_size)
    checks = []
    for i, (layer, channel, _) in enumerate(items):
        mean, std = index.channel_means(layer), index.channel_stds(layer).clamp(min=1e-6)
        vis = (vectors[layer][i] - mean) / std
        photos = (index.pattern(layer, channel) - mean) / std
        checks.append(
            PatternCheck(
                layer=layer,
                channel=channel,
                cosine=cosine_similarity(vis, photos),
                spearman=rank_correlation(vis, photos),
                own_rank_visualization=int((vis > vis[channel]).sum()),
                own_rank_photos=int((photos > photos[channel]).sum()),
            )
        )
    return checks


# -- the command ----------------------------------------------------------------------------------


def cmd_scan(args: argparse.Namespace) -> int:
    """`featvis scan`: scan (or confirm cached) dataset examples for the site's layers."""
    from generator.models import load_model
    from generator.pipeline import config_from_args

    config = config_from_args(args)
    if config.dataset is None:
        raise FeatvisError(
            f"{config.source or 'config'}: no dataset configured; set dataset = \"PATH\" in "
            f"site.toml or pass --dataset PATH"
        )
    list_images(Path(config.dataset))  # bad folders fail before the model loads
    model = load_model(config.model, weights=config.weights, device=config.device, seed=config.seed)
    layers = args.only or config.explorer_layers or model.layer_names
    index = load_or_scan(
        config, model, layers, top_k=config.dataset_top_k, progress=not args.quiet,
        force=args.force, batch_size=args.batch_size,
    )
    assert index is not None
    print(index.summary.describe())
    for line in index.summary.skipped:
        print(f"  skipped {line}")
    print(f"{len(index.layer_names)} layers, top/bottom {index.top_k} per channel")
    return 0
