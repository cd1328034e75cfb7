"""`featvis serve`: preview the site while editing it, or serve a built site as it is.

With watching (the default) the server binds first (a busy port fails before any work), renders
the site from the cache into the preview's own folder with placeholders for what is missing,
computes that in the background and re-renders after every change to the content, the site's
templates, site.toml or the labels file; open tabs reload themselves. `--no-watch` serves the
built `site_output/` as it is (building it first when there is none). Both bind 127.0.0.1 unless
`--host` says otherwise, and neither follows a symlink, lists a folder or serves a dotfile.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from generator.commands.build import _config, _preset
from generator.commands.common import followed_preset, preset_from_args
from generator.config.site import SiteConfig
from generator.core.progress import say
from generator.serve.jail import check_port, jailed_handler, open_server, url_of
from generator.serve.live import EVENTS
from generator.serve.watch import Watched, Watcher

if TYPE_CHECKING:
    from generator.serve.preview import Preview

WAITING = b"""<!doctype html><html lang="en">
<head><meta charset="utf-8"><title>featvis</title></head>
<body><main><h1>featvis is rendering the site</h1><p>This page reloads when it is ready.</p></main>
</body>
</html>"""
RENDERING = 503  # the status of a page asked for before the first rendering: not there yet



# the signals that end serving as Ctrl-C does: a `kill`, and the terminal it runs in closing
_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end serving like Ctrl-C does, so the preview folder and the child are
    cleaned."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in _ENDING}
    try:
        yield
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)


def cmd_serve(args: argparse.Namespace) -> int:
    check_port(args.port)
    with _terminated_as_interrupt():
        try:
            return _serve_built(args) if args.no_watch else _serve_preview(args)
        except KeyboardInterrupt:
            return 0


def _serve_built(args: argparse.Namespace) -> int:
    config = _config(args)
    from generator.build import build_site  # torch: after the config is read

    root = config.output_dir
    server = open_server(args.host, args.port, jailed_handler(root))  # a busy port: no build
    with server:
        if not (root / "index.html").is_file():
            say(f"{root}: no built site yet; building it first")
            build_site(config, preset=_preset(config, args), quiet=args.quiet)
        say(f"serving {root} at {url_of(server)} (Ctrl-C stops)")
        server.serve_forever()
    return 0


def following_the_built_site(args: argparse.Namespace, config: SiteConfig) -> argparse.Namespace:
    """The flags the preview runs with: without preset flags, the settings the site in the output
    folder was built with (`followed_preset`, as `render` follows them), so that the preview
    shows that site and its background compute computes what it lacks, not a plain build's."""
    from generator.core.device import resolve_device

    preset, note = followed_preset(config, args, resolve_device(config.device).type)
    if note is None:
        return args
    say(f"previewing with {note}")
    return argparse.Namespace(**{
        **vars(args), "preset": preset.name, "size": preset.size, "steps": preset.steps,
        "channels": preset.explorer_channels, "closure": preset.closure,
    })


def _serve_preview(args: argparse.Namespace) -> int:
    config = _config(args)  # a bad site.toml or flag stops here, before binding
    args = following_the_built_site(args, config)
    from generator.serve.preview import Preview  # torch: after the config is read

    preview = Preview(
        args,
        read_config=lambda: _config(args),
        read_preset=lambda config, device_type: preset_from_args(config, args, device_type),
        say=say,
    )
    try:  # every way out removes the preview's folder
        return _serve(preview, args, config)
    finally:
        preview.close()


def _serve(preview: Preview, args: argparse.Namespace, config: SiteConfig) -> int:
    """Serve `preview`, rendering it again after every change, until interrupted."""
    waiting = preview.folder / "site-0"
    waiting.mkdir()
    (waiting / "index.html").write_bytes(WAITING)
    preview.swap(waiting)

    def before_rendering(path: str) -> tuple[int, bytes] | None:
        """Any page asked for before the first rendering: the waiting page, which reloads."""
        first = preview.hub.state.version == 0
        return (RENDERING, WAITING) if first and path.endswith(("/", ".html")) else None

    handler = jailed_handler(
        preview.current, inject=preview.hub.inject, routes={EVENTS: preview.hub.stream},
        fallback=before_rendering,
    )
    server = open_server(args.host, args.port, handler)
    with server:
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="featvis-http")
        thread.start()
        try:
            _watch(preview, config, url_of(server))
        finally:
            server.shutdown()
    return 0


def _watch(preview: Preview, config: SiteConfig, url: str) -> None:
    """Render `preview` now and again after every change to what it watches."""
    watched = Watched.of(config)
    shown = ", ".join(str(_short(p, config.root)) for p in watched.shown())
    say(f"serving a preview of {config.root} at {url} (watching {shown}; Ctrl-C stops)")
    changes: set[Path] = set()
    arrived = threading.Condition()

    def on_change(paths: set[Path]) -> None:
        with arrived:
            changes.update(paths)
            arrived.notify()

    watcher = Watcher(watched, on_change)
    watcher.start()
    try:
        preview.refresh()
        while True:
            with arrived:
                while not changes:
                    arrived.wait()
                batch = set(changes)
                changes.clear()
            names = ", ".join(sorted(str(_short(p, config.root)) for p in batch))
            preview.refresh(batch, reason=f" after a change to {names}")
    finally:
        watcher.stop()


def _short(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path
