"""Progress a person can read on a terminal and in a log.

A `Progress` is made once per command and handed down. On a terminal it draws tqdm bars as
before; when standard error is not a terminal (a log file, a CI job) it prints one line per stage
(`featvis: stage planning`, ... `publish`) and, while counting, a line at most every
`EVERY_SECONDS` or every `EVERY_FRACTION` of the total, with done/total, the rate and the time
left. `quiet` silences everything. Nothing here knows what is being counted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

EVERY_SECONDS = 30.0
EVERY_FRACTION = 0.10


def say(message: str, stream: TextIO | None = None) -> None:
    """`featvis: message` as one line on standard error (or `stream`), written whole and above
    any progress bar: two threads saying things at once (the preview and its background compute)
    never run their lines together, as `print`, which writes a line's text and its end apart,
    did."""
    out = stream if stream is not None else sys.stderr
    with tqdm.external_write_mode(file=out):
        out.write(f"featvis: {message}\n")
        out.flush()


class Counter:
    """Counts done items of a known total; `update(n)` after each piece of work."""

    def __init__(
        self,
        total: int,
        what: str,
        unit: str,
        *,
        write: Callable[[str], None] | None,
        bar: tqdm | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.what, self.unit = total, what, unit
        self.done = 0
        self._write, self._bar, self._clock = write, bar, clock
        self._start = self._last_time = clock()
        self._last_done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._write is None or self.total <= 0:
            return
        now = self._clock()
        step = max(1, int(self.total * EVERY_FRACTION))
        due = now - self._last_time >= EVERY_SECONDS or self.done - self._last_done >= step
        if due or self.done >= self.total:
            self._write(self.line(now))
            self._last_time, self._last_done = now, self.done

    def line(self, now: float | None = None) -> str:
        """`compute: 12/80 (15%), 0.42 visualizations/s, about 2 min 41 s left`."""
        elapsed = max((now if now is not None else self._clock()) - self._start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what}: {self.done}/{self.total} ({100 * self.done // max(self.total, 1)}%)"
        text += f", {rate:.2f} {self.unit}/s"
        if self.done < self.total:
            text += ", time left unknown" if rate <= 0 else (
                f", about {duration((self.total - self.done) / rate)} left"
            )
        return text


def duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `1 h 2 min`."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Progress:
    """Stage lines and counters for one command (see the module docstring)."""

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, terminal: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal

    @property
    def logging(self) -> bool:
        """Lines for a log: not quiet and not a terminal."""
        return not self.quiet and not self.terminal

    def say(self, message: str) -> None:
        """One line, on a terminal too (above any bar), unless quiet."""
        if not self.quiet:
            say(message, self.stream)

    def _log(self, message: str) -> None:
        say(message, self.stream)

    def stage(self, name: str, detail: str = "") -> None:
        """`featvis: stage compute: preset quick on cpu` in a log; nothing on a terminal."""
        if self.logging:
            self._log(f"stage {name}" + (f": {detail}" if detail else ""))

    @contextmanager
    def counter(self, total: int, what: str, unit: str = "visualizations") -> Iterator[Counter]:
        """A bar on a terminal, periodic lines in a log, nothing when quiet."""
        show_bar = not self.quiet and self.terminal and total > 0
        bar = tqdm(
            total=total, desc=what, unit=unit[:3], file=self.stream, dynamic_ncols=True,
            disable=not show_bar,
        ) if show_bar else None
        try:
            yield Counter(total, what, unit, write=self._log if self.logging else None, bar=bar)
        finally:
            if bar is not None:
                bar.close()


QUIET = Progress(quiet=True)  # the default of functions that count only when handed a Progress
