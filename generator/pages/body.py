"""A page's body as HTML: its variables filled, its Markdown converted, its figures in place."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from generator.core.errors import FeatvisError
from generator.pages.content import Page
from generator.pages.markdown import FIGURE_TOKEN, format_value, markdown_converter
from generator.pages.text import MAX_NESTING, splice
from generator.pages.variables import VariableRef


@dataclass(frozen=True)
class RenderedBody:
    html: Markup
    toc: list[dict[str, Any]]
    unmeasured: tuple[VariableRef, ...] = ()  # no value, and no `default:` text to say instead


def render_body(
    page: Page, values: Callable[[str], Any], figures: list[Markup], unsafe_html: bool = False
) -> RenderedBody:
    """Fill the variables, convert the Markdown, put the figures in place of their placeholders.
    A variable without a value reads its `default:` text, else "n/a" (and is `unmeasured`)."""
    found = [values(ref.name) for ref in page.variables]
    body = splice(page.body, [
        (ref.start, ref.end, html.escape(format_value(value, ref.fmt, ref.arg, ref.fallback)))
        for ref, value in zip(page.variables, found, strict=True)
    ])
    unmeasured = tuple(
        ref for ref, value in zip(page.variables, found, strict=True)
        if value is None and ref.fallback is None
    )
    for i in range(len(figures)):  # a placeholder stands alone as a paragraph
        body = body.replace(FIGURE_TOKEN.format(i), f"\n\n{FIGURE_TOKEN.format(i)}\n\n", 1)
    md = markdown_converter(unsafe_html, page.references, figure_ids=page.figure_ids)
    try:
        out = md.convert(body)
    except RecursionError:  # nesting the line check cannot see (raw HTML blocks in each other)
        raise FeatvisError(
            f"{page.source}:{page.body_line}: nested too deeply for Markdown (lists, quotes and "
            f"HTML blocks: at most {MAX_NESTING} levels)"
        ) from None
    for i, fig in enumerate(figures):
        token = FIGURE_TOKEN.format(i)
        out = out.replace(f"<p>{token}</p>", str(fig))
    return RenderedBody(Markup(out), list(getattr(md, "toc_tokens", [])), unmeasured)
