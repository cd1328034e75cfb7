"""content/*.md -> `Page` objects, and a page's Markdown -> HTML.

An article is a Markdown file with YAML front matter (title, description, authors, date, model,
order). Figures are fenced code blocks with the info string `figure` whose body is YAML (`type:`
plus the figure's options); they are cut out before Markdown sees the text and replaced by a
placeholder line, so line numbers stay true. `$...$` and `$$...$$` become MathML at build time.
`{{ numbers.FIGURE.KEY }}`, `{{ model.layers }}` and the other names in `VARIABLES` are filled from
the build's measurements (`{{ name | pct }}`, `| fixed:2`, `| int`, `| times` format them).

Everything that can be wrong in an article is found while reading, before anything is written:
the error names `file:line` and the valid choices. Links in the text are rewritten here: `x.md`
becomes `x.html`, a file under content/ becomes `assets/...`, and anything that leaves content/
or the site (`../`, absolute paths, symlinks out, `http://`) is an error.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import latex2mathml.converter
import markdown
import yaml
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from generator.config import SiteConfig
from generator.errors import FeatvisError, choices_hint

FRONT_MATTER_KEYS: dict[str, tuple[type, ...]] = {
    "title": (str,),
    "description": (str,),
    "authors": (list, str),
    "date": (str, dt.date),
    "model": (str,),
    "order": (int,),
}
MARKDOWN_EXTENSIONS = ("toc", "tables", "fenced_code", "footnotes", "attr_list", "md_in_html")
FIGURE_TOKEN = "FEATVISFIGURE{:04d}X"
# Names every page may quote; `numbers.FIGURE.KEY` come from the page's figures.
VARIABLES = (
    "site.title",
    "model.id",
    "model.layers",
    "model.channels",
    "model.weights",
    "preset.name",
    "preset.size",
    "preset.steps",
    "dataset.images",
    "dataset.skipped",
)
FORMATS = ("pct", "fixed", "int", "times")
MAX_DIGITS = 12  # the most digits `| fixed:N` (pct, times) may ask for

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_VAR = re.compile(r"\{\{(.*?)\}\}")
_VAR_BODY = re.compile(
    r"^\s*([A-Za-z_][\w.-]*)\s*"
    r"(?:\|\s*([a-z]+)\s*(?::\s*(\d+))?\s*)?"  # | fmt or | fmt:N
    r'(?:\|\s*default\s*:\s*"([^"]*)"\s*)?$'  # | default:"text where nothing was measured"
)
_DISPLAY_MATH = r"(?<!\\)\$\$(.+?)\$\$"
_INLINE_MATH = r"(?<![\\$])\$(?![\s$])([^\n$]+?)(?<![\s\\])\$(?!\d)"
_MATH = re.compile(f"{_DISPLAY_MATH}|{_INLINE_MATH}", re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK_TARGETS = (
    re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)"),  # [text](target) and ![alt](target)
    re.compile(r"^ {0,3}\[(?!\^)[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),  # [ref]: target
    re.compile(r"\b(?:src|href)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE),  # raw HTML
    re.compile(r"<((?:https?:)?//[^>\s]+)>"),  # <http://autolink>
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SITE_PATHS = re.compile(r"^(?:index\.html|explorer/[\w.-]+\.html)$")


@dataclass(frozen=True)
class Author:
    name: str
    affiliations: tuple[str, ...] = ()


@dataclass(frozen=True)
class FigureSpec:
    """One ```figure block: its type, raw options and where each key stands."""

    type: str
    options: dict[str, Any]
    source: Path
    line: int
    key_lines: Mapping[str, int] = field(default_factory=dict)
    index: int = 0  # position among the page's figures

    def where(self, key: str | None = None) -> str:
        return f"{self.source}:{self.key_lines.get(key, self.line) if key else self.line}"


@dataclass(frozen=True)
class VariableRef:
    name: str
    fmt: str | None
    arg: int | None
    line: int
    start: int  # offset in Page.body
    end: int
    fallback: str | None = None  # shown instead of "n/a" when the build has no value


@dataclass(frozen=True)
class Page:
    slug: str
    source: Path  # as shown in messages (relative to the site root when possible)
    path: Path  # the resolved file
    title: str
    description: str = ""
    authors: tuple[Author, ...] = ()
    date: str | None = None
    model: str | None = None
    order: int = 0
    body: str = ""  # Markdown with figure placeholders and rewritten links
    body_line: int = 1  # the file line of body line 1
    figures: tuple[FigureSpec, ...] = ()
    variables: tuple[VariableRef, ...] = ()
    assets: tuple[tuple[Path, str], ...] = ()  # (file under content/, path in the site)

    @property
    def url(self) -> str:
        return f"{self.slug}.html"

    @property
    def is_home(self) -> bool:
        return self.slug == "index"


# Reading -----------------------------------------------------------------------------------


def display_path(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def slugify(stem: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "page"


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


def load_pages(config: SiteConfig, *, strict_model: bool = True) -> list[Page]:
    """Read and validate every article; raise `FeatvisError` (file:line) on the first problem."""
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
    return sorted(pages, key=lambda p: (p.order, p.slug))


def read_page(
    path: Path, config: SiteConfig, *, slugs: set[str] | None = None, strict_model: bool = True
) -> Page:
    shown = display_path(path, config.root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FeatvisError(f"{shown}:1: not UTF-8 text ({exc.reason})") from None
    lines = text.splitlines()
    meta, key_lines, body_start = _front_matter(lines, shown)
    fields = _front_fields(meta, key_lines, shown, config, strict_model)
    body_lines, figures = _extract_figures(lines[body_start:], body_start + 1, shown)
    body = "\n".join(body_lines) + "\n"
    masked = _mask_code(body_lines)
    _check_math(masked, body_start + 1, shown)
    slugs = {slugify(path.stem)} if slugs is None else slugs
    body, assets = _rewrite_links(body, masked, body_start + 1, shown, config.content_dir, slugs)
    # Link rewriting changes offsets (never lines): find the variables in the final body.
    variables = _find_variables(_mask_code(body.splitlines()), body_start + 1, shown)
    page = Page(
        slug=slugify(path.stem),
        source=shown,
        path=path.resolve(),
        body=body,
        body_line=body_start + 1,
        figures=tuple(figures),
        variables=tuple(variables),
        assets=tuple(assets),
        **fields,
    )
    _check_figures_and_variables(page)
    return page


def yaml_with_lines(
    text: str, first_line: int, where: Path, what: str
) -> tuple[Any, dict[str, int]]:
    """Parse YAML; return the data and the file line of every top-level key."""
    try:
        _refuse_aliases(text, first_line, where, what)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = _construct(node, first_line, where, what)
    except RecursionError:
        raise FeatvisError(f"{where}:{first_line}: malformed {what}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= len(text.splitlines()):
            mark = getattr(exc, "context_mark", None) or mark  # at the end: where it began
        line = first_line + (mark.line if mark else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FeatvisError(f"{where}:{line}: malformed {what}: {problem}") from None
    key_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = first_line + key_node.start_mark.line
    return data, key_lines


def _refuse_aliases(text: str, first_line: int, where: Path, what: str) -> None:
    """YAML aliases (`*name`) can expand a few hundred bytes into gigabytes: refused, with the
    line of the first one. Reading the event stream expands nothing."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = first_line + event.start_mark.line
            raise FeatvisError(
                f"{where}:{line}: malformed {what}: YAML aliases (*{str(event.anchor)[:20]}) are "
                "not allowed; write the value out"
            )


def _construct(node: Any, first_line: int, where: Path, what: str) -> Any:
    """The Python value of a composed YAML node; a scalar YAML reads as an impossible date
    (2024-02-30) is an error naming its line, not a traceback."""
    if node is None:
        return None
    try:
        return yaml.SafeLoader("").construct_document(node)
    except (ValueError, OverflowError) as exc:
        bad = _bad_scalar(node)
        line = first_line + (bad.start_mark.line if bad is not None else 0)
        value = f" '{str(bad.value)[:40]}'" if bad is not None else ""
        raise FeatvisError(
            f"{where}:{line}: malformed {what}: value{value} cannot be read ({str(exc)[:80]})"
        ) from None


def _bad_scalar(node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except (ValueError, OverflowError):
            return node
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else [
        n for pair in node.value for n in pair
    ] if isinstance(node, yaml.MappingNode) else []
    for child in children:
        found = _bad_scalar(child)
        if found is not None:
            return found
    return None


def _front_matter(lines: list[str], shown: Path) -> tuple[dict[str, Any], dict[str, int], int]:
    if not lines or lines[0].strip() != "---":
        raise FeatvisError(
            f"{shown}:1: missing front matter: start the file with '---', a 'title:' line and '---'"
        )
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise FeatvisError(f"{shown}:1: malformed front matter: no closing '---' line")
    meta, key_lines = yaml_with_lines("\n".join(lines[1:end]), 2, shown, "front matter")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FeatvisError(
            f"{shown}:2: malformed front matter: expected 'key: value' lines, not "
            f"{type(meta).__name__}"
        )
    return meta, key_lines, end + 1


def _front_fields(
    meta: dict[str, Any],
    key_lines: dict[str, int],
    shown: Path,
    config: SiteConfig,
    strict_model: bool,
) -> dict[str, Any]:
    def where(key: str) -> str:
        return f"{shown}:{key_lines.get(key, 1)}"

    for key, value in meta.items():
        if key not in FRONT_MATTER_KEYS:
            raise FeatvisError(
                f"{where(key)}: unknown front matter key '{key}' "
                f"({choices_hint(str(key), FRONT_MATTER_KEYS)})"
            )
        if not isinstance(value, FRONT_MATTER_KEYS[key]) or isinstance(value, bool):
            kinds = " or ".join(t.__name__ for t in FRONT_MATTER_KEYS[key])
            raise FeatvisError(
                f"{where(key)}: front matter '{key}' must be a {kinds}, not {value!r}"
            )
    if not str(meta.get("title", "")).strip():
        raise FeatvisError(f"{shown}:1: front matter needs a 'title'")
    model = meta.get("model")
    if strict_model and model is not None and model != config.model:
        raise FeatvisError(
            f"{where('model')}: page is written for model '{model}' but the site builds "
            f"'{config.model}' (valid: {config.model})"
        )
    date = meta.get("date")
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise FeatvisError(f"{where('date')}: date '{date}' is not YYYY-MM-DD") from None
    return {
        "title": meta["title"].strip(),
        "description": meta.get("description", "").strip(),
        "authors": _authors(meta.get("authors", []), where("authors")),
        "date": date.isoformat() if date else None,
        "model": model,
        "order": meta.get("order", 0),
    }


def _authors(value: Any, where: str) -> tuple[Author, ...]:
    items = [value] if isinstance(value, str) else value
    authors = []
    for item in items:
        if isinstance(item, str):
            authors.append(Author(item.strip()))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise FeatvisError(
                f"{where}: each author is a name or {{name: ..., affiliation: ...}}, not {item!r}"
            )
        unknown = set(item) - {"name", "affiliation", "affiliations"}
        if unknown:
            bad = sorted(unknown)[0]
            raise FeatvisError(
                f"{where}: unknown author key '{bad}' (valid: name, affiliation, affiliations)"
            )
        affs = item.get("affiliations", item.get("affiliation", []))
        affs = [affs] if isinstance(affs, str) else affs
        if not isinstance(affs, list) or not all(isinstance(a, str) for a in affs):
            raise FeatvisError(
                f"{where}: affiliations of '{item['name']}' must be text or a list of text"
            )
        authors.append(Author(item["name"].strip(), tuple(a.strip() for a in affs)))
    return tuple(authors)


def _fences(lines: list[str]) -> Iterator[tuple[int, int | None, str]]:
    """(start, end or None when unclosed, info) for every fenced block, end inclusive."""
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        marker, info = m.group(2), m.group(3)
        end = None
        for j in range(i + 1, len(lines)):
            close = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[j])
            if close and close.group(1)[0] == marker[0] and len(close.group(1)) >= len(marker):
                end = j
                break
        yield i, end, info
        i = (end if end is not None else len(lines)) + 1


def _extract_figures(
    lines: list[str], first: int, shown: Path
) -> tuple[list[str], list[FigureSpec]]:
    out = list(lines)
    figures: list[FigureSpec] = []
    for start, end, info in _fences(lines):
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


def _mask_code(lines: list[str]) -> str:
    """The body with code blocks and code spans blanked (same length, same newlines)."""
    masked = list(lines)
    for start, end, _ in _fences(lines):
        for k in range(start, (end if end is not None else len(lines) - 1) + 1):
            masked[k] = " " * len(masked[k])
    for k, line in enumerate(masked):
        if line.startswith("    ") or line.startswith("\t"):
            masked[k] = " " * len(line)  # indented code (or continuation): leave it alone
    text = "\n".join(masked) + "\n"
    return _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


def _line_at(text: str, offset: int, first: int) -> int:
    return first + text.count("\n", 0, offset)


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


def _check_math(masked: str, first: int, shown: Path) -> None:
    for m in _MATH.finditer(masked):
        latex, display = (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        try:
            latex_to_mathml(latex, display)
        except ValueError as exc:
            raise FeatvisError(
                f"{shown}:{_line_at(masked, m.start(), first)}: cannot render math "
                f"${latex.strip()}$ ({exc})"
            ) from None


def _find_variables(masked: str, first: int, shown: Path) -> list[VariableRef]:
    refs = []
    for m in _VAR.finditer(masked):
        line = _line_at(masked, m.start(), first)
        body = _VAR_BODY.match(m.group(1))
        if not body:
            raise FeatvisError(
                f"{shown}:{line}: malformed template variable '{m.group(0)}' (write "
                f"{{{{ name }}}}, {{{{ name | fmt }}}} or "
                f'{{{{ name | fmt | default:"text" }}}}, fmt one of: {", ".join(FORMATS)})'
            )
        name, fmt, arg, fallback = body.groups()
        if fmt is not None and fmt not in FORMATS:
            raise FeatvisError(
                f"{shown}:{line}: unknown format '{fmt}' ({choices_hint(fmt, FORMATS)})"
            )
        if arg and (len(arg) > 2 or int(arg) > MAX_DIGITS):
            raise FeatvisError(
                f"{shown}:{line}: '{fmt}:{arg[:12]}' asks for too many digits (0..{MAX_DIGITS})"
            )
        refs.append(
            VariableRef(
                name, fmt, int(arg) if arg else None, line, m.start(), m.end(), fallback
            )
        )
    return refs


def _rewrite_links(
    body: str, masked: str, first: int, shown: Path, content_dir: Path, slugs: set[str]
) -> tuple[str, list[tuple[Path, str]]]:
    edits: list[tuple[int, int, str]] = []
    assets: dict[Path, str] = {}
    for pattern in _LINK_TARGETS:
        for m in pattern.finditer(masked):
            target = m.group(1)
            line = _line_at(masked, m.start(), first)
            new = _link_target(target, f"{shown}:{line}", content_dir, slugs, assets)
            if new != target:
                edits.append((m.start(1), m.end(1), new))
    for start, end, new in sorted(set(edits), reverse=True):
        body = body[:start] + new + body[end:]
    return body, sorted(assets.items())


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
        slug = slugify(path[:-3])
        if slug not in slugs:
            raise FeatvisError(
                f"{where}: link to '{path}', which is not a page "
                f"({choices_hint(path, sorted(s + '.md' for s in slugs))})"
            )
        return f"{slug}.html{suffix}"
    if _SITE_PATHS.match(path):
        return target
    root = content_dir.resolve()
    real = (content_dir / path).resolve()
    if not real.is_relative_to(root):
        raise FeatvisError(
            f"{where}: path '{target}' escapes {content_dir.name}/ (valid: files inside it)"
        )
    if not real.is_file():
        raise FeatvisError(
            f"{where}: '{path}' not found in {content_dir.name}/ (valid: files inside it, "
            "explorer/LAYER.html, other pages as NAME.md)"
        )
    rel = real.relative_to(root).as_posix()
    assets[real] = f"assets/{rel}"
    return f"assets/{rel}{suffix}"


def _check_figures_and_variables(page: Page) -> None:
    """Figure types, option names and types, and the variables the text quotes."""
    from generator.figures import figure_for  # figures import this module

    keys: dict[str, tuple[str, ...]] = {}
    for spec in page.figures:
        figure = figure_for(spec)
        if figure.id in keys:
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{figure.id}' is used twice on this page"
            )
        keys[figure.id] = figure.number_keys()
    for ref in page.variables:
        check_variable(ref.name, keys, f"{page.source}:{ref.line}")


def check_variable(name: str, figure_keys: Mapping[str, tuple[str, ...]], where: str) -> None:
    if name in VARIABLES:
        return
    parts = name.split(".")
    if parts[0] != "numbers":
        raise FeatvisError(
            f"{where}: unknown variable '{name}' "
            f"({choices_hint(name, [*VARIABLES, 'numbers.FIGURE-ID.KEY'])})"
        )
    if len(parts) < 3 or parts[1] not in figure_keys:
        fig = parts[1] if len(parts) > 1 else ""
        ids = list(figure_keys) or ["(no figure on this page has numbers)"]
        raise FeatvisError(
            f"{where}: unknown figure '{fig}' in '{name}' (figure ids on this page: "
            f"{', '.join(ids)})"
        )
    key = ".".join(parts[2:])
    if key not in figure_keys[parts[1]]:
        raise FeatvisError(
            f"{where}: figure '{parts[1]}' has no number '{key}' "
            f"({choices_hint(key, figure_keys[parts[1]])})"
        )


# Rendering ---------------------------------------------------------------------------------


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


class _MathPattern(InlineProcessor):
    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:  # noqa: N802
        latex, display = (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        placeholder = self.md.htmlStash.store(latex_to_mathml(latex, display))
        return placeholder, m.start(0), m.end(0)


class MathExtension(Extension):
    """`$inline$` and `$$display$$` -> MathML; `\\$` is a literal dollar sign."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.ESCAPED_CHARS.append("$")
        md.inlinePatterns.register(_MathPattern(_MATH.pattern, md), "math", 185)


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


class SafeHtmlExtension(Extension):
    """Raw HTML in the Markdown is shown as text (escaped), as Hugo does unless told otherwise;
    `{: ...}` attribute lists keep only `SAFE_ATTRIBUTES`. site.toml's `unsafe_html = true`
    turns this off."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_StripAttributes(md), "featvis_safe_attributes", -100)


def markdown_converter(unsafe_html: bool = False) -> markdown.Markdown:
    safe = [] if unsafe_html else [SafeHtmlExtension()]
    return markdown.Markdown(
        extensions=[*MARKDOWN_EXTENSIONS, MathExtension(), *safe],
        extension_configs={
            "toc": {"toc_depth": "2-3"},
            "footnotes": {"SEPARATOR": "-", "BACKLINK_TITLE": "Back to the text"},
        },
        output_format="html",
    )


@dataclass(frozen=True)
class RenderedBody:
    html: Markup
    toc: list[dict[str, Any]]


def render_body(
    page: Page, values: Callable[[str], Any], figures: list[Markup], unsafe_html: bool = False
) -> RenderedBody:
    """Fill the variables, convert the Markdown, put the figures in place of their placeholders."""
    body = page.body
    for ref in sorted(page.variables, key=lambda r: r.start, reverse=True):
        text = html.escape(format_value(values(ref.name), ref.fmt, ref.arg, ref.fallback))
        body = body[: ref.start] + text + body[ref.end :]
    for i in range(len(figures)):  # a placeholder stands alone as a paragraph
        body = body.replace(FIGURE_TOKEN.format(i), f"\n\n{FIGURE_TOKEN.format(i)}\n\n", 1)
    md = markdown_converter(unsafe_html)
    out = md.convert(body)
    for i, fig in enumerate(figures):
        token = FIGURE_TOKEN.format(i)
        out = out.replace(f"<p>{token}</p>", str(fig))
    return RenderedBody(Markup(out), list(getattr(md, "toc_tokens", [])))


def render_inline(text: str, unsafe_html: bool = False) -> Markup:
    """A caption or a short line of Markdown (with math) as inline HTML."""
    out = markdown_converter(unsafe_html).convert(text or "").strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return Markup(out)
