"""Writing the site's files: `SiteWriter` refuses to write one path twice (Pelican's rule), and
`ImagePlacer` puts each artifact image and build-time picture into the site once.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

from PIL import Image

from generator.core.errors import FeatvisError


class SiteWriter:
    """Writes files below `root`; a second write to the same path is an error naming both."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.written: dict[str, str] = {}
        self._folders: dict[str, Path] = {}  # a folder's relative path -> resolved, created

    def _folder(self, rel: str, source: str) -> Path:
        """The resolved folder `rel` (created), checked to be inside the site, once per folder."""
        if rel not in self._folders:
            folder = (self.root / rel).resolve()
            if not folder.is_relative_to(self.root.resolve()):
                raise FeatvisError(f"{source}: output path '{rel}' is outside the site")
            folder.mkdir(parents=True, exist_ok=True)
            self._folders[rel] = folder
        return self._folders[rel]

    def _claim(self, rel: str, source: str) -> Path:
        if rel in self.written:
            raise FeatvisError(
                f"two sources write the same output '{rel}': {self.written[rel]} and {source}"
            )
        if Path(rel).is_absolute():
            raise FeatvisError(f"{source}: output path '{rel}' is outside the site")
        folder, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            raise FeatvisError(f"{source}: output path '{rel}' is not a file's")
        path = self._folder(folder, source) / name
        if path.is_symlink():  # the name itself must not lead out either
            raise FeatvisError(f"{source}: output path '{rel}' is outside the site")
        self.written[rel] = source
        return path

    def text(self, rel: str, text: str, source: str) -> None:
        self._claim(rel, source).write_text(text, encoding="utf-8")

    def data(self, rel: str, data: bytes, source: str) -> None:
        self._claim(rel, source).write_bytes(data)

    def copy(self, src: Path, rel: str, source: str) -> None:
        shutil.copyfile(src, self._claim(rel, source))

    def link(self, src: Path, rel: str, source: str) -> None:
        """`src` at `rel` as a hard link (no bytes copied), or a copy where the two folders are
        on different filesystems. Only for files that are never changed in place, such as the
        cache's, which are written whole under a temporary name and renamed."""
        target = self._claim(rel, source)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)


class ImagePlacer:
    """Puts artifact images and dataset patches into the site, each once; returns their paths."""

    def __init__(self, writer: SiteWriter) -> None:
        self.writer = writer
        self.placed: dict[Path, str] = {}
        self.patches: dict[str, str] = {}

    def artifact_image(self, path: Path) -> str:
        path = Path(path)
        if path not in self.placed:
            rel = f"images/{path.parent.name}/{path.name}"
            self.writer.link(path, rel, f"artifact {path.parent.name}")
            self.placed[path] = rel
        return self.placed[path]

    def patch(self, key: str, image: Image.Image, folder: str, *, photo: bool = False) -> str:
        """A picture made at build time, written once per key: a photo (a dataset patch) as JPEG
        at quality 90, a quarter of the bytes of a PNG; anything else (a filter) as PNG."""
        if key not in self.patches:
            buffer = io.BytesIO()
            if photo:
                image.convert("RGB").save(buffer, "JPEG", quality=90)
            else:
                image.save(buffer, "PNG")
            name = hashlib.sha256(key.encode()).hexdigest()[:20]
            rel = f"images/{folder}/{name}.{'jpg' if photo else 'png'}"
            self.writer.data(rel, buffer.getvalue(), f"{folder} image")
            self.patches[key] = rel
        return self.patches[key]
