"""The path keys of site.toml (and their flags), checked as a command reads the config, before
torch or a model loads: what each must name, and `check_path`, which answers a path that does
not name it in one line with the site.toml line (or the flag) and what it must name
(`SiteConfig.check_inputs` checks every path key with it).

A file or folder featvis reads must be there: `weights` and `classes` (a file; each model's own in
a `models` table too), `dataset` (a folder holding at least one photo), `content_dir` and
`templates_dir` (a folder). What featvis writes may be missing, it is made: `output_dir` and
`cache_dir` only may not be files. An empty value is refused by the schema (`schema.pathname`),
so `""` never stands for site.toml's own folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from generator.core.errors import FeatvisError
from generator.core.words import counted

# the files of the photo folder (`dataset`) read as photos, in any case
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# what each path key names, as its error says it
EXPECTED = {
    "weights": "a checkpoint file, .pth, .pt or .safetensors",
    "classes": "a text file of class names, one a line",
    "dataset": f"a folder of photos, {', '.join(PHOTO_SUFFIXES)} files, in subfolders too",
    "content_dir": "a folder of articles, *.md files",
    "templates_dir": "a folder of templates",
    "output_dir": "a folder for the built site, made when missing",
    "cache_dir": "a folder for the cache, made when missing",
}
PATH_KEYS = tuple(EXPECTED)
FILE_KEYS = ("weights", "classes")  # a model's own, in a `models` table too
_MADE = ("output_dir", "cache_dir")


def walk_files(root: Path) -> Iterator[tuple[str, bool]]:
    """Each file under `root`, subfolders too (hidden ones aside; a linked folder once, a link
    loop never), with whether it is a photo (`PHOTO_SUFFIXES`, any case)."""
    seen: set[str] = set()  # folders walked, by real path
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if not name.startswith("."):
                yield os.path.join(folder, name), name.lower().endswith(PHOTO_SUFFIXES)


def first_photo(root: Path) -> tuple[str | None, int]:
    """The first photo found under `root` (`walk_files`) and, where there is none, how many
    other files it holds: a folder of photos answers at its first one."""
    others = 0
    for path, photo in walk_files(root):
        if photo:
            return path, 0
        others += 1
    return None, others


def path_problem(key: str, path: Path) -> str | None:
    """What is wrong with `path` as the value of the path key `key` (None: nothing)."""
    if key in _MADE:
        return "is a file" if path.exists() and not path.is_dir() else None
    if not path.exists():
        return "no such file" if key in FILE_KEYS else "no such folder"
    if key in FILE_KEYS:
        return "is a folder, not a file" if path.is_dir() else None
    if not path.is_dir():
        return "is a file, not a folder"
    if key == "dataset":
        photo, others = first_photo(path)
        if photo is None and others:
            return f"holds no photos, only {counted(others, 'other file')}"
        if photo is None:
            return "is empty"
    return None


def refuse_empty(flag: str, value: str | None, expected: str) -> None:
    """A flag given as an empty string is an error naming it and what it takes: "" would stand
    for the current folder or the flag's default."""
    if value is not None and not value.strip():
        raise FeatvisError(f"{flag} is empty (valid: {expected})")


def check_path(key: str, path: Path | None, where: str) -> None:
    """A `FeatvisError` naming `where` (`site.toml:LINE`, with the key, or the flag), the path
    and what it must name, when `path` does not name what `key` needs."""
    if path is None:
        return
    problem = path_problem(key, path)
    if problem is not None:
        named = where if where.startswith("--") else f"{where}: '{key}'"
        raise FeatvisError(f"{named} {path}: {problem} (valid: {EXPECTED[key]})")
