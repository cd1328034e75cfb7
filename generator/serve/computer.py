"""The preview's background compute: what the preview lacks, computed by `featvis compute` in a
niced child process (each edited page first with `--only PAGE`, then the whole site), re-rendering
the preview whenever some of what it waits for lands and once the run is done.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import Any, Protocol

LANDED_POLL_SECONDS = 0.5
NICE = 10  # the background compute's niceness
# a child ended by Ctrl-C (the terminal's SIGINT reaches its whole process group), as a signal
# or as the exit code of Python's KeyboardInterrupt handling
INTERRUPTED = (-signal.SIGINT, 128 + signal.SIGINT)
CHILD_FLAGS = ("config", "model", "weights", "device", "seed", "preset", "dataset", "cache",
               "batch_size", "workers", "size", "steps", "channels", "closure", "random_weights")


class Previewing(Protocol):
    """What the computer needs of the preview (`generator.serve.preview.Preview`)."""

    missing: dict[str, list[str]]
    hub: Any

    def say(self, message: str) -> None: ...

    def landed(self) -> bool: ...

    def refresh(
        self, changed: Any = None, *, reason: str = "", landed: bool = False
    ) -> bool: ...


class Computer:
    """Computes what the preview lacks in a niced `featvis compute` child process: each edited
    page first (`--only PAGE`), then the whole site; a request for an edited page stops a
    whole-site run, which starts again after it (finished artifacts are kept)."""

    def __init__(self, preview: Previewing, args: argparse.Namespace) -> None:
        self.preview = preview
        self.flags = child_flags(args)
        self._wake = threading.Condition()
        self._pages: list[str] = []  # edited pages waiting, first first
        self._site = False  # the whole site waits
        self._stopped = False
        self._child: subprocess.Popen[bytes] | None = None
        self._child_is_site = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="featvis-compute")
        self._thread.start()

    def want(self, edited: Sequence[str], missing: set[str]) -> None:
        """Queue the edited pages first, then the site, when anything is missing."""
        if not missing:
            return
        with self._wake:
            for slug in edited:
                if slug not in self._pages and any(
                    url == f"{slug}.html" for url in self.preview.missing
                ):
                    self._pages.append(slug)
            self._site = True
            if self._pages and self._child is not None and self._child_is_site:
                self._child.terminate()  # the edited page goes first
            self._wake.notify_all()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            if self._child is not None:
                self._child.terminate()
            self._wake.notify_all()

    def _next(self) -> list[str] | None:
        with self._wake:
            while not self._stopped and not self._pages and not self._site:
                self._wake.wait()
            if self._stopped:
                return None
            if self._pages:
                return ["--only", self._pages.pop(0)]
            self._site = False
            return []

    def _run(self) -> None:
        while (only := self._next()) is not None:
            argv = [sys.executable, "-m", "generator", "compute", "--quiet", *self.flags, *only]
            what = f"page {only[1]}" if only else "the site"
            self.preview.say(f"computing the visualizations of {what} in the background")
            with self._wake:
                if self._stopped:
                    return
                log = tempfile.TemporaryFile()
                self._child = child = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
                )
                self._child_is_site = not only
            with contextlib.suppress(OSError):  # below the server and the renderer
                os.setpriority(os.PRIO_PROCESS, child.pid, NICE)
            code = self._watch(child)
            log.seek(0)
            err = log.read().decode(errors="replace")
            log.close()
            with self._wake:
                self._child = None
                if code in INTERRUPTED:  # Ctrl-C reached the child too: serving is ending
                    self._stopped = True
                    return
            if code not in (0, -15) and not self._stopped:
                lines = [ln for ln in err.strip().splitlines() if ln.strip()]
                self.preview.say(f"background compute failed: {lines[-1] if lines else code}")
            if code == 0 and not self._stopped and not self.preview.hub.state.error:
                self.preview.refresh(reason=" (computing done)")  # the explorer too

    def _watch(self, child: subprocess.Popen[bytes]) -> int:
        """Wait for `child`, re-rendering whenever some of what the preview waits for lands."""
        while True:
            try:
                return child.wait(timeout=LANDED_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                if self.preview.landed() and not self._stopped:
                    self.preview.refresh(reason=" (new visualizations)", landed=True)


def child_flags(args: argparse.Namespace) -> list[str]:
    """The build flags of `args` again, for `featvis compute`."""
    flags: list[str] = []
    for name in CHILD_FLAGS:
        value = getattr(args, name, None)
        flag = f"--{name.replace('_', '-')}"
        if value is True:  # a switch
            flags.append(flag)
        elif value is not None and value is not False:
            flags += [flag, str(value)]
    return flags
