"""The preview: the site rendered from the cache into its own folder, again after every edit.

`Preview.refresh(changed)` reads the site again (`stages.pipeline.read_site`: the config, the
articles, the labels), keeps the models and the dataset indexes loaded while they stay the same,
plans and measures from the caches as `featvis render` does, and renders with the build's
renderer (so a channel page shows what the build's shows): the whole site into a fresh folder that
replaces the served one atomically (a symlink swapped with rename(2)), or, when only the text of
articles changed (no figure, title or file added or removed), just those articles and the home
page, each file replaced atomically. Figures whose visualizations the cache lacks are drawn as
placeholders and handed to the `Computer`, which runs `featvis compute` in a niced child process
(the edited pages first, then the whole site) and calls back as artifacts land: the articles
waiting for them are redrawn at once; at most every `EXPLORER_REDRAW_SECONDS`, the explorer pages
that the channels landed since change (a channel still being computed has a page that says so;
`SiteRenderer.redraw`), or the whole site when what the last whole drawing planned or read of the
measurement caches changed (`generator.serve.inputs`) or the preview is strict; and everything
once the run is done.

A failed edit (any `FeatvisError`, a template error) leaves the last good rendering in place and
goes to the terminal and the browser (`LiveHub`) as one line. The preview folder lives in the
system's temporary folder and is removed when serving stops; `site_output/` is never touched, so
the published site never holds a placeholder or the reload script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import torch

from generator.cache.reads import recording
from generator.cache.store import ArtifactStore
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.device import resolve_device
from generator.core.errors import FeatvisError
from generator.core.notices import Notices
from generator.core.words import counted
from generator.dataset.index import DatasetIndex
from generator.figures.registry import Article
from generator.models import LoadedModel
from generator.models.site import explorer_layers, load_site_models
from generator.pages.content import Page
from generator.plan.site import site_layers
from generator.serve.computer import Computer
from generator.serve.inputs import Measured, Planned, measured, outside_artifacts, planned
from generator.serve.live import LiveHub
from generator.site.render import SiteRenderer
from generator.site.writer import SiteWriter
from generator.stages.measured import measure
from generator.stages.pipeline import Site, plan, read_site, site_dataset

# While the background compute runs, the explorer is drawn again for the channels that landed at
# most this often, and at most a quarter of the time (a slow drawing waits longer).
EXPLORER_REDRAW_SECONDS = 10.0


class LiveWriter(SiteWriter):
    """Writes into a folder being served: each file replaced atomically, images that are there
    already (content-addressed names) left alone."""

    def text(self, rel: str, text: str, source: str) -> None:
        self.data(rel, text.encode("utf-8"), source)

    def data(self, rel: str, data: bytes, source: str) -> None:
        path = self._claim(rel, source)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def copy(self, src: Path, rel: str, source: str) -> None:
        self._place(src, rel, source, link=False)

    def link(self, src: Path, rel: str, source: str) -> None:
        self._place(src, rel, source, link=True)

    def _place(self, src: Path, rel: str, source: str, *, link: bool) -> None:
        """`src` at `rel`: left alone when it is there already (the same file, or a copy of
        the same size), else linked (or copied) beside it and renamed into place."""
        path = self._claim(rel, source)
        if path.is_file() and (path.samefile(src) or path.stat().st_size == src.stat().st_size):
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            if not link:
                raise OSError("copy")
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, path)


def one_line(exc: BaseException) -> str:
    """A failed edit's message: FeatvisError as is, a template error with its file and line."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}"
    if isinstance(exc, FeatvisError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


@dataclass
class _Loaded:
    """What stays loaded between renderings while the config that made it is unchanged."""

    key: tuple[Any, ...]
    models: tuple[LoadedModel, ...]  # the site's models, the first the articles' default
    store: ArtifactStore
    device: torch.device


class Preview:
    """The served rendering of a site (see the module docstring)."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        read_config: Callable[[], SiteConfig],
        read_preset: Callable[[SiteConfig, str], Preset],
        say: Callable[[str], None],
        compute: bool = True,
    ) -> None:
        """`read_config()` reads site.toml with the flags on top (again on every rendering);
        `read_preset(config, device_type)` gives the preset; `args` also passes the build's flags
        on to the background `featvis compute`."""
        self.args, self.say = args, say
        self.read_config, self.read_preset = read_config, read_preset
        self.hub = LiveHub()
        self.folder = Path(tempfile.mkdtemp(prefix="featvis-serve-"))
        self.current = self.folder / "current"
        self.strict = bool(getattr(args, "strict", False))
        self._warned: set[str] = set()
        self._lock = threading.Lock()  # one rendering at a time, and none once closed
        self._closed = False
        self._loaded: _Loaded | None = None
        # model id -> (what its index was made of, the index)
        self._datasets: dict[str, tuple[tuple[Any, ...], DatasetIndex | None]] = {}
        self._generation = 0
        self._renderer: SiteRenderer | None = None  # the last full rendering's SiteRenderer
        # what its plan and measure stage read: the jobs planned, the measurements read (found
        # or not) as they were on disk
        self._inputs: tuple[Planned, Measured] | None = None
        self._written: set[str] | None = None  # the files the last drawing wrote (None: all)
        self._seen_on_disk: set[str] = set()  # the articles' keys found in the cache
        self._explorer_seen: set[str] = set()  # the explorer's, at the last whole drawing
        self._drawn_at, self._drawing_seconds = 0.0, 0.0  # the last whole-site drawing
        self.missing: dict[str, list[str]] = {}  # page URL -> job keys the cache lacks
        self.config: SiteConfig | None = None
        self.computer = Computer(self, args) if compute else None

    # Rendering -----------------------------------------------------------------------------
    def refresh(
        self, changed: set[Path] | None = None, *, reason: str = "", landed: bool = False
    ) -> bool:
        """Render again after `changed` (None: everything; `landed`: the pages waiting for
        visualizations that are now in the cache); False when the edit failed."""
        with self._lock:
            if self._closed:  # serving is ending: its folder is gone
                return False
            start = time.perf_counter()
            try:
                what = self._render(changed, landed)
            except Exception as exc:  # noqa: BLE001 - a failed edit must not stop the preview
                line = one_line(exc)
                if line != self.hub.state.error:
                    self.say(f"error: {line} (still serving the last good pages)")
                self.hub.publish(error=line)
                return False
            if what is None:
                return True
            self._seen_on_disk = self._waiting_on_disk()
            pending = sum(len(keys) for keys in self.missing.values())
            self.hub.publish(pending=pending, pages=self._written)
            plural = "s" if pending != 1 else ""
            note = f", {pending} visualization{plural} to compute" if pending else ""
            self.say(f"rendered {what} in {time.perf_counter() - start:.2f} s{reason}{note}")
            return True

    def _render(self, changed: set[Path] | None, landed: bool = False) -> str | None:
        config = self.read_config()
        photos = config.dataset.resolve() if config.dataset is not None else None
        if changed and photos is not None and any(p.is_relative_to(photos) for p in changed):
            self._datasets = {}  # photos added, changed or removed: the scan is read again
        notices = Notices(strict=self.strict or config.strict, report=self._warn_once)
        loaded = self._load(config)
        site = read_site(
            config, self.read_preset(config, loaded.device.type), models=loaded.models,
            store=loaded.store, datasets=self._site_dataset, notices=notices,
        )
        articles = site.articles
        pages = [article.page for article in articles]
        explorer = landed and self._explorer_due()  # else only the articles that wait
        if landed:
            quick = [p.slug for p in pages if p.url in self.missing]
            if not quick and not explorer:
                return None
        else:
            quick = [] if notices.strict else self._quick_pages(config, pages, changed)
        what = None
        if (quick or explorer) and self._same_inputs(site, explorer, notices.strict):
            what = self._redraw(articles, quick, explorer=explorer)
        if what is None:
            self._render_all(site, notices)
            what = f"the site ({counted(len(pages), 'article')} and the explorer)"
        self.config = config
        if self.computer is not None and not landed:
            edited = [p.slug for p in pages if changed and p.path.resolve() in changed]
            self.computer.want(edited, {k for keys in self.missing.values() for k in keys})
        return what

    def _redraw(
        self, articles: Sequence[Article], quick: list[str], *, explorer: bool
    ) -> str | None:
        """The articles `quick` and (with `explorer`) the explorer pages that what landed
        changes, drawn again by the last whole drawing's renderer into the served folder; None
        when there is none yet."""
        renderer, writer = self._renderer, LiveWriter(self.current)
        start = time.monotonic()
        if renderer is None:
            return None
        renderer.redraw(articles, quick, writer, explorer=explorer)
        self._written = set(writer.written)
        for page in renderer.pages:
            if page.slug in quick:
                self._set_missing(page.url, renderer.missing.get(page.url, []))
        if not explorer:
            return ", ".join(quick)
        self.missing = {
            **{url: keys for url, keys in self.missing.items() if not url.startswith("explorer/")},
            **{url: [j.key for j in jobs] for url, jobs in renderer.missing.items()
               if url.startswith("explorer/")},
        }
        self._explorer_seen = self._waiting_on_disk(explorer=True)
        self._drawn_at, self._drawing_seconds = time.monotonic(), time.monotonic() - start
        shown = sum(rel.startswith("explorer/") and rel.endswith(".html") for rel in writer.written)
        return ", ".join([*quick, f"{shown} explorer pages"])

    def _same_inputs(self, site: Site, explorer: bool, strict: bool) -> bool:
        """Whether the last whole drawing's plan and measurements still hold (always, for the
        articles alone): the same jobs planned, and every measurement the plan and the measure
        stage read from the caches (found or not) as it was. Never in a strict preview: a whole
        drawing checks every warning."""
        if not explorer:
            return True
        if strict or self._inputs is None or measured(self._inputs[1]) != self._inputs[1]:
            return False
        return planned(site) == self._inputs[0]

    def _render_all(self, site: Site, notices: Notices) -> None:
        """The whole site into a fresh folder, then swapped in: planned and measured from the
        caches as `featvis render` does (what they lack is drawn as a placeholder)."""
        with recording() as read:
            for one in site.models:
                plan(site, one)
                measure(site, one, compute=False)
        self._inputs = (planned(site), measured(outside_artifacts(read, site.store.root)))
        out = self.folder / f"site-{self._generation + 1}"
        start = time.monotonic()
        renderer = SiteRenderer(site, out, notices=notices, pending=True)
        renderer.draw()
        notices.check_strict("the preview")
        self.swap(out)
        self._renderer, self._written = renderer, None
        self.missing = {
            url: [j.key for j in jobs] for url, jobs in renderer.missing.items() if jobs
        }
        self._explorer_seen = self._waiting_on_disk(explorer=True)
        self._drawn_at, self._drawing_seconds = time.monotonic(), time.monotonic() - start

    def _warn_once(self, line: str) -> None:
        if line not in self._warned:
            self._warned.add(line)
            self.say(line)

    def _set_missing(self, url: str, jobs: Sequence[Any]) -> None:
        if jobs:
            self.missing[url] = [j.key for j in jobs]
        else:
            self.missing.pop(url, None)

    def _quick_pages(
        self, config: SiteConfig, pages: Sequence[Page], changed: set[Path] | None
    ) -> list[str]:
        """The slugs to redraw alone, or [] when the whole site must be drawn again."""
        if not changed or self._renderer is None or config != self.config:
            return []
        by_path = {p.path.resolve(): p for p in pages}
        changed = {p for p in changed if p in by_path or p.exists() or p.suffix == ".md"}
        if not changed or any(path not in by_path for path in changed):
            return []  # a template, an asset, a new or removed article: everything
        return [by_path[path].slug for path in sorted(changed)]

    def swap(self, out: Path) -> None:
        """Serve `out` from now on: a new symlink renamed over the old one, then the old folder
        removed."""
        self._generation += 1
        old = os.path.realpath(self.current) if self.current.is_symlink() else None
        link = self.folder / f".current.{self._generation}"
        os.symlink(out.name, link)
        os.replace(link, self.current)
        if old is not None and Path(old) != out.resolve():
            shutil.rmtree(old, ignore_errors=True)

    def _load(self, config: SiteConfig) -> _Loaded:
        specs = config.model_specs
        key = (specs, config.device, config.seed, config.cache_dir)
        if self._loaded is None or self._loaded.key != key:
            device = resolve_device(config.device)
            models = load_site_models(config, device)
            store = ArtifactStore(config.cache_dir, report=lambda m: self.say(f"warning: {m}"))
            self._loaded = _Loaded(key=key, models=tuple(models), store=store, device=device)
            self._datasets = {}
        else:  # the networks kept: the site's explorer_layers, not in the key, checked again
            for model in self._loaded.models:
                explorer_layers(config, model)
        return self._loaded

    def _site_dataset(
        self, config: SiteConfig, model: LoadedModel, articles: Sequence[Article], _compute: bool
    ) -> DatasetIndex | None:
        """The model's dataset index, kept loaded while its photos and layers stay the same
        (scanned now when the cache lacks it)."""
        if config.dataset is None:
            return None
        key = (config.dataset, config.dataset_top_k, tuple(site_layers(config, model, articles)))
        held = self._datasets.get(model.id)
        if held is None or held[0] != key:
            held = self._datasets[model.id] = (
                key, site_dataset(config, model, quiet=True, articles=articles)
            )
        return held[1]

    # Artifacts landing ---------------------------------------------------------------------
    def landed(self) -> bool:
        """Whether any visualization the preview waits for is now in the cache (never while the
        last edit failed: its fix renders them)."""
        if self._loaded is None or self.hub.state.error:
            return False
        return bool(self._waiting_on_disk() - self._seen_on_disk) or self._explorer_due()

    def _explorer_due(self) -> bool:
        """Whether channels of the explorer landed since the last whole-site drawing, and that
        drawing is long enough ago to draw the site again."""
        wait = max(EXPLORER_REDRAW_SECONDS, 3 * self._drawing_seconds)
        if time.monotonic() - self._drawn_at < wait:
            return False
        return bool(self._waiting_on_disk(explorer=True) - self._explorer_seen)

    def _waiting_on_disk(self, *, explorer: bool = False) -> set[str]:
        """The keys the articles (with `explorer`: the explorer's pages) wait for that have a
        folder in the cache (one that is there but does not check out stays missing; it must not
        trigger a rendering again and again)."""
        if self._loaded is None:
            return set()
        store = self._loaded.store
        return {
            k
            for url, keys in self.missing.items()
            if url.startswith("explorer/") == explorer
            for k in keys
            if store.path(k).is_dir()
        }

    def close(self) -> None:
        """Stop the background compute and remove the preview's folder: after a rendering in
        another thread (the background compute's) has finished, and none renders after it."""
        if self.computer is not None:
            self.computer.stop()
        self.hub.close()
        with self._lock:
            self._closed = True
            shutil.rmtree(self.folder, ignore_errors=True)
