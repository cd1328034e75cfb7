"""The reload channel between the preview and the open browser tabs.

`LiveHub` holds the preview's state: a version that grows with every new rendering, the error of
the last edit (None when it built), and which pages are waiting for visualizations. Served HTML
gets `SCRIPT` (with the version it was rendered at) before `</body>`; the script listens on
`EVENTS` (Server-Sent Events), reloads the page when the version moves past its own (keeping the
scroll position) and shows the error as a banner while there is one. Nothing here is written to
disk: the published site never contains the script.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

EVENTS = "/__featvis__/events"
KEEPALIVE_SECONDS = 10.0

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
  var source = new EventSource("%(events)s");
  source.onmessage = function (event) {
    var state = JSON.parse(event.data);
    banner(state.error);
    if (state.version > version && !state.error) {
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

    def message(self) -> bytes:
        data = {"version": self.version, "error": self.error, "pending": self.pending}
        return f"data: {json.dumps(data)}\n\n".encode()


class LiveHub:
    """The preview's state, and everyone waiting for it to change."""

    def __init__(self) -> None:
        self._state = State(version=0, error=None, pending=0)
        self._changed = threading.Condition()
        self._closed = False

    @property
    def state(self) -> State:
        with self._changed:
            return self._state

    def publish(self, *, error: str | None = None, pending: int | None = None) -> State:
        """A new rendering (error None) or a failed edit (error: its one line)."""
        with self._changed:
            old = self._state
            self._state = State(
                version=old.version + (0 if error else 1),
                error=error,
                pending=old.pending if pending is None else pending,
            )
            self._changed.notify_all()
            return self._state

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
        seen: State | None = None
        try:
            while True:
                with self._changed:
                    if self._state == seen and not self._closed:
                        self._changed.wait(KEEPALIVE_SECONDS)
                    if self._closed:
                        return
                    state = self._state
                if state != seen:
                    handler.wfile.write(state.message())
                    seen = state
                else:
                    handler.wfile.write(b": keepalive\n\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
