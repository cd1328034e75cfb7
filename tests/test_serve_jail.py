"""The jailed server: files below the root only, no symlink followed (not even one that stays
inside), no folder listing, no dotfile; a busy or invalid port is one line, exit code 2. The
preview's reload script is only ever added to responses."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.core.errors import FeatvisError
from generator.serve.jail import check_port, jailed_handler, open_server, url_of
from generator.serve.live import EVENTS, LiveHub


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "explorer").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "index.html").write_text("<html><body><p>home</p></body></html>", encoding="utf-8")
    (root / "explorer" / "index.html").write_text("<p>explorer</p>", encoding="utf-8")
    (root / "images" / "a.png").write_bytes(b"\x89PNG fake")
    (root / ".featvis-site").write_text("marker", encoding="utf-8")
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "inside").symlink_to(root / "explorer")
    (root / "inside.html").symlink_to(root / "index.html")
    return root


def _serve(root: Path, hub: LiveHub | None = None) -> Iterator[str]:
    handler = jailed_handler(
        root,
        inject=hub.inject if hub else None,
        routes={EVENTS: hub.stream} if hub else None,
    )
    server = open_server("127.0.0.1", 0, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server)
    finally:
        if hub:
            hub.close()
        server.shutdown()
        server.server_close()


@pytest.fixture()
def url(site: Path) -> Iterator[str]:
    yield from _serve(site)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serves_files_and_folder_index(url: str) -> None:
    assert get(url) == (200, b"<html><body><p>home</p></body></html>")
    assert get(url + "explorer/") == (200, b"<p>explorer</p>")
    assert get(url + "explorer") == (200, b"<p>explorer</p>"), "a redirect to the folder"
    assert get(url + "images/a.png") == (200, b"\x89PNG fake")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("passwd", 403),  # a link out of the site
        ("inside/", 403),  # a link to a folder inside the site
        ("inside/index.html", 403),
        ("inside.html", 403),  # a link to a file inside the site
        ("images/", 404),  # a folder without index.html: no listing
        (".featvis-site", 404),  # dotfiles
        ("images/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404),
        ("..%2f..%2f..%2fetc%2fpasswd", 404),
        ("nope.html", 404),
    ],
)
def test_refuses_links_listings_dotfiles_and_escapes(url: str, path: str, status: int) -> None:
    code, body = get(url + path)
    assert code == status
    assert b"root:" not in body and b"a.png" not in body


def test_reload_script_only_in_served_html(site: Path) -> None:
    hub = LiveHub()
    for url in _serve(site, hub):
        code, body = get(url)
        assert code == 200 and b'id="featvis-live"' in body and b"EventSource" in body
        assert body.index(b'id="featvis-live"') < body.index(b"</body>")
        assert get(url + "images/a.png") == (200, b"\x89PNG fake"), "images pass unchanged"
        with urllib.request.urlopen(url.rstrip("/") + EVENTS, timeout=10) as events:
            assert events.headers["Content-Type"] == "text/event-stream"
            assert events.readline().startswith(b'data: {"version": 0')
            hub.publish(error="content/a.md:3: broken")
            events.readline()
            assert b'"error": "content/a.md:3: broken"' in events.readline()
    assert b"featvis-live" not in (site / "index.html").read_bytes(), "nothing written to disk"


def test_a_tab_reloads_only_when_a_rendering_wrote_its_page(site: Path) -> None:
    """Each tab's event stream knows its page and the version it shows: a rendering that wrote
    other pages moves it on without a reload, one that wrote its page (or every page) reloads
    it, and so does a rendering it missed before it connected."""
    hub = LiveHub()
    for url in _serve(site, hub):
        streams = {
            page: urllib.request.urlopen(f"{url.rstrip('/')}{EVENTS}?v=0&page={page}", timeout=10)
            for page in ("/", "/explorer/", "/explorer/index.html")
        }
        try:
            for events in streams.values():  # the state now: version 0, nothing to reload
                line = events.readline()
                assert b'"reload": false' in line, line
                events.readline()
            hub.publish(pages={"index.html", "images/x.png"})
            got = {page: events.readline() for page, events in streams.items()}
            for events in streams.values():
                events.readline()
            assert [b'"reload": true' in line for line in got.values()] == [True, False, False]
            hub.publish(pages={"explorer/index.html"})
            got = {page: events.readline() for page, events in streams.items()}
            for events in streams.values():
                events.readline()
            assert [b'"reload": true' in line for line in got.values()] == [True, True, True]
            hub.publish(pages=None)  # a whole rendering
            got = {page: events.readline() for page, events in streams.items()}
            assert all(b'"reload": true' in line for line in got.values())
        finally:
            for events in streams.values():
                events.close()
        # a tab that missed a rendering of its page before connecting reloads at once
        late = urllib.request.urlopen(f"{url.rstrip('/')}{EVENTS}?v=1&page=/explorer/", timeout=10)
        assert b'"reload": true' in late.readline()
        late.close()
        early = urllib.request.urlopen(f"{url.rstrip('/')}{EVENTS}?v=3&page=/", timeout=10)
        assert b'"reload": false' in early.readline()
        early.close()


def test_busy_and_invalid_port_are_one_line_errors(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FeatvisError, match=f"{port} is already in use"):
            open_server("127.0.0.1", port, jailed_handler(tmp_path))
        done = subprocess.run(
            [sys.executable, "-m", "generator", "serve", "--no-watch", "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "already in use" in done.stderr
    with pytest.raises(FeatvisError, match="not a port number"):
        check_port(70000)
    done = subprocess.run(
        [sys.executable, "-m", "generator", "serve", "--port", "70000"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "--port" in done.stderr and "70000" in done.stderr


def test_binds_loopback_by_default() -> None:
    from generator.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and not args.no_watch


def test_a_browser_leaving_mid_answer_prints_nothing(
    site: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A reload while a large image is being sent closes the connection under the server: no
    traceback in the terminal (the next request is answered as usual)."""
    (site / "images" / "big.png").write_bytes(b"\x89PNG" + bytes(32 * 2**20))
    for url in _serve(site):
        host, port = url.split("//")[1].rstrip("/").split(":")
        for _ in range(3):
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(b"GET /images/big.png HTTP/1.1\r\nHost: x\r\n\r\n")
                conn.recv(1024)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(1.0)  # the server's write fails after the reset
        assert get(url + "images/a.png")[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
