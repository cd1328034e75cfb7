"""Markdown and math: Python-Markdown with our extensions, `$...$` and `$$...$$` to MathML, and
the formats of the numbers an article quotes (`| pct`, `| fixed:2`, `| int`, `| times`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import latex2mathml.converter
import markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.postprocessors import Postprocessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from generator.core.errors import FeatvisError
from generator.pages.citations import CitationExtension, Reference
from generator.pages.text import line_at

MARKDOWN_EXTENSIONS = ("toc", "tables", "fenced_code", "footnotes", "attr_list", "md_in_html")
FIGURE_TOKEN = "FEATVISFIGURE{:04d}X"
FORMATS = ("pct", "fixed", "int", "times")
MAX_DIGITS = 12  # the most digits `| fixed:N` (pct, times) may ask for
_DISPLAY_MATH = r"(?<!\\)\$\$(.+?)\$\$"
_INLINE_MATH = r"(?<![\\$])\$(?![\s$])([^\n$]+?)(?<![\s\\])\$(?!\d)"
MATH = re.compile(f"{_DISPLAY_MATH}|{_INLINE_MATH}", re.DOTALL)


# LaTeX's operator names that latex2mathml does not know, written as \operatorname{...}.
_MISSING_OPERATORS = re.compile(r"\\(arg)(?![A-Za-z])")


def latex_to_mathml(latex: str, display: bool) -> str:
    """MathML for `latex`; ValueError when the LaTeX is not understood."""
    latex = latex.strip()
    depth = 0
    for ch in re.sub(r"\\[{}]", "", latex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        raise ValueError("unbalanced braces")
    latex = _MISSING_OPERATORS.sub(r"\\operatorname{\1}", latex)
    try:
        out = latex2mathml.converter.convert(latex, display="block" if display else "inline")
    except Exception as exc:  # noqa: BLE001 - the library raises many kinds
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    unknown = re.search(r">(\\[A-Za-z]+)<", out)
    if unknown:
        raise ValueError(
            f"unknown command {unknown.group(1)}; for an operator name write "
            f"\\operatorname{{{unknown.group(1)[1:]}}}"
        )
    # HTML5 knows MathML; the namespace URL would be the only http:// string on the page.
    return out.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "")


def check_math(masked: str, first: int, shown: Path) -> None:
    for m in MATH.finditer(masked):
        latex, display = (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        try:
            latex_to_mathml(latex, display)
        except ValueError as exc:
            raise FeatvisError(
                f"{shown}:{line_at(masked, m.start(), first)}: cannot render math "
                f"${latex.strip()}$ ({exc})"
            ) from None


def format_value(value: Any, fmt: str | None, arg: int | None, fallback: str | None = None) -> str:
    if value is None:
        return "n/a" if fallback is None else fallback
    if isinstance(value, str):
        return value
    if fmt == "pct":
        return f"{float(value) * 100:.{1 if arg is None else arg}f}%"
    if fmt == "fixed":
        return f"{float(value):.{2 if arg is None else arg}f}"
    if fmt == "int":
        return f"{round(float(value)):d}"
    if fmt == "times":
        return f"{float(value):.{1 if arg is None else arg}f}×"
    if isinstance(value, float):  # three significant digits; whole numbers from 100 up
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def format_probability(p: float) -> str:
    """A class probability as a percentage with the digits it needs: `37%`, `0.4%`, `<0.1%`
    (a uniform reading over 1000 classes is `0.1%`, never `0%`)."""
    percent = float(p) * 100
    if percent >= 0.95 or percent == 0:
        return f"{percent:.0f}%"
    if percent >= 0.095:
        return f"{percent:.1f}%"
    return "<0.1%"


class _MathPattern(InlineProcessor):
    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:  # noqa: N802
        latex, display = (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        placeholder = self.md.htmlStash.store(latex_to_mathml(latex, display))
        return placeholder, m.start(0), m.end(0)


class MathExtension(Extension):
    """`$inline$` and `$$display$$` -> MathML; `\\$` is a literal dollar sign."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.ESCAPED_CHARS.append("$")
        md.inlinePatterns.register(_MathPattern(MATH.pattern, md), "math", 185)


# Attributes an author may set with `{: ...}` when raw HTML is off: no event handlers, no style.
SAFE_ATTRIBUTES = frozenset(
    {"id", "class", "href", "src", "alt", "title", "colspan", "rowspan", "align", "lang", "dir",
     "width", "height", "start", "name", "role"}
)


class _StripAttributes(Treeprocessor):
    def run(self, root: Any) -> None:
        for element in root.iter():
            for name in [n for n in element.attrib if n not in SAFE_ATTRIBUTES]:
                del element.attrib[name]


_ASIDE_OPEN = re.compile(r'^<aside(?:\s+markdown(?:="(?:1|block)")?)?\s*>[ \t]*\n?')
_ASIDE_CLOSE = re.compile(r"\n?[ \t]*</aside>\s*$")


class _MarginNotes(BlockProcessor):
    """`<aside>` or `<aside markdown="1">`, Markdown, `</aside>` (on one line or several, with
    blank lines inside) is a margin note, its Markdown rendered: the one element of raw HTML
    the safe mode reads as HTML, as it carries no attributes."""

    def test(self, parent: Any, block: str) -> bool:
        return bool(_ASIDE_OPEN.match(block))

    def run(self, parent: Any, blocks: list[str]) -> bool:
        for end, block in enumerate(blocks):
            if _ASIDE_CLOSE.search(block):
                inner = blocks[: end + 1]
                inner[0] = _ASIDE_OPEN.sub("", inner[0], count=1)
                inner[-1] = _ASIDE_CLOSE.sub("", inner[-1])
                del blocks[: end + 1]
                aside = parent.makeelement("aside", {})
                parent.append(aside)
                self.parser.parseBlocks(aside, [b for b in inner if b.strip()])
                return True
        return False  # never closed: the text stays as written


class SafeHtmlExtension(Extension):
    """Raw HTML in the Markdown is shown as text (escaped), as Hugo does unless told otherwise,
    but for margin notes (`<aside>`); `{: ...}` attribute lists keep only `SAFE_ATTRIBUTES`.
    site.toml's `unsafe_html = true` turns this off."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.parser.blockprocessors.register(_MarginNotes(md.parser), "featvis_margin_notes", 85)
        md.treeprocessors.register(_StripAttributes(md), "featvis_safe_attributes", -100)


class _ScrollTables(Treeprocessor):
    """Each table inside a `.table-scroll` region, so that a table wider than a phone's screen
    scrolls on its own instead of widening the page (focusable, for the keyboard)."""

    def run(self, root: Any) -> None:
        count = 0
        for parent in list(root.iter()):
            for i, child in enumerate(list(parent)):
                if child.tag != "table":
                    continue
                count += 1
                region = parent.makeelement(
                    "div",
                    {"class": "table-scroll", "tabindex": "0", "role": "region",
                     "aria-label": f"Table {count}"},
                )
                region.tail, child.tail = child.tail, None
                parent[i] = region
                region.append(child)


class _FocusableCode(Postprocessor):
    """Each code block focusable, so that one wider than a phone's screen scrolls from the
    keyboard too (the stylesheet shades the edge it scrolls toward, as a table's)."""

    def run(self, text: str) -> str:
        return _CODE_BLOCK.sub('<pre tabindex="0">', text)


_CODE_BLOCK = re.compile(r"<pre>(?=<code[ >])")


# The ids the article and home page templates give their own parts (tests/test_pages.py checks
# the list against templates/): a heading of the text never takes one of them.
PAGE_IDS = (
    "article", "appendix", "notes", "bibliography", "how-figures-were-made", "reproduce",
    "articles", "explorer", "rebuild",
)
_RESERVED = "featvis-reserved"
_FIGURE_PLACEHOLDER = re.compile(FIGURE_TOKEN.replace("{:04d}", r"(\d{4})"))


def _placeholders(root: Any) -> Iterator[tuple[Any, int]]:
    """Each figure's placeholder paragraph and the figure's index."""
    for p in root.iter("p"):
        m = _FIGURE_PLACEHOLDER.fullmatch((p.text or "").strip())
        if m and len(p) == 0:
            yield p, int(m.group(1))


class _ReserveIds(Treeprocessor):
    """Each figure's placeholder holds its anchor, and a stand-in the page's own ids
    (`PAGE_IDS`), while the table of contents names the headings: a heading named as a figure or
    as a part of the page gets an id of its own (`gallery_1`, `notes_1`)."""

    def __init__(self, md: markdown.Markdown, figure_ids: Sequence[str]) -> None:
        super().__init__(md)
        self.ids = list(figure_ids)

    def run(self, root: Any) -> None:
        for p, index in _placeholders(root):
            if index < len(self.ids):
                p.set("id", self.ids[index])
        for anchor in PAGE_IDS:
            root.append(root.makeelement(_RESERVED, {"id": anchor}))


class _FigureRefs(Treeprocessor):
    """A link without text to a figure's anchor (`[](#gallery)`) reads "Figure N"; the
    placeholders give their anchors back (the figure carries its own)."""

    def __init__(self, md: markdown.Markdown, figure_ids: Sequence[str]) -> None:
        super().__init__(md)
        self.numbers = {anchor: i + 1 for i, anchor in enumerate(figure_ids)}

    def run(self, root: Any) -> None:
        for p, _ in _placeholders(root):
            p.attrib.pop("id", None)
        for stand_in in root.findall(_RESERVED):
            root.remove(stand_in)
        for a in root.iter("a"):
            href = a.get("href", "")
            number = self.numbers.get(href[1:]) if href.startswith("#") else None
            if number is not None and not (a.text or "").strip() and len(a) == 0:
                a.text = f"Figure {number}"


def markdown_converter(
    unsafe_html: bool = False,
    references: Sequence[Reference] = (),
    figure: int | None = None,
    figure_ids: Sequence[str] = (),
) -> markdown.Markdown:
    """The page's converter; `references` are the page's numbered citations (`figure`: the index
    of the figure whose caption it renders), `figure_ids` its figures' anchors in order."""
    safe = [] if unsafe_html else [SafeHtmlExtension()]
    cite = CitationExtension(references, figure)
    md = markdown.Markdown(
        extensions=[*MARKDOWN_EXTENSIONS, MathExtension(), cite, *safe],
        extension_configs={
            "toc": {"toc_depth": "2-3"},
            "footnotes": {"SEPARATOR": "-", "BACKLINK_TITLE": "Back to the text"},
        },
        output_format="html",
    )
    md.treeprocessors.register(_ScrollTables(md), "featvis_scroll_tables", -110)
    md.postprocessors.register(_FocusableCode(md), "featvis_focusable_code", 10)
    md.treeprocessors.register(_ReserveIds(md, figure_ids), "featvis_reserve_ids", 6)
    md.treeprocessors.register(_FigureRefs(md, figure_ids), "featvis_figure_refs", -120)
    return md


def render_inline(
    text: str,
    unsafe_html: bool = False,
    references: Sequence[Reference] = (),
    figure: int | None = None,
    figure_ids: Sequence[str] = (),
) -> Markup:
    """A caption or a short line of Markdown (with math, citations and figure references) as
    inline HTML."""
    out = markdown_converter(unsafe_html, references, figure, figure_ids).convert(text or "")
    out = out.strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return Markup(out)
