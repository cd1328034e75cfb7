"""content/*.md -> `Page` objects: front matter, figure blocks, links, math and variables, checked.

An article is a Markdown file with YAML front matter (title, description, authors, date, model,
order). Figures are fenced code blocks with the info string `figure` whose body is YAML (`type:`
plus the figure's options); they are cut out before Markdown sees the text and replaced by a
placeholder line, so line numbers stay true. `$...$` and `$$...$$` become MathML at build time.
`{{ numbers.FIGURE.KEY }}`, `{{ model.layers }}` and the other variables (`pages.variables`) are
filled from the build's measurements (`{{ name | pct }}`, `| fixed:2`, `| int`, `| times` format
them).

Everything that can be wrong in an article is found while reading, before anything is written:
the error names `file:line` and the valid choices (the figure blocks' options are checked by
`generator.figures.read_pages`, which knows the figure types). Links are rewritten (`links`): `x.md`
becomes `x.html`, a file under content/ becomes `assets/...`, and anything that leaves content/
or the site (`../`, absolute paths, symlinks out, `http://`) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.core.notices import Notices
from generator.pages.citations import (
    Citing,
    Reference,
    caption_occurrences,
    cite_model,
    cite_references,
    cited_keys,
    occurrences_in,
)
from generator.pages.frontmatter import Author, front_fields, front_matter, yaml_with_lines
from generator.pages.links import by_line, rewrite_links
from generator.pages.markdown import FIGURE_TOKEN, check_math
from generator.pages.papers import model_paper
from generator.pages.text import Lines, check_nesting, fences, mask_code, slugify
from generator.pages.variables import VariableRef, find_variables

# The largest article read: Markdown's cost grows faster than the text (about 17x for 10x over
# paragraphs of links), so a limit keeps a build's time in proportion.
MAX_ARTICLE_BYTES = 10 * 2**20

FIGURE_REF = re.compile(r"(?<![!\\])\[\s*\]\(\s*#([^)\s]+)\s*\)")  # [](#id): "Figure N"
CROSSREF = re.compile(r"(?<![\w@\[])@fig:([\w-]+)")  # pandoc-crossref's @fig:id, not ours
FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^([^\]\n]+)\]:", re.MULTILINE)  # [^label]: text
FOOTNOTE_REF = re.compile(r"\[\^([^\]\n]+)\](?!:)")  # [^label] in the text


@dataclass(frozen=True)
class FigureSpec:
    """One ```figure block: its type, raw options and where each key stands."""

    type: str
    options: dict[str, Any]
    source: Path
    line: int
    key_lines: Mapping[str, int] = field(default_factory=dict)
    index: int = 0  # position among the page's figures
    references: tuple[Reference, ...] = ()  # the page's, for citations in the caption
    numbered: bool = True  # shown as "Figure N." (an article's figures; not the compare page's)
    figure_ids: tuple[str, ...] = ()  # the page's figures' anchors, for `[](#id)` in the caption

    @property
    def anchor(self) -> str:
        """Its `id`, else `figure-N`: the anchor on the page and the name of its numbers."""
        return str(self.options.get("id") or f"figure-{self.index + 1}")

    def where(self, key: str | None = None) -> str:
        return f"{self.source}:{self.key_lines.get(key, self.line) if key else self.line}"


@dataclass(frozen=True)
class Page:
    slug: str
    source: Path  # as shown in messages (relative to the site root when possible)
    path: Path  # the resolved file
    title: str
    description: str = ""
    authors: tuple[Author, ...] = ()
    date: str | None = None
    updated: str | None = None  # a later revision's date
    model: str | None = None
    order: int = 0
    body: str = ""  # Markdown with figure placeholders and rewritten links
    body_line: int = 1  # the file line of body line 1
    figures: tuple[FigureSpec, ...] = ()
    variables: tuple[VariableRef, ...] = ()
    assets: tuple[tuple[Path, str], ...] = ()  # (file under content/, path in the site)
    references: tuple[Reference, ...] = ()  # what it cites (and `nocite` lists), numbered
    # its links into a model's explorer folder, with their file:line (checked once models load)
    explorer_links: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return f"{self.slug}.html"

    @property
    def figure_ids(self) -> tuple[str, ...]:
        return tuple(spec.anchor for spec in self.figures)

    @property
    def is_home(self) -> bool:
        return self.slug == "index"


def display_path(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def content_files(config: SiteConfig) -> list[Path]:
    """The *.md files directly in content/, each checked to stay inside it."""
    root = config.content_dir
    if not root.is_dir():
        raise FeatvisError(f"{root}: content folder not found (set content_dir in site.toml)")
    real_root = root.resolve()
    files = []
    for path in sorted(root.glob("*.md")):
        real = path.resolve()
        shown = display_path(path, config.root)
        if not real.is_relative_to(real_root):
            raise FeatvisError(f"{shown}:1: content path escapes {root.name}/ (it links to {real})")
        if not real.is_file():
            raise FeatvisError(f"{shown}:1: not a file")
        files.append(path)
    return files


def unread_articles(config: SiteConfig) -> list[Path]:
    """The *.md files in subfolders of content/ (hidden ones aside): articles are the files
    directly in it, so these are not pages; the build says so once."""
    root = config.content_dir
    if not root.is_dir():
        return []
    return [
        path for path in sorted(root.glob("*/**/*.md"))
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]


def load_pages(
    config: SiteConfig, *, strict_model: bool = True, notices: Notices | None = None
) -> list[Page]:
    """Read and validate every article; raise `FeatvisError` (file:line) on the first problem.
    Markdown files in subfolders of content/ are named in a warning on `notices`."""
    files = content_files(config)
    seen: dict[str, Path] = {}
    for path in files:
        slug = slugify(path.stem)
        if slug in seen:
            raise FeatvisError(
                f"{display_path(path, config.root)}:1: duplicate page slug '{slug}' (also from "
                f"{display_path(seen[slug], config.root)}); rename one of the files"
            )
        seen[slug] = path
    pages = [read_page(path, config, slugs=set(seen), strict_model=strict_model) for path in files]
    if notices is not None:
        warn_unread(config, notices)
    return sorted(pages, key=lambda p: (p.order, p.slug))


def warn_unread(config: SiteConfig, notices: Notices) -> None:
    """One warning for Markdown files in subfolders of content/, which are not articles."""
    unread = unread_articles(config)
    if unread:
        shown = display_path(unread[0], config.root)
        more = f" and {len(unread) - 1} more" if len(unread) > 1 else ""
        notices.warn(
            "content",
            f"{shown}{more}: not read, articles are the .md files directly in "
            f"{config.content_dir.name}/ (move them there to publish them)",
        )


def read_page(
    path: Path, config: SiteConfig, *, slugs: set[str] | None = None, strict_model: bool = True
) -> Page:
    shown = display_path(path, config.root)
    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        raise FeatvisError(
            f"{shown}: {size:,} bytes, over the limit of an article ({MAX_ARTICLE_BYTES:,} "
            "bytes); split it into several pages"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FeatvisError(f"{shown}:1: not UTF-8 text ({exc.reason})") from None
    lines = text.splitlines()
    meta, key_lines, body_start = front_matter(lines, shown)
    if slugify(path.stem) == "index" and meta.get("title") is None:
        meta = {**meta, "title": config.title}  # the home page is titled as the site by default
    fields = front_fields(meta, key_lines, shown, config, strict_model)
    for key in ("title", "description"):  # one line of Markdown each, without citations
        cites = cited_keys(mask_code([str(fields[key] or "")]))
        if cites:
            raise FeatvisError(
                f"{shown}:{key_lines.get(key, 1)}: the {key} cannot cite ('[@{cites[0][1]}]' "
                "would be printed as written); cite in the text"
            )
    check_nesting(lines[body_start:], body_start + 1, shown)
    body_lines, figures = _extract_figures(lines[body_start:], body_start + 1, shown)
    model = fields["model"] if fields["model"] in config.model_ids else config.model_ids[0]
    body = "\n".join(body_lines) + "\n"
    body = cite_model(body, mask_code(body_lines), model_paper(model))
    body_lines, figures = body[:-1].split("\n"), [_cite_model(s, model, config) for s in figures]
    masked = mask_code(body_lines)
    check_math(masked, body_start + 1, shown)
    references = _references(path, config, meta, key_lines, masked, body_start + 1, figures,
                             model)
    ids = tuple(spec.anchor for spec in figures)
    check_figure_refs(masked, body_start + 1, shown, ids)
    check_footnotes(body, masked, body_start + 1, shown)
    for spec in figures:
        caption = spec.options.get("caption")
        if isinstance(caption, str):
            check_figure_refs(caption, spec.key_lines.get("caption", spec.line), shown, ids)
    figures = [replace(spec, references=references, figure_ids=ids) for spec in figures]
    slugs = {slugify(path.stem)} if slugs is None else slugs
    rewrite = partial(rewrite_links, shown=shown, content_dir=config.content_dir, slugs=slugs,
                      model=config.model_specs[0].folder)  # `explorer/<layer>.html`: the first's
    body, assets, explorer = rewrite(body, masked, body_start + 1)
    for k, spec in enumerate(figures):  # a caption's links are the text's
        caption = spec.options.get("caption")
        if isinstance(caption, str):
            caption, copied, opened = rewrite(caption, mask_code(caption.splitlines()),
                                              spec.key_lines.get("caption", spec.line))
            figures[k] = replace(spec, options={**spec.options, "caption": caption})
            assets, explorer = sorted({*assets, *copied}), sorted([*explorer, *opened], key=by_line)
    # Link rewriting changes offsets (never lines): find the variables in the final body.
    variables = find_variables(mask_code(body.splitlines()), body_start + 1, shown)
    return Page(
        slug=slugify(path.stem),
        source=shown,
        path=path.resolve(),
        body=body,
        body_line=body_start + 1,
        figures=tuple(figures),
        variables=tuple(variables),
        assets=tuple(assets),
        references=references,
        explorer_links=tuple(explorer),
        **fields,
    )


def _references(
    path: Path,
    config: SiteConfig,
    meta: Mapping[str, Any],
    key_lines: Mapping[str, int],
    masked: str,
    first: int,
    figures: list[FigureSpec],
    model: str,
) -> tuple[Reference, ...]:
    """The page's citations, in the text and in figure captions, numbered in reading order."""
    found = [
        *occurrences_in(masked, first),
        *(hit for spec in figures for hit in caption_occurrences(
            spec.options.get("caption"), spec.key_lines.get("caption", spec.line), spec.index
        )),
    ]
    found.sort(key=lambda hit: hit[0])  # stable: a line's citations keep their order
    citing = Citing(display_path(path, config.root), config.content_dir, config.root, meta,
                    key_lines, model_paper(model))
    return cite_references(citing, found)


def _cite_model(spec: FigureSpec, model: str, config: SiteConfig) -> FigureSpec:
    """The figure with `@model` in its caption's citations as its model's paper's key."""
    caption, own = spec.options.get("caption"), spec.options.get("model")
    if not isinstance(caption, str):
        return spec
    paper = model_paper(own if own in config.model_ids else model)
    cited = cite_model(caption, mask_code(caption.splitlines()), paper)
    return replace(spec, options={**spec.options, "caption": cited})


def _extract_figures(
    lines: list[str], first: int, shown: Path
) -> tuple[list[str], list[FigureSpec]]:
    out = list(lines)
    figures: list[FigureSpec] = []
    for start, end, info in fences(lines):
        if info != "figure":
            continue
        if end is None:
            raise FeatvisError(
                f"{shown}:{first + start}: figure block is not closed (add a ``` line)"
            )
        text = "\n".join(lines[start + 1 : end])
        data, key_lines = yaml_with_lines(text, first + start + 1, shown, "figure block")
        if not isinstance(data, dict):
            raise FeatvisError(
                f"{shown}:{first + start}: a figure block holds 'key: value' lines, starting "
                "with 'type:'"
            )
        kind = data.pop("type", None)
        if not isinstance(kind, str):
            raise FeatvisError(
                f"{shown}:{first + start}: figure block needs 'type:' (one of the figure types)"
            )
        figures.append(FigureSpec(kind, data, shown, first + start, key_lines, len(figures)))
        out[start] = FIGURE_TOKEN.format(len(figures) - 1)  # same lines: messages stay true
        for k in range(start + 1, end + 1):
            out[k] = ""
    return out, figures


def check_figure_refs(masked: str, first: int, shown: Path, ids: Sequence[str]) -> None:
    """Each `[](#id)` (a link without text to an anchor) names a figure of the page; the page
    writes it as "Figure N"."""
    line_at = Lines(masked, first)
    for m in CROSSREF.finditer(masked):
        raise FeatvisError(
            f"{shown}:{line_at(m.start())}: '{m.group(0)}' is not a figure reference here: write "
            f"'[](#{m.group(1)})', which reads 'Figure N'"
        )
    for m in FIGURE_REF.finditer(masked):
        if m.group(1) not in ids:
            raise FeatvisError(
                f"{shown}:{line_at(m.start())}: '{m.group(0)[:60]}' names no figure of this page "
                f"({choices_hint(m.group(1), ids) if ids else 'it has no figures'}; a link "
                "without text to '#id' reads 'Figure N')"
            )


def check_footnotes(body: str, masked: str, first: int, shown: Path) -> None:
    """Each `[^label]` in the text has its `[^label]: text`, and each definition is referred to:
    Markdown would print an undefined one as written and list an unused one with a back-link to
    nowhere."""
    line_at = Lines(masked, first)
    defined = {m.group(1): m for m in FOOTNOTE_DEF.finditer(masked)}
    for m in FOOTNOTE_REF.finditer(masked):
        label = m.group(1)
        if label not in defined:
            hint = (choices_hint(label, list(defined)) if defined else
                    f"the page defines none: write '[^{label}]: text' on a line of its own")
            raise FeatvisError(
                f"{shown}:{line_at(m.start())}: footnote '[^{label}]' is not defined ({hint})"
            )
    for label, m in defined.items():  # a reference anywhere, even where code hides it, counts
        if body.count(f"[^{label}]") <= body.count(f"[^{label}]:"):
            raise FeatvisError(
                f"{shown}:{line_at(m.start())}: footnote '[^{label}]' is defined but the text "
                f"never refers to it (write '[^{label}]' where it belongs, or remove it)"
            )
