"""The reload channel between the preview and the open browser tabs.

`LiveHub` holds the preview's state: a version that grows with every new rendering (with the
pages it wrote, or None for all of them), the error of the last edit (None when it built), and
how many visualizations are still being computed. Served HTML gets `SCRIPT` (with the version it
was rendered at) before `</body>`; the script listens on `EVENTS` (Server-Sent Events) with its
version and its page, reloads the page when a rendering since its version wrote it (keeping the
scroll position) and shows the error as a banner while there is one. Nothing here is written to
disk: the published site never contains the script.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

EVENTS = "/__featvis__/events"
KEEPALIVE_SECONDS = 10.0
HISTORY = 256  # renderings whose pages are kept; a tab older than all of them reloads

SCRIPT = """<script id="featvis-live">(function () {
  var version = %(version)d, key = "featvis-scroll:" + location.pathname;
  var saved = sessionStorage.getItem(key);
  if (saved !== null) {
    sessionStorage.removeItem(key);
    window.addEventListener("load", function () { window.scrollTo(0, +saved); });
  }
  function banner(text) {
    var el = document.getElementById("featvis-error");
    if (!text) { if (el) el.remove(); return; }
    if (!el) {
      el = document.createElement("div");
      el.id = "featvis-error";
      el.setAttribute("role", "alert");
      el.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:2147483647;" +
        "background:#b00020;color:#fff;font:14px/1.4 monospace;padding:10px 14px;" +
        "white-space:pre-wrap;box-shadow:0 2px 6px rgba(0,0,0,.3)";
      document.documentElement.appendChild(el);
    }
    el.textContent = "featvis: " + text + "\\n(the page shows the last good build)";
  }
  var source = new EventSource("%(events)s?v=" + version + "&page=" +
    encodeURIComponent(location.pathname));
  source.onmessage = function (event) {
    var state = JSON.parse(event.data);
    banner(state.error);
    if (state.reload && !state.error) {
      sessionStorage.setItem(key, String(window.scrollY));
      source.close();
      location.reload();
    }
  };
})();</script>"""


@dataclass(frozen=True)
class State:
    version: int
    error: str | None
    pending: int  # visualizations the preview is still waiting for

    def message(self, reload: bool) -> bytes:
        data = {"version": self.version, "error": self.error, "pending": self.pending,
                "reload": reload}
        return f"data: {json.dumps(data)}\n\n".encode()


def page_of(path: str) -> str:
    """The site's file a browser's path names (`/` and `/dir/` their index.html)."""
    page = unquote(path).lstrip("/")
    return page + "index.html" if page == "" or page.endswith("/") else page


class LiveHub:
    """The preview's state, and everyone waiting for it to change."""

    def __init__(self) -> None:
        self._state = State(version=0, error=None, pending=0)
        self._changed = threading.Condition()
        self._closed = False
        self._wrote: dict[int, frozenset[str] | None] = {}  # version -> its pages (None: all)

    @property
    def state(self) -> State:
        with self._changed:
            return self._state

    def publish(
        self,
        *,
        error: str | None = None,
        pending: int | None = None,
        pages: Iterable[str] | None = None,
    ) -> State:
        """A new rendering (error None) that wrote `pages` (None: every page), or a failed edit
        (error: its one line)."""
        with self._changed:
            old = self._state
            self._state = State(
                version=old.version + (0 if error else 1),
                error=error,
                pending=old.pending if pending is None else pending,
            )
            if not error:
                self._wrote[self._state.version] = None if pages is None else frozenset(pages)
                self._wrote.pop(self._state.version - HISTORY, None)
            self._changed.notify_all()
            return self._state

    def _rewritten(self, page: str | None, since: int, upto: int) -> bool:
        """Whether a rendering after version `since`, up to `upto`, wrote `page` (None: any
        page); a version no longer kept counts as one that did. Under the lock."""
        for version in range(since + 1, upto + 1):
            pages = self._wrote.get(version)
            if pages is None or page is None or page in pages:
                return True
        return False

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def inject(self, html: bytes) -> bytes:
        """`html` with the reload script before `</body>` (at the end when there is none)."""
        script = (SCRIPT % {"version": self.state.version, "events": EVENTS}).encode()
        at = html.rfind(b"</body>")
        return html + script if at < 0 else html[:at] + script + html[at:]

    def stream(self, handler: Any) -> None:
        """Answer an EventSource request: the state now, then every change, until closed."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        query = parse_qs(urlsplit(handler.path).query)
        page = page_of(query["page"][0]) if "page" in query else None
        try:  # the version the tab shows (by default the one now: no reload at once)
            shown = int(query["v"][0])
        except (KeyError, ValueError):
            shown = self.state.version
        seen: State | None = None
        try:
            while True:
                with self._changed:
                    if self._state == seen and not self._closed:
                        self._changed.wait(KEEPALIVE_SECONDS)
                    if self._closed:
                        return
                    state = self._state
                    reload = state.version > shown and self._rewritten(page, shown, state.version)
                if state != seen:
                    if not state.error and not reload:
                        shown = state.version  # what the tab shows is still current
                    handler.wfile.write(state.message(reload and not state.error))
                    seen = state
                else:
                    handler.wfile.write(b": keepalive\n\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
