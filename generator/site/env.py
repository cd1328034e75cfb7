"""The Jinja2 environment (autoescape on, the site's own templates before ours) and HTML helpers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import jinja2
from jinja2 import nodes
from markupsafe import Markup, escape

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, one_line
from generator.core.resources import shipped
from generator.core.words import counted
from generator.dataset.checks import likeliest, reading_top
from generator.figures.checks import (
    LOW_AGREEMENT,
)
from generator.models.hooks import shown_path
from generator.pages.markdown import format_probability, format_value, render_inline

TEMPLATES_DIR = shipped("templates", "templates")


class SiteEnvironment(jinja2.Environment):
    """Jinja2 whose template mistakes are `FeatvisError`s naming the template's file and line: a
    syntax error, an undefined name, an include that is not found (or leaves the templates'
    folders), an error the template's own code raises (`{{ 1/0 }}`). An error raised by Python
    code a template calls keeps its traceback (that is featvis's to fix); a `FeatvisError` passes
    through."""

    root: Path = Path(".")  # template files under it are named relative to it

    def handle_exception(self, source: str | None = None) -> NoReturn:
        exc, tb = sys.exc_info()[1:]
        where = self._where(exc, tb)
        if where is None or isinstance(exc, FeatvisError):
            super().handle_exception(source)
        raise FeatvisError(one_line(f"{where}: {_describe(exc)}")) from None

    def _where(self, exc: BaseException | None, tb: TracebackType | None) -> str | None:
        """file:line of the template at fault; None when the fault is not a template's."""
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return f"{self._shown(exc.filename)}:{exc.lineno}"
        frames: list[tuple[str | None, int]] = []
        innermost_is_template = False
        while tb is not None:
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            innermost_is_template = template is not None
            if template is not None:
                frames.append((template.filename, template.get_corresponding_lineno(tb.tb_lineno)))
            tb = tb.tb_next
        if not frames or not (isinstance(exc, jinja2.TemplateError) or innermost_is_template):
            return None
        filename, line = frames[-1]
        return f"{self._shown(filename)}:{line}"

    def _shown(self, filename: str | None) -> str:
        if filename is None:
            return "<template>"
        path = Path(filename)
        inside = path.is_relative_to(self.root)
        return path.relative_to(self.root).as_posix() if inside else str(path)


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, jinja2.TemplateNotFound):
        return (
            f"template '{exc.name}' not found (valid: a template inside templates_dir or "
            "featvis's templates, by a relative name without '..')"
        )
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, jinja2.TemplateError):
        return f"template error: {exc.message}"
    return f"template error: {type(exc).__name__}: {exc}"


def check_templates(config: SiteConfig) -> None:
    """Compile the site's own templates (templates_dir) and look up every template they name by a
    constant (extends, include, import), so their mistakes stop a build while it reads, before
    anything is computed; errors only rendering finds (an undefined name) name the file and
    line there."""
    folder = config.templates_dir
    if folder is None:
        return
    env = make_env(config)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in TEMPLATES):
        name = path.relative_to(folder).as_posix()
        if name.startswith("static/"):
            continue
        env.get_template(name)  # a syntax error: FeatvisError at its line
        source = path.read_text(encoding="utf-8", errors="replace")
        for node in env.parse(source, name, str(path)).find_all(_NAMED):
            ref = getattr(node, "template", None)
            if isinstance(ref, nodes.Const) and isinstance(ref.value, str):
                try:
                    env.get_template(ref.value)
                except jinja2.TemplateNotFound as exc:
                    where = f"{env._shown(str(path))}:{node.lineno}"  # noqa: SLF001
                    raise FeatvisError(one_line(f"{where}: {_describe(exc)}")) from None


TEMPLATES = (".html", ".htm", ".xml", ".j2", ".jinja")  # static/ is copied, not rendered
_NAMED = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
_ANCHOR = re.compile(r"</?a\b[^>]*>")


def make_env(config: SiteConfig) -> SiteEnvironment:
    """Jinja2 with autoescape on; the site's own templates (templates_dir) shadow ours."""
    paths = [str(config.templates_dir)] if config.templates_dir else []
    env = SiteEnvironment(
        loader=jinja2.FileSystemLoader([*paths, str(TEMPLATES_DIR)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, fmt=None, arg=None: format_value(v, fmt, arg)
    env.filters["prob"] = format_probability
    env.filters["counted"] = counted  # {{ n | counted("step") }}: "1 step", "128 steps"
    # {{ fig.caption | inline(fig.spec.references, fig.spec.index, fig.spec.figure_ids) }}:
    # citations and figure references in a caption
    env.filters["inline"] = lambda text, refs=(), figure=None, ids=(): render_inline(
        text, config.unsafe_html, refs, figure, ids
    )
    # {{ a.title | inline | unlinked }}: inside a link of its own (a card), a link's text alone
    env.filters["unlinked"] = lambda html: Markup(_ANCHOR.sub("", str(html)))
    env.filters["weights"] = lambda source: shown_weights(source, config.root)
    env.filters["shown_at"] = shown_at  # a captured path in words, its modules as code
    env.globals["LOW_AGREEMENT"] = LOW_AGREEMENT
    # {{ reading_top(model.read_outputs) | likeliest }}: "five likeliest", or fewer on a
    # network of few classes, where a class reading meets its photo's class
    env.globals["reading_top"] = reading_top
    env.filters["likeliest"] = likeliest
    env.root = config.root
    return env


def shown_at(path: str, floor: object | None = None) -> Markup:
    """A captured path (`models.hooks`) as a reader reads it, each module path as code, and the
    floor function a `FLOOR` part reads the input of named `floor` where it is known (a
    `models.preact.Floor`: a channel page's layer's)."""
    return Markup(shown_path(
        path, name=lambda module: f"<code>{escape(module)}</code>",
        floor=lambda _module: None if floor is None else escape(floor),
    ))


def shown_weights(source: str, root: Path) -> str:
    """A model's weights as a published page names them: a local file from the site's folder
    (outside it by its name alone: a page shows no absolute path of the machine that built it);
    a package, a hub name or random weights as they are."""
    path = Path(source)
    if not path.is_absolute():
        return source
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


_FOOTNOTES = re.compile(r'<div class="footnote">.*</div>\s*$', re.DOTALL)


def split_footnotes(html: str) -> tuple[str, str]:
    """The body without its footnote list, and the list (Python-Markdown appends it last)."""
    m = _FOOTNOTES.search(html)
    if not m:
        return html, ""
    return html[: m.start()], m.group(0)
