"""What the preview watches, and the thread that turns file changes into rebuild requests.

`Watched` names the inputs of a site: the content folder, the site's own templates folder (when
it has one), site.toml, the labels file and the photo folder (its photos only). `Watcher` runs
`watchfiles` over them (inotify where there is one) in daemon threads and calls
`on_change(paths)` with each settled group of changed files; editors' swap and backup files are
ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from generator.atlas.labels import LABELS_FILE
from generator.config.paths import PHOTO_SUFFIXES
from generator.config.site import SiteConfig


@dataclass(frozen=True)
class Watched:
    folders: tuple[Path, ...]  # watched recursively
    files: tuple[Path, ...]  # single files (their folder watched, others ignored)
    photos: Path | None = None  # the photo folder, watched recursively for photos

    @classmethod
    def of(cls, config: SiteConfig) -> Watched:
        folders = [config.content_dir]
        if config.templates_dir is not None:
            folders.append(config.templates_dir)
        files = [config.root / LABELS_FILE]
        if config.source is not None:
            files.insert(0, config.source)
        photos = config.dataset.resolve() if config.dataset is not None else None
        return cls(
            folders=tuple(f.resolve() for f in folders if f.is_dir()),
            files=tuple(f.resolve() for f in files),
            photos=photos if photos is not None and photos.is_dir() else None,
        )

    def shown(self) -> tuple[Path, ...]:
        """Everything watched, for the start line."""
        return (*self.folders, *self.files, *((self.photos,) if self.photos else ()))


class Watcher:
    """Daemon threads calling `on_change(paths)`; `stop()` ends them."""

    def __init__(self, watched: Watched, on_change: Callable[[set[Path]], None]) -> None:
        self.watched, self.on_change = watched, on_change
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.watched.folders:
            self._spawn(self.watched.folders, recursive=True, keep=None)
        parents = tuple(dict.fromkeys(f.parent for f in self.watched.files if f.parent.is_dir()))
        if parents:
            self._spawn(parents, recursive=False, keep=set(self.watched.files))
        if self.watched.photos is not None:
            self._spawn((self.watched.photos,), recursive=True, keep=None, photos=True)

    def _spawn(self, paths: Iterable[Path], *, recursive: bool, keep: set[Path] | None,
               photos: bool = False) -> None:
        thread = threading.Thread(
            target=self._run, args=(tuple(paths), recursive, keep, photos), daemon=True,
            name="featvis-watch",
        )
        thread.start()
        self._threads.append(thread)

    def _run(self, paths: tuple[Path, ...], recursive: bool, keep: set[Path] | None,
             photos: bool) -> None:
        for changes in watchfiles.watch(
            *paths, stop_event=self._stop, recursive=recursive, debounce=400, step=30,
            raise_interrupt=False,
            watch_filter=_is_photo if photos else watchfiles.DefaultFilter(),
        ):
            # a photo may be a link to a file elsewhere: named by its place in the folder
            changed = {Path(p) if photos else Path(p).resolve() for _, p in changes}
            if keep is not None:
                changed &= keep
            if changed:
                self.on_change(changed)

    def stop(self) -> None:
        self._stop.set()


def _is_photo(_change: watchfiles.Change, path: str) -> bool:
    return path.lower().endswith(PHOTO_SUFFIXES)
