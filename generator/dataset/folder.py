"""The photo folder: its files in a stable order, its fingerprint, each photo as the model sees it.

A photo is resized so its short side is the model's input size and centre-cropped (`load_view`);
`view_box` says where that view lies in the original.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps

from generator.config.paths import PHOTO_SUFFIXES, walk_files
from generator.core.errors import FeatvisError

MAX_PHOTO_PIXELS = 64_000_000  # a bigger photo is skipped before it is decoded
MAX_VIEW_SIDE = 4  # resized long side beyond this many input sizes: resize the crop box only


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the images under `root`, sorted; errors name the folder."""
    root = Path(root)
    if not root.exists():
        raise FeatvisError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise FeatvisError(f"{root}: dataset is not a folder")
    found: list[str] = []
    others = 0
    for path, photo in walk_files(root):
        if photo:
            found.append(Path(path).relative_to(root).as_posix())
        else:
            others += 1
    if not found and not others:
        raise FeatvisError(f"{root}: dataset folder is empty")
    if not found:
        raise FeatvisError(
            f"{root}: no images in the dataset folder ({others} other files; looked for "
            f"{', '.join(PHOTO_SUFFIXES)} recursively)"
        )
    return sorted(found)


def printable(rel: str) -> str:
    """`rel` as text: a file name's bytes that are not UTF-8 (kept by Python as surrogates) each
    shown as the replacement character. Such a photo cannot be named in a page: it is skipped."""
    return os.fsencode(rel).decode("utf-8", "replace")


FileStat = tuple[str, int, int]  # (relative path, size in bytes, modification time in ns)


def folder_stats(root: Path, files: Sequence[str]) -> list[FileStat]:
    """Each file's size and modification time; reads no file's content. A dangling link or a link
    loop counts by the link itself (the scan then skips it)."""
    out = []
    for rel in files:
        try:
            st = (root / rel).stat()
        except OSError:
            st = (root / rel).lstat()
        out.append((rel, st.st_size, st.st_mtime_ns))
    return out


def stats_digest(stats: Sequence[FileStat]) -> str:
    """A digest of the file list with sizes and modification times."""
    h = hashlib.sha256()
    for rel, size, mtime in stats:
        h.update(os.fsencode(f"{rel}\t{size}\t{mtime}\n"))
    return h.hexdigest()


def folder_fingerprint(root: Path, files: Sequence[str]) -> str:
    """`stats_digest` of the folder's `files`."""
    return stats_digest(folder_stats(root, files))


def _resized(width: int, height: int, size: int) -> tuple[float, int, int]:
    """(scale, width, height) of the photo resized so its short side is `size`."""
    scale = size / min(width, height)
    return scale, max(size, round(width * scale)), max(size, round(height * scale))


def view_box(width: int, height: int, size: int) -> tuple[float, float, float]:
    """(scale, left, top): resize by `scale` so the short side is `size`, then crop at left/top."""
    scale, rw, rh = _resized(width, height, size)
    return scale, (rw - size) // 2, (rh - size) // 2


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")  # the modes Pillow opens 16-bit grey PNGs in


def open_photo(path: Path) -> Image.Image:
    """The photo, opened lazily, refused (ValueError: the scan skips it) when its header claims more
    than MAX_PHOTO_PIXELS pixels; nothing is decoded yet, unless its EXIF orientation says it is
    stored turned or mirrored (a phone's photo): then it is decoded upright, as viewers show it.
    A 16-bit grey photo is decoded to 8 bits, its full range kept. A photo with transparency (an
    alpha channel, a palette's transparent colour) is decoded onto white, as a page shows it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img: Image.Image = Image.open(path)
        except Image.DecompressionBombError as exc:
            limit = MAX_PHOTO_PIXELS // 10**6
            raise ValueError(f"{str(exc)[:80]}; more than the {limit} million read") from None
    width, height = img.size
    if width * height > MAX_PHOTO_PIXELS:
        img.close()
        raise ValueError(
            f"{width}x{height} pixels, more than the {MAX_PHOTO_PIXELS // 1_000_000} million read"
        )
    if img.getexif().get(ExifTags.Base.Orientation, 1) not in (0, 1):
        with img:
            img = ImageOps.exif_transpose(img)
    if img.mode in SIXTEEN_BIT:  # converted to RGB as they are, their values would clip at 255
        with img:
            img = img.convert("I").point(lambda v: v / 257).convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        with img:
            rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
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
    """The photos at `order`'s positions of `files` (all of them by default), from the
    `start`-th on; each item carries its position in `files`, the photo's id."""

    def __init__(
        self, root: Path, files: Sequence[str], size: int, start: int = 0,
        order: Sequence[int] | None = None,
    ) -> None:
        self.root, self.files, self.size = root, list(files), size
        self.order = list(range(len(self.files)) if order is None else order)[start:]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        i = self.order[i]  # ids are positions in the whole folder's list
        try:
            if printable(self.files[i]) != self.files[i]:
                raise ValueError("its name is not UTF-8 (rename the file)")
            return load_view(self.root / self.files[i], self.size), i, ""
        except Exception as exc:  # noqa: BLE001 - any unreadable image is skipped and counted
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), i, reason
