"""Links in an article, rewritten for the site: `x.md` -> `x.html`, a file under content/ ->
`assets/...`; anything that leaves content/ or the site (`../`, absolute paths, symlinks out,
`http://`) is an error, because the site reads offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from generator.core.errors import FeatvisError, choices_hint
from generator.core.urls import article_link
from generator.pages.text import Lines, slugify, splice

LINK_TARGETS = (
    re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)"),  # [text](target) and ![alt](target)
    re.compile(r"^ {0,3}\[(?!\^)[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),  # [ref]: target
    re.compile(r"\b(?:src|href)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE),  # raw HTML
    re.compile(r"<((?:https?:)?//[^>\s]+)>"),  # <http://autolink>
)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# index.html, explorer/index.html, explorer/<layer>.html (mapped to the first model),
# explorer/<model>/index.html, explorer/<model>/<layer>.html, explorer/<model>/<layer>/<n>.html
_SITE_PATHS = re.compile(
    r"^(?:index\.html|explorer/(?:[\w.-]+\.html|[\w.-]+/[\w.-]+\.html|[\w.-]+/[\w.-]+/\d+\.html))$"
)
# a page of one model's explorer: its index, a layer's page or a channel's
_MODEL_PAGE = re.compile(
    r"^explorer/(?P<folder>[\w.-]+)/(?P<page>[\w.-]+\.html|[\w.-]+/\d+\.html)$"
)


def rewrite_links(
    body: str,
    masked: str,
    first: int,
    shown: Path,
    content_dir: Path,
    slugs: set[str],
    model: str = "",
) -> tuple[str, list[tuple[Path, str]], list[tuple[str, str]]]:
    """`body` with its links rewritten for the site, the content files they copy, and its links
    into a model's explorer folder with their `file:line`; `explorer/<layer>.html` goes to the
    layer's page of `model` (the site's first model)."""
    edits: list[tuple[int, int, str]] = []
    assets: dict[Path, str] = {}
    explorer: list[tuple[str, str]] = []
    line_at = Lines(masked, first)
    for pattern in LINK_TARGETS:
        for m in pattern.finditer(masked):
            target = m.group(1)
            where = f"{shown}:{line_at(m.start())}"
            new = _link_target(target, where, content_dir, slugs, assets)
            if model and new == target:
                new = article_link(target, model) or target
            if new != target:
                edits.append((m.start(1), m.end(1), new))
            if _MODEL_PAGE.match(new.partition("#")[0]):
                explorer.append((new.partition("#")[0], where))
    return splice(body, set(edits)), sorted(assets.items()), sorted(explorer, key=by_line)


def by_line(link: tuple[str, str]) -> tuple[int, str]:
    """An explorer link's sort key: the line of its `file:line`, then its target."""
    where = link[1]
    return int(where.rpartition(":")[2]), link[0]


def explorer_page(target: str) -> tuple[str, str, int | None] | None:
    """(model folder, layer file name without `.html`, channel) of a link to a layer's or a
    channel's page in a model's explorer folder (channel None: the layer's page); None for any
    other link, the folder's index included."""
    m = _MODEL_PAGE.match(target)
    if m is None or m.group("page") == "index.html":
        return None
    layer, _, channel = m.group("page").removesuffix(".html").partition("/")
    return m.group("folder"), layer, int(channel) if channel else None


def check_explorer_links(
    links: Sequence[tuple[str, str]], shown: Mapping[str, Mapping[str, int]]
) -> None:
    """Refuse a link to a page the explorer will not have: `shown` maps each model's explorer
    folder to the layers its explorer shows (their file names without `.html`) and each layer's
    channel count (`explorer/<folder>/<layer>.html` and its channel pages exist for those alone;
    a linked channel's page is planned with the article, `plan.explorer.linked_jobs`)."""
    for target, where in links:
        m = _MODEL_PAGE.match(target)
        if m is None:
            continue
        folder = m.group("folder")
        if folder not in shown:
            raise FeatvisError(
                f"{where}: link to '{target}': no model's explorer is in 'explorer/{folder}/' "
                f"({choices_hint(folder, sorted(shown))})"
            )
        page = explorer_page(target)
        if page is None:
            continue
        _, layer, channel = page
        if layer not in shown[folder]:
            raise FeatvisError(
                f"{where}: link to '{target}': the explorer shows no page of layer '{layer}' "
                f"(add it to explorer_layers in site.toml; {choices_hint(layer, shown[folder])})"
            )
        channels = shown[folder][layer]
        if channel is not None and not target.endswith(f"/{channel}.html"):
            raise FeatvisError(
                f"{where}: link to '{target}': a channel's page is named by its number without "
                f"leading zeros ('{layer}/{channel}.html')"
            )
        if channel is not None and channel >= channels:
            raise FeatvisError(
                f"{where}: link to '{target}': layer '{layer}' has {channels} channels, there is "
                f"no channel {channel} (valid: 0..{channels - 1})"
            )


def _link_target(
    target: str, where: str, content_dir: Path, slugs: set[str], assets: dict[Path, str]
) -> str:
    if target.startswith("#") or not target:
        return target
    if target.startswith("//") or _SCHEME.match(target):
        raise FeatvisError(
            f"{where}: link '{target}' leaves the site; the site must read offline, so write the "
            "reference as text (valid: relative paths inside content/ or the site)"
        )
    path, _, fragment = target.partition("#")
    suffix = f"#{fragment}" if fragment else ""
    if path.startswith("/") or Path(path).is_absolute():
        raise FeatvisError(
            f"{where}: absolute path '{target}' escapes content/ (valid: a relative path)"
        )
    if path.endswith(".md") and "/" not in path:
        slug = slugify(unquote(path[:-3]))  # `My%20notes.md`, as Markdown writes a space
        if slug not in slugs:
            raise FeatvisError(
                f"{where}: link to '{path}', which is not a page "
                f"({choices_hint(path, sorted(s + '.md' for s in slugs))})"
            )
        return f"{slug}.html{suffix}"
    if _SITE_PATHS.match(path):
        return target
    root = content_dir.resolve()
    real = (content_dir / unquote(path)).resolve()  # `my%20photo.png`, as Markdown writes a space
    if not real.is_relative_to(root):
        raise FeatvisError(
            f"{where}: path '{target}' escapes {content_dir.name}/ (valid: files inside it)"
        )
    hidden = [part for part in real.relative_to(root).parts if part.startswith(".")]
    if hidden:
        raise FeatvisError(
            f"{where}: '{path}' is hidden ('{hidden[0]}' starts with '.'); the site publishes no "
            "hidden files, as the preview serves none (valid: rename it without the dot)"
        )
    if not real.is_file():
        raise FeatvisError(
            f"{where}: '{path}' not found in {content_dir.name}/ (valid: files inside it, "
            "explorer/LAYER.html, explorer/MODEL/LAYER/CHANNEL.html, other pages as NAME.md)"
        )
    rel = real.relative_to(root).as_posix()
    assets[real] = f"assets/{rel}"
    return f"assets/{quote(rel)}{suffix}"
