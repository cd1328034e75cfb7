"""Citations: Pandoc's `[@key]` and `[@a; @b]` against a BibTeX file, numbered in order of first
citation, each number a link to the page's References with the formatted entry on hover.

An article cites keys of `content/references.bib`, or of the file its front matter names
(`bibliography: other.bib`, a path under content/); `nocite: [key, ...]` (or `"@*"`, every entry)
lists entries it does not cite. `[@model]` (and `nocite: "@model"`) cites the paper of the page's
model, or a figure's in its caption (`generator.pages.papers`; nothing for a network featvis has
no paper for), and any key of featvis's `papers.bib` resolves where the article's .bib lacks
it. BibTeX is read by pybtex and formatted by its `unsrt` style
through its HTML backend (text escaped). The site reads offline, so entries carry no links and
show URLs without their scheme.

Everything is checked while the article is read (`cite_references`): an unknown key, a malformed
or missing .bib, a `bibliography:` that leaves content/; the error names the file and line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markupsafe import Markup
from pybtex.backends.html import Backend as HtmlBackend
from pybtex.backends.plaintext import Backend as TextBackend
from pybtex.database import BibliographyData, BibliographyDataError, parse_string
from pybtex.exceptions import PybtexError
from pybtex.scanner import PrematureEOF, PybtexSyntaxError
from pybtex.style.formatting.unsrt import Style

from generator.core.errors import FeatvisError, choices_hint
from generator.core.urls import EXTERNAL_URL
from generator.pages.papers import PAPERS_BIB
from generator.pages.text import Lines, mask_code, splice

DEFAULT_BIBLIOGRAPHY = "references.bib"
MODEL_KEY = "model"  # `[@model]`: the paper of the page's (or the figure's) model
PAPERS_SHOWN = "featvis's papers.bib"
MAX_BIBLIOGRAPHY_BYTES = 10 * 2**20
# Pandoc's citation keys: a letter, digit or _, then word characters and internal punctuation.
_KEY = r"[\w](?:[\w:.#$%&+?<>~/-]*\w)?"
# `[@a]`, `[@a; @b]`; not a link's text (`[@a](url)`, `[@a][ref]`).
CITATION = re.compile(rf"(?<!\\)\[\s*@{_KEY}(?:\s*;\s*@{_KEY})*\s*\](?![(\[])")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]*\]:", re.MULTILINE)  # `[@a]: url` defines a link
_CITED_KEY = re.compile(rf"@({_KEY})")
_STYLE = Style()
# the entry types the style formats (`get_article_template`, ...)
ENTRY_TYPES = sorted(
    n[4:-9] for n in dir(Style) if n.startswith("get_") and n.endswith("_template")
)


@dataclass(frozen=True)
class Reference:
    """One numbered entry of a page's References."""

    key: str
    number: int
    text: str  # plain, for the hover title
    html: Markup  # formatted by pybtex, escaped, no links
    cited: bool = True  # False: listed by `nocite` only
    first_figure: int | None = None  # the figure whose caption cites it first (None: the text)

    @property
    def anchor(self) -> str:
        return f"ref-{self.number}"

    @property
    def back(self) -> str:
        """The id of its first citation."""
        return f"cite-{self.number}"


def _citations(text: str) -> list[re.Match[str]]:
    """Every citation bracket in `text` (not a link definition's `[@a]: url`), in order."""
    definitions = {m.start() + m.group(0).index("[") for m in _DEFINITION.finditer(text)}
    return [m for m in CITATION.finditer(text) if m.start() not in definitions]


def cited_keys(text: str) -> list[tuple[int, str]]:
    """(offset, key) of every citation in `text`, in order."""
    return [(m.start(), key.group(1)) for m in _citations(text)
            for key in _CITED_KEY.finditer(m.group(0))]


def cite_model(text: str, masked: str, paper: str | None) -> str:
    """`text` with `@model` in its citations (found in `masked`, its code-masked copy) as `@paper`,
    or without it when there is no paper: a citation left empty goes, with the spaces before it.
    Lines stay where they are."""
    edits = []
    for m in _citations(masked):
        keys = [k.group(1) for k in _CITED_KEY.finditer(m.group(0))]
        if MODEL_KEY not in keys:
            continue
        kept = [k for k in keys if k != MODEL_KEY] if paper is None else [
            paper if k == MODEL_KEY else k for k in keys]
        start = m.start() if kept else len(masked[: m.start()].rstrip(" \t"))
        cited = f"[{'; '.join('@' + k for k in kept)}]" if kept else ""
        edits.append((start, m.end(), cited + "\n" * m.group(0).count("\n")))
    return splice(text, edits) if edits else text


# Reading ------------------------------------------------------------------------------------


class _OfflineHtml(HtmlBackend):  # type: ignore[misc]
    @staticmethod
    def format_href(url: str, text: str, external: bool = False) -> str:
        return text  # the site reads offline: the link's text, never the link


class _OfflineText(TextBackend):  # type: ignore[misc]
    @staticmethod
    def format_href(url: str, text: str, external: bool = False) -> str:
        return text


def _entry_line(text: str, key: str) -> int:
    """The line where entry `key` starts in a .bib's text (its last definition), else 1."""
    found = list(re.finditer(rf"@\s*\w+\s*[{{(]\s*{re.escape(key)}\s*,", text, re.IGNORECASE))
    return text.count("\n", 0, found[-1].start()) + 1 if found else 1


def _unclosed_line(text: str) -> int | None:
    """The line of the first entry whose braces never close."""
    for m in re.finditer(r"@\s*\w+\s*\{", text):
        depth = 0
        for ch in text[m.end() - 1:]:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                break
        else:
            return text.count("\n", 0, m.start()) + 1
    return None


@lru_cache(maxsize=16)
def _parse(path: Path, shown: str, stamp: tuple[int, int]) -> tuple[BibliographyData, str]:
    if stamp[1] > MAX_BIBLIOGRAPHY_BYTES:
        raise FeatvisError(
            f"{shown}: {stamp[1]:,} bytes, over the limit of a bibliography "
            f"({MAX_BIBLIOGRAPHY_BYTES:,} bytes)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FeatvisError(f"{shown}:1: not UTF-8 text ({exc.reason})") from None
    try:
        return parse_string(text, "bibtex"), text
    except PrematureEOF:
        line = _unclosed_line(text) or text.count("\n") + 1
        raise FeatvisError(
            f"{shown}:{line}: malformed BibTeX: this entry is not closed (a '{{' without its '}}')"
        ) from None
    except PybtexSyntaxError as exc:
        problem = re.sub(r"^syntax error in line \d+: ", "", str(exc))
        raise FeatvisError(f"{shown}:{exc.lineno or 1}: malformed BibTeX: {problem}") from None
    except BibliographyDataError as exc:
        repeated = re.search(r"repeated bibliography entry: (.+)$", str(exc))
        if repeated:
            key = repeated.group(1).strip()
            raise FeatvisError(
                f"{shown}:{_entry_line(text, key)}: malformed BibTeX: entry '{key}' is defined "
                "twice (keys are compared without case)"
            ) from None
        raise FeatvisError(f"{shown}:1: malformed BibTeX: {exc}") from None
    except PybtexError as exc:
        raise FeatvisError(f"{shown}:1: malformed BibTeX: {exc}") from None


def read_bibliography(path: Path, shown: str) -> tuple[BibliographyData, str]:
    """The parsed .bib at `path` and its text; `FeatvisError` at the .bib's line if malformed."""
    stat = path.stat()
    return _parse(path.resolve(), shown, (stat.st_mtime_ns, stat.st_size))


def format_entry(bib: BibliographyData, text: str, key: str, shown: str) -> tuple[str, Markup]:
    """Entry `key` as plain text and as HTML, by pybtex's `unsrt` style; URLs lose their scheme."""
    entry = bib.entries[key]
    where = f"{shown}:{_entry_line(text, key)}"
    if entry.type.lower() not in ENTRY_TYPES:
        raise FeatvisError(
            f"{where}: entry '{key}': unknown entry type '@{entry.type}' "
            f"({choices_hint(entry.type.lower(), ENTRY_TYPES)})"
        )
    try:
        formatted = _STYLE.format_entry(key, entry, bib).text
        plain, rich = formatted.render(_OfflineText()), formatted.render(_OfflineHtml())
    except PybtexError as exc:
        raise FeatvisError(f"{where}: entry '{key}': cannot be formatted ({exc})") from None
    plain = EXTERNAL_URL.sub("", " ".join(plain.split()))
    return plain, Markup(EXTERNAL_URL.sub("", " ".join(rich.split())))


# An article's citations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Citing:
    """What an article's citations are checked against: its file (as shown), the content folder,
    the site root (to name files) and its front matter with each key's line."""

    shown: Path
    content_dir: Path
    root: Path
    meta: Mapping[str, Any]
    key_lines: Mapping[str, int]
    paper: str | None = None  # the key `@model` stands for in `nocite` (None: no paper)


def bibliography_path(citing: Citing) -> tuple[Path | None, str]:
    """The article's .bib (None when the default is absent) and how messages name it."""
    named = citing.meta.get("bibliography")
    root = citing.content_dir
    if named is None:
        path = root / DEFAULT_BIBLIOGRAPHY
        return (path if path.is_file() else None), _shown(path, citing.root)
    where = f"{citing.shown}:{citing.key_lines.get('bibliography', 1)}"
    path = root / named
    real = path.resolve()
    if Path(named).is_absolute() or not real.is_relative_to(root.resolve()):
        raise FeatvisError(
            f"{where}: bibliography '{named}' leaves {root.name}/ (name a .bib file under it)"
        )
    if not real.is_file():
        there = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.bib"))
        raise FeatvisError(
            f"{where}: bibliography '{named}' not found in {root.name}/ "
            f"(.bib files there: {', '.join(there) or 'none'})"
        )
    return path, _shown(path, citing.root)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _nocite(citing: Citing, keys: Sequence[str]) -> list[str]:
    value = citing.meta.get("nocite")
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    words = [w.removeprefix("@") for item in items for w in re.split(r"[\s,;]+", str(item)) if w]
    paper = [citing.paper] if citing.paper and MODEL_KEY in words else []
    if "*" in words:
        return [*keys, *paper]
    return [w for w in words if w != MODEL_KEY] + paper


def cite_references(
    citing: Citing, occurrences: Sequence[tuple[int, str, int | None]]
) -> tuple[Reference, ...]:
    """The page's numbered references from its citations, (line, key, figure index or None) in
    reading order, and its front matter's `nocite`; `FeatvisError` at file:line when a key is
    unknown or there is no bibliography."""
    if not occurrences and citing.meta.get("nocite") is None:
        if citing.meta.get("bibliography") is not None:
            bibliography_path(citing)  # a named file must exist even when nothing is cited
        return ()
    path, bib_shown = bibliography_path(citing)
    own = None if path is None else read_bibliography(path, bib_shown)
    papers = read_bibliography(PAPERS_BIB, PAPERS_SHOWN)
    keys = [] if own is None else list(own[0].entries.keys())
    known = {*keys, *papers[0].entries.keys()}

    def check(key: str, line: int, where: str) -> None:
        if key in known:
            return
        if key.startswith("fig:"):  # pandoc-crossref's figure reference
            raise FeatvisError(
                f"{citing.shown}:{line}: '[@{key}]' is not a citation: a figure is referred to "
                f"as '[](#{key[4:]})', which reads 'Figure N'"
            )
        if own is None:
            raise FeatvisError(
                f"{citing.shown}:{line}: cites a source but there is no bibliography (add "
                f"{bib_shown} or name a .bib under {citing.content_dir.name}/ with "
                "'bibliography:' in the front matter)"
            )
        raise FeatvisError(
            f"{citing.shown}:{line}: unknown citation key '{key}' in {where} "
            f"({choices_hint(key, keys)})"
        )

    order: dict[str, int | None] = {}
    for line, key, figure in occurrences:
        check(key, line, bib_shown)
        order.setdefault(key, figure)
    extra = [k for k in _nocite(citing, keys) if k not in order]
    for key in extra:
        check(key, citing.key_lines.get("nocite", 1), "nocite")
    refs = []
    for number, key in enumerate([*order, *dict.fromkeys(extra)], 1):
        bib, text, shown = (*own, bib_shown) if own and key in keys else (*papers, PAPERS_SHOWN)
        plain, rich = format_entry(bib, text, key, shown)
        refs.append(Reference(key, number, plain, rich, key in order, order.get(key)))
    return tuple(refs)


def occurrences_in(masked: str, first: int) -> list[tuple[int, str, int | None]]:
    """(line, key, None) of each citation in an article's code-masked body."""
    line_at = Lines(masked, first)
    return [(line_at(offset), key, None) for offset, key in cited_keys(masked)]


def caption_occurrences(caption: object, line: int, figure: int) -> list[tuple[int, str, int]]:
    """(line, key, figure) of each citation in a figure's caption (code spans are literal)."""
    if not isinstance(caption, str):
        return []
    masked = mask_code(caption.splitlines())
    return [(line, key, figure) for _, key in cited_keys(masked)]


# Rendering ----------------------------------------------------------------------------------


class _CitationPattern(InlineProcessor):
    def __init__(self, pattern: str, md: markdown.Markdown, ext: CitationExtension) -> None:
        super().__init__(pattern, md)
        self.ext = ext

    def handleMatch(  # noqa: N802
        self, m: re.Match[str], data: str
    ) -> tuple[str | None, int | None, int | None]:
        refs = [self.ext.by_key.get(k.group(1)) for k in _CITED_KEY.finditer(m.group(0))]
        if any(ref is None for ref in refs):
            return None, None, None  # not this page's: left as written
        links = [self.ext.link(ref) for ref in refs if ref is not None]
        out = f'<span class="citation">[{", ".join(links)}]</span>'
        return self.md.htmlStash.store(out), m.start(0), m.end(0)


class CitationExtension(Extension):
    """`[@key]` and `[@a; @b]` -> `[1]`, `[1, 2]`: each number links to its entry in the
    References (`#ref-N`) with the entry as its title; the first citation of each entry carries
    the id the References link back to. `figure`: the index of the figure whose caption this
    converter renders (None: the page's text)."""

    def __init__(self, references: Sequence[Reference], figure: int | None = None) -> None:
        super().__init__()
        self.by_key = {ref.key: ref for ref in references}
        self.figure = figure
        self.seen: set[str] = set()

    def reset(self) -> None:
        self.seen = set()

    def link(self, ref: Reference) -> str:
        first = ref.key not in self.seen and ref.first_figure == self.figure
        self.seen.add(ref.key)
        anchor = f' id="{ref.back}"' if first else ""
        return (
            f'<a href="#{ref.anchor}"{anchor} title="{html.escape(ref.text, quote=True)}">'
            f"{ref.number}</a>"
        )

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.registerExtension(self)
        # after code spans (190), escapes (180) and footnote references (175), before links
        md.inlinePatterns.register(_CitationPattern(CITATION.pattern, md, self), "citation", 172)
