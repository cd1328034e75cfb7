"""A static file server that never leaves its root.

`JailedHandler` answers GET and HEAD for files below one folder. It refuses (404) any path with a
component that starts with a dot, any path that names a symlink anywhere below the root (403:
nothing is followed, not even a link to a folder inside the site) and any folder without an
`index.html` (no listings). The root itself may be a symlink that is swapped atomically (the
preview does); it is resolved once per request. HTML responses may pass through `inject`
(the preview's reload script) on the way out; files on disk are never changed. A path that is
not there may be answered by `fallback` (the preview's page for a site still being rendered).

A client has `HEAD_SECONDS` to send a request's line and headers and `IO_SECONDS` for each read
or write after that; one that sends too slowly (slowloris) or not at all is dropped, so half-sent
requests cannot pile up threads.

`open_server(host, port, handler)` binds a threading server and turns a busy or invalid port or
host into one `FeatvisError` line.
"""

from __future__ import annotations

import errno
import http.server
import mimetypes
import os
import socket
import stat
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.core.errors import FeatvisError

PORT_RANGE = (0, 65535)  # 0: any free port (the server says which)
HEAD_SECONDS = 10.0  # to send a request's line and headers, all of them
IO_SECONDS = 30.0  # for any one read or write of a connection
HIDDEN = "hidden or invalid path"  # refused, never answered by a fallback


class _Deadline:
    """A connection's reader whose `readline` (the request head is read line by line) gets only
    what is left of one deadline; the rest passes through."""

    def __init__(self, handler: JailedHandler) -> None:
        self.handler = handler
        self.reader = handler.rfile
        self.until = time.monotonic() + handler.head_seconds

    def readline(self, limit: int = -1) -> bytes:
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request head not sent within {self.handler.head_seconds} s")
        self.handler.connection.settimeout(min(left, self.handler.timeout or left))
        return self.reader.readline(limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


class Refused(Exception):
    """A request the jail will not answer: `status` (403/404) and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def locate(root: Path, url_path: str) -> Path:
    """The file below `root` that `url_path` names, or `Refused`. Folders give their index.html."""
    base = Path(os.path.realpath(root))
    parts = [p for p in urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0]).split("/")]
    names = [p for p in parts if p not in ("", ".")]
    for name in names:
        if name.startswith(".") or "\\" in name or "\0" in name:
            raise Refused(404, HIDDEN)
    path = base
    for name in names:
        path = path / name
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise Refused(404, "not found") from None
        if stat.S_ISLNK(mode):
            raise Refused(403, "symbolic link")
    if stat.S_ISDIR(os.lstat(path).st_mode):
        index = path / "index.html"
        try:
            mode = os.lstat(index).st_mode
        except OSError:
            raise Refused(404, "folder without index.html") from None
        if not stat.S_ISREG(mode):
            raise Refused(403, "index.html is not a plain file")
        path = index
    elif not stat.S_ISREG(os.lstat(path).st_mode):
        raise Refused(403, "not a plain file")
    if not Path(os.path.realpath(path)).is_relative_to(base):
        raise Refused(403, "outside the site")
    return path


class JailedHandler(http.server.BaseHTTPRequestHandler):
    """Serves `root` (see the module docstring). Subclass-configured by `jailed_handler`."""

    root: Path = Path(".")
    inject: Callable[[bytes], bytes] | None = None
    routes: dict[str, Callable[[JailedHandler], None]] = {}
    fallback: Callable[[str], tuple[int, bytes] | None] | None = None  # url path -> status, HTML
    server_version = "featvis"
    sys_version = ""
    timeout = IO_SECONDS  # socketserver sets it on the connection
    head_seconds = HEAD_SECONDS

    def handle_one_request(self) -> None:
        """One request, its head read within `head_seconds` (a slow client is dropped)."""
        reader = self.rfile
        self.rfile = _Deadline(self)  # type: ignore[assignment]
        try:
            super().handle_one_request()
        finally:
            self.rfile = reader

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.rfile = getattr(self.rfile, "reader", self.rfile)  # the head is in: no deadline
        self.connection.settimeout(self.timeout)
        return ok

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        if route is not None:
            route(self)
            return
        try:
            path = locate(self.root, self.path)
            if path.name == "index.html" and not self.path.split("?", 1)[0].endswith(
                ("/", "index.html")
            ):
                self._redirect(self.path.split("?", 1)[0] + "/")
                return
            data = _read_nofollow(path)
        except Refused as exc:
            missing = exc.status == 404 and str(exc) != HIDDEN
            instead = None if not missing or self.fallback is None else (
                type(self).fallback(self.path.split("?", 1)[0])  # type: ignore[misc]
            )
            if instead is None:
                self.send_error(exc.status, str(exc))
            else:
                self._send(instead[0], "text/html", instead[1], body=body)
            return
        self._send(200, mimetypes.guess_type(path.name)[0] or "application/octet-stream", data,
                   body=body)

    def _send(self, status: int, kind: str, data: bytes, *, body: bool) -> None:
        if kind == "text/html" and self.inject is not None:
            data = type(self).inject(data)  # type: ignore[misc]
        self.send_response(status)
        charset = "; charset=utf-8" if kind.startswith("text/") else ""
        self.send_header("Content-Type", kind + charset)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if getattr(self.server, "verbose", False):
            sys.stderr.write(f"featvis serve: {format % args}\n")


def _read_nofollow(path: Path) -> bytes:
    """The file's bytes, refusing a symlink swapped in after `locate` looked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise Refused(404, "not found") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def jailed_handler(
    root: Path,
    *,
    inject: Callable[[bytes], bytes] | None = None,
    routes: dict[str, Callable[[JailedHandler], None]] | None = None,
    fallback: Callable[[str], tuple[int, bytes] | None] | None = None,
) -> type[JailedHandler]:
    """A handler class bound to `root`, with an HTML filter, extra routes (exact paths) and a
    fallback for paths that are not there."""
    attrs: dict[str, Any] = {"root": Path(root), "routes": dict(routes or {})}
    if inject is not None:
        attrs["inject"] = staticmethod(inject)
    if fallback is not None:
        attrs["fallback"] = staticmethod(fallback)
    return type("Jailed", (JailedHandler,), attrs)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    verbose = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that goes away mid-answer (a reload while an image is sent) is no error;
        anything else is reported as the base class does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def check_port(port: int) -> int:
    if not PORT_RANGE[0] <= port <= PORT_RANGE[1]:
        raise FeatvisError(
            f"--port {port}: not a port number (valid: {PORT_RANGE[0]}..{PORT_RANGE[1]}, "
            "0 for any free port)"
        )
    return port


def open_server(host: str, port: int, handler: type[JailedHandler]) -> _Server:
    """A bound, listening server; a busy or invalid address is one FeatvisError line."""
    check_port(port)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as exc:
        raise FeatvisError(f"--host {host}: not an address this machine has ({exc})") from None
    server_class = type("Server", (_Server,), {"address_family": family})
    try:
        return server_class((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FeatvisError(
                f"--port {port}: {host}:{port} is already in use; stop what holds it or choose "
                "another with --port"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise FeatvisError(
                f"--port {port}: not allowed to listen on {host}:{port} (ports below 1024 need "
                "privileges); choose another with --port"
            ) from None
        raise FeatvisError(f"--host {host} --port {port}: cannot listen ({exc.strerror})") from None


def url_of(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else str(host)
    shown = f"[{name}]" if ":" in name else name
    return f"http://{shown}:{port}/"
