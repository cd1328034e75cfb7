"""The offline checker: a built site must read from disk with no network, every link intact.

`check_site(root)` returns a list of problems (empty: the site passes):

- every URL a page can load (every URL-bearing attribute of HTML and SVG, srcset and other lists,
  CSS `url()`/`@import` in style attributes and `<style>`, `<meta http-equiv=refresh>`, `<object>`,
  `<embed>`, `<iframe>`, `<script src>`) is a relative URL that resolves to a file inside the site;
  `#fragment`s exist as an id (or `<a name>`) in the target page;
- nothing the checker cannot see through: no inline `<script>`, event handler, `srcdoc` or `<base>`
  (featvis pages carry none);
- no `http://`, `https://` or protocol-relative (`//host`) URL anywhere in HTML, CSS or JS, and no
  other scheme (`data:`, `javascript:`, `file:`) in a link;
- `url(...)` and `@import` in CSS resolve inside the site;
- every image (png, jpg, gif, webp) decodes with Pillow.

`featvis check [PATH]` prints the report and exits 2 when there is a problem. Every build runs the
same check on its temporary folder before it publishes, naming for a page drawn from an article the
article's file and the line where the offending URL stands.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from PIL import Image

from generator.core.errors import FeatvisError
from generator.core.urls import EXTERNAL_URL

# Every attribute through which a page can load or link a URL (HTML, SVG, legacy HTML).
URL_ATTRS = {
    "href", "src", "poster", "action", "formaction", "data", "codebase", "classid", "cite",
    "background", "longdesc", "usemap", "manifest", "icon", "profile", "lowsrc", "dynsrc",
    "code", "data-zoom-src", "xlink:href",
}
LIST_ATTRS = {
    "srcset": ",", "imagesrcset": ",", "data-frames": " ", "ping": " ", "archive": " ",
}
_UNCHECKABLE_TAGS = {"base": "a <base> changes where every link points"}
MAX_IMAGE_PIXELS = 64_000_000  # an image past this is a problem, not decoded
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
TEXT_SUFFIXES = {".html", ".htm", ".css", ".js", ".json", ".svg", ".txt", ".xml"}
_EXTERNAL = EXTERNAL_URL
_URL_TEXT = re.compile(r"[^\s'\"<>()]+")  # a URL up to the quote or bracket that ends it
_CSS_URL = re.compile(
    r"""url\(\s*(['"]?)([^'")]*)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.IGNORECASE
)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


_REFRESH = re.compile(r"""^\s*\d*\s*[;,]?\s*(?:url\s*=\s*)?(['"]?)(.*?)\1\s*$""", re.I | re.S)


@dataclass
class _Page:
    ids: set[str] = field(default_factory=set)
    links: list[tuple[int, str, str]] = field(default_factory=list)  # (line, attribute, url)
    opaque: list[tuple[int, str]] = field(default_factory=list)  # (line, what cannot be checked)


class _Collector(HTMLParser):
    """Every URL a page can load: URL attributes and lists, CSS url()/@import in style
    attributes and <style>, <meta http-equiv=refresh>; what cannot be checked (inline scripts,
    event handlers, srcdoc, <base>) is listed as opaque."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _Page()
        self._in: str | None = None  # "style" or "script" while inside one
        self._start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        if tag in _UNCHECKABLE_TAGS:
            self.page.opaque.append((line, _UNCHECKABLE_TAGS[tag]))
        values = {name: value for name, value in attrs if value is not None}
        for name, value in values.items():
            self._attribute(tag, name, value, line)
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            m = _REFRESH.match(values.get("content", ""))
            if m and m.group(2).strip():
                self.page.links.append((line, "meta refresh", m.group(2).strip()))
        if tag in ("style", "script"):
            self._in, self._start = tag, line
            if tag == "script" and "src" in values:
                self._in = "script-src"

    def _attribute(self, tag: str, name: str, value: str, line: int) -> None:
        if name == "id" or (name == "name" and tag == "a"):
            self.page.ids.add(value)
        if name in URL_ATTRS:
            self.page.links.append((line, name, value.strip()))
        elif name in LIST_ATTRS:
            for part in value.split(LIST_ATTRS[name]):
                url = part.strip().split(" ")[0] if name.endswith("srcset") else part.strip()
                if url:
                    self.page.links.append((line, name, url))
        elif name == "style":
            self._css(value, line, "style")
        elif name.startswith("on"):
            self.page.opaque.append((line, f"an event handler ({name}) runs script"))
        elif name == "srcdoc":
            self.page.opaque.append((line, "an <iframe srcdoc> holds a page of its own"))

    def _css(self, text: str, line: int, what: str) -> None:
        for m in _CSS_URL.finditer(text):
            url = (m.group(2) if m.group(2) is not None else m.group(4)).strip()
            if url:
                self.page.links.append((line + text.count("\n", 0, m.start()), what, url))

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self._css(data, self.getpos()[0], "<style>")
        elif self._in == "script" and data.strip():
            self.page.opaque.append(
                (self.getpos()[0], "an inline <script> (the checker cannot see what it loads)")
            )

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._in = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in = None


def _parse_html(path: Path) -> _Page:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    collector.close()
    return collector.page


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class SiteChecker:
    """`sources` maps a page's path in the site to (name shown, file) of the article it came
    from; a problem found on such a page names the article's line where the URL stands.
    `templates` maps the site's own templates (name shown -> file): a URL that stands in one of
    them, not in the article, is the template's, named once for every page it reaches."""

    def __init__(
        self,
        root: Path,
        sources: Mapping[str, tuple[str, Path]] | None = None,
        templates: Mapping[str, Path] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.problems: list[str] = []
        self._pages: dict[Path, _Page] = {}
        self.sources = dict(sources or {})
        self.templates = dict(templates or {})
        self._source_lines: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}

    def _lines(self, shown: str, file: Path) -> list[str]:
        if shown not in self._source_lines:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._source_lines[shown] = text.splitlines()
        return self._source_lines[shown]

    def _find(self, shown: str, file: Path, needle: str) -> int | None:
        lines = self._lines(shown, file)
        return next((n for n, line in enumerate(lines, start=1) if needle in line), None)

    def where(self, path: Path, line: int, needle: str) -> str:
        rel = self.rel(path)
        source = self.sources.get(rel)
        if needle and source is not None and (number := self._find(*source, needle)):
            return f"{source[0]}:{number} (page {rel}:{line})"
        for shown, file in self.templates.items() if needle else ():
            if number := self._find(shown, file, needle):
                return f"{shown}:{number}"  # the same for every page: reported once
        return f"{rel}:{line}" + (f" (from {source[0]})" if source is not None else "")

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def page(self, path: Path) -> _Page:
        if path not in self._pages:
            self._pages[path] = _parse_html(path)
        return self._pages[path]

    def problem(self, where: str | Callable[[], str], message: str) -> None:
        """`where` may be a function: finding an article's line is only worth it for a problem.
        The same problem at the same place (a template's, on many pages) is listed once."""
        line = f"{where if isinstance(where, str) else where()}: {message}"
        self._counts[line] = self._counts.get(line, 0) + 1
        if self._counts[line] == 1:
            self.problems.append(line)

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
        return [
            line if self._counts[line] == 1 else f"{line} (on {self._counts[line]} pages)"
            for line in self.problems
        ]

    def _external(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _EXTERNAL.finditer(text):
            snippet = _URL_TEXT.match(text, m.start()).group(0)[:60]  # type: ignore[union-attr]
            self.problem(
                self.where(path, _line_of(text, m.start()), snippet),
                f"external URL '{snippet}' (the site must read offline)",
            )

    def _html(self, path: Path) -> None:
        page = self.page(path)
        for line, attr, url in page.links:
            self._link(path, partial(self.where, path, line, url), attr, url)
        for line, what in page.opaque:
            self.problem(self.where(path, line, ""), f"{what}; featvis pages carry none")

    def _css(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _CSS_URL.finditer(text):
            url = (m.group(2) if m.group(2) is not None else m.group(4)).strip()
            if url:
                self._link(path, f"{self.rel(path)}:{_line_of(text, m.start())}", "url()", url)

    def _link(self, source: Path, where: str | Callable[[], str], attr: str, url: str) -> None:
        url = url if len(url) <= 120 else url[:117] + "..."
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
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise OSError(f"{img.width}x{img.height} pixels, more than a page should load")
                img.load()
                if img.width < 1 or img.height < 1:
                    raise OSError("empty image")
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the finding
            self.problem(
                self.rel(path), f"image does not decode ({type(exc).__name__}: {str(exc)[:80]})"
            )


def check_site(
    root: Path,
    sources: Mapping[str, tuple[str, Path]] | None = None,
    templates: Mapping[str, Path] | None = None,
) -> list[str]:
    """Every problem found in the site at `root` (empty when it passes); see `SiteChecker`."""
    return SiteChecker(root, sources, templates).run()


def report(problems: Iterable[str], *, limit: int = 50, out: TextIO | None = None) -> None:
    """Print the problems (the first `limit`), one per line, to `out` (stderr)."""
    out = out or sys.stderr
    problems = list(problems)
    for line in problems[:limit]:
        print(f"  {line}", file=out)
    if len(problems) > limit:
        print(f"  ... and {len(problems) - limit} more", file=out)
