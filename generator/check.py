"""The offline checker: a built site must read from disk with no network, every link intact.

`check_site(root)` returns a list of problems (empty: the site passes):

- every href/src (and srcset, poster, data-frames) in HTML is a relative URL that resolves to a
  file inside the site; `#fragment`s exist as an id (or `<a name>`) in the target page;
- no `http://`, `https://` or protocol-relative (`//host`) URL anywhere in HTML, CSS or JS, and no
  other scheme (`data:`, `javascript:`, `file:`) in a link;
- `url(...)` and `@import` in CSS resolve inside the site;
- every image (png, jpg, gif, webp) decodes with Pillow.

`featvis check [PATH]` prints the report and exits 2 when there is a problem. Every build runs the
same check on its temporary folder before it publishes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from PIL import Image

from generator.core.errors import FeatvisError

URL_ATTRS = {"href", "src", "poster", "action", "formaction", "data-zoom-src", "xlink:href"}
LIST_ATTRS = {"srcset": ",", "data-frames": " "}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
TEXT_SUFFIXES = {".html", ".htm", ".css", ".js", ".json", ".svg", ".txt", ".xml"}
_EXTERNAL = re.compile(r"https?://|(?<![\w:/])//[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,}", re.IGNORECASE)
_CSS_URL = re.compile(
    r"""url\(\s*(['"]?)([^'")]*)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.IGNORECASE
)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass
class _Page:
    ids: set[str] = field(default_factory=set)
    links: list[tuple[int, str, str]] = field(default_factory=list)  # (line, attribute, url)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _Page()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.page.ids.add(value)
            if name in URL_ATTRS:
                self.page.links.append((line, name, value.strip()))
            elif name in LIST_ATTRS:
                for part in value.split(LIST_ATTRS[name]):
                    url = part.strip().split(" ")[0] if name == "srcset" else part.strip()
                    if url:
                        self.page.links.append((line, name, url))

    handle_startendtag = handle_starttag


def _parse_html(path: Path) -> _Page:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    collector.close()
    return collector.page


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class SiteChecker:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.problems: list[str] = []
        self._pages: dict[Path, _Page] = {}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def page(self, path: Path) -> _Page:
        if path not in self._pages:
            self._pages[path] = _parse_html(path)
        return self._pages[path]

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def run(self) -> list[str]:
        if not self.root.is_dir():
            raise FeatvisError(f"{self.root}: no site here (build it with `featvis build`)")
        files = sorted(p for p in self.root.rglob("*") if p.is_file() or p.is_symlink())
        if not (self.root / "index.html").is_file():
            self.problem(str(self.root), "no index.html")
        for path in files:
            if path.is_symlink():
                self.problem(self.rel(path), "is a symbolic link (the site must be plain files)")
                continue
            suffix = path.suffix.lower()
            if suffix in TEXT_SUFFIXES:
                self._external(path)
            if suffix in (".html", ".htm"):
                self._html(path)
            elif suffix == ".css":
                self._css(path)
            elif suffix in IMAGE_SUFFIXES:
                self._image(path)
        return self.problems

    def _external(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _EXTERNAL.finditer(text):
            snippet = text[m.start() : m.start() + 60].split()[0]
            self.problem(
                f"{self.rel(path)}:{_line_of(text, m.start())}",
                f"external URL '{snippet}' (the site must read offline)",
            )

    def _html(self, path: Path) -> None:
        for line, attr, url in self.page(path).links:
            self._link(path, f"{self.rel(path)}:{line}", attr, url)

    def _css(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _CSS_URL.finditer(text):
            url = (m.group(2) if m.group(2) is not None else m.group(4)).strip()
            if url:
                self._link(path, f"{self.rel(path)}:{_line_of(text, m.start())}", "url()", url)

    def _link(self, source: Path, where: str, attr: str, url: str) -> None:
        if url.startswith("//") or _SCHEME.match(url):
            self.problem(where, f"{attr}='{url}' is not a relative URL inside the site")
            return
        parts = urlsplit(url)
        if parts.path.startswith("/"):
            self.problem(where, f"{attr}='{url}' is an absolute path (use a relative one)")
            return
        target = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(self.root):
            self.problem(where, f"{attr}='{url}' points outside the site")
            return
        if not target.is_file():
            what = "a folder (file:// needs the file itself)" if target.is_dir() else "missing"
            self.problem(
                where,
                f"{attr}='{url}': {self.rel(target) if target != self.root else '.'} is {what}",
            )
            return
        if parts.fragment:
            if target.suffix.lower() not in (".html", ".htm"):
                self.problem(where, f"{attr}='{url}': a #fragment on a file that is not a page")
            elif unquote(parts.fragment) not in self.page(target).ids:
                self.problem(
                    where,
                    f"{attr}='{url}': no element with id '{unquote(parts.fragment)}' in "
                    f"{self.rel(target)}",
                )

    def _image(self, path: Path) -> None:
        try:
            with Image.open(path) as img:
                img.load()
                if img.width < 1 or img.height < 1:
                    raise OSError("empty image")
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the finding
            self.problem(
                self.rel(path), f"image does not decode ({type(exc).__name__}: {str(exc)[:80]})"
            )


def check_site(root: Path) -> list[str]:
    """Every problem found in the site at `root` (empty when it passes)."""
    return SiteChecker(root).run()


def report(problems: Iterable[str], *, limit: int = 50, out: TextIO | None = None) -> None:
    """Print the problems (the first `limit`), one per line, to `out` (stderr)."""
    out = out or sys.stderr
    problems = list(problems)
    for line in problems[:limit]:
        print(f"  {line}", file=out)
    if len(problems) > limit:
        print(f"  ... and {len(problems) - limit} more", file=out)
